"""The MCP server: Tickler's front door for AI agents (all MCP code lives in this module).

Tools call the service layer, exactly like the HTTP routes. The caller is always the user of
the bearer token (HTTP) or of TICKLER_TOKEN (stdio), never a tool argument; another user's
ids answer "not found". Tool arguments are strict: unknown ones are refused, not ignored.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import date as date_type
from datetime import datetime, timedelta
from enum import StrEnum
from functools import wraps
from typing import Annotated, Any, Literal, ParamSpec

from mcp.server.auth.middleware.auth_context import auth_context_var, get_access_token
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.server.mcpserver.tools import Tool
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from api import problems, protected_resource
from api.auth import WRITE, AuthError, Caller, Verifier, bearer_token
from api.rate_limit import RateLimit, RateLimited
from api.settings import Settings
from domain.clock import Clock
from domain.errors import (
    Conflict,
    DependencyUnavailable,
    DomainError,
    NotFound,
    ValidationFailed,
    VersionMismatch,
)
from domain.reminders import MAX_REMINDERS_PER_TASK
from domain.tasks import DESCRIPTION_MAX, TAG_MAX, TAGS_MAX, TITLE_MAX
from service import reminders as reminder_svc
from service import series_control as series_svc
from service import tags as tag_svc
from service import tasks as task_svc
from service.completion import Completions, Pending
from service.recurrence import preview_recurrence as preview_rule
from service.schemas import (
    BRIEF_FIELDS,
    DUE_DESCRIPTION,
    Completion,
    DeleteScope,
    Deletion,
    DueIn,
    Priority,
    RecurrenceIn,
    RecurrencePreview,
    ReminderExplanationOut,
    ReminderIn,
    ReminderOut,
    SeriesView,
    Status,
    TagCount,
    TagDeletion,
    TagRenaming,
    TaskBrief,
    TaskCreate,
    TaskPage,
    TaskPublic,
    TaskQuery,
    TaskSort,
    TaskUpdate,
    UpcomingReminders,
)
from service.series_control import SeriesControl
from service.task_views import zone
from store.uow import UnitOfWorkFactory
from telemetry.metrics import MCP_TOOL_CALLS

INSTRUCTIONS = """\
Tickler keeps the user's tasks, recurring series and reminders.
- Times: RFC 3339. A time without an offset is wall-clock time in the task's `timezone`.
- Recurrence: check a rule with preview_recurrence first (it takes plain phrases such as
  "every weekday at 9am" and returns the RRULE to pass to add_task or update_task).
- Mutating tools take `idempotency_key`: reuse the key when you retry, and the first result
  comes back with nothing changed twice.
- delete_task, rename_tag and delete_tag take `dry_run`: look before you delete.
- update_task changes only the fields you pass; recurrence and reminders are kept unless you
  pass them (or name them in `clear`)."""

# -- caller identity ---------------------------------------------------------------------------


def _principal(caller: Caller, token: str) -> AuthenticatedUser:
    # subject is the user: the SDK binds an HTTP session to (client_id, issuer, subject)
    return AuthenticatedUser(
        AccessToken(
            token=token,
            client_id=caller.user_id,
            subject=caller.user_id,
            scopes=sorted(caller.scopes),
        )
    )


def _may_write() -> bool:
    token = get_access_token()
    return token is not None and WRITE in token.scopes


@contextmanager
def authenticated_as(caller: Caller, token: str) -> Iterator[None]:
    """Run the MCP server (stdio) as `caller`: tasks started inside inherit the caller."""
    reset = auth_context_var.set(_principal(caller, token))
    try:
        yield
    finally:
        auth_context_var.reset(reset)


def _caller() -> str:
    token = get_access_token()
    if token is None or not token.subject:
        raise ToolError("not authenticated: send 'Authorization: Bearer <token>'")
    return token.subject


class BearerAuth:
    """The /v1 bearer JWT for /mcp: 401 problem+json with WWW-Authenticate when it is missing
    or bad; otherwise the user rides the request scope and the SDK's auth context variable,
    which the SDK carries into the task that runs the tool."""

    def __init__(
        self, app: ASGIApp, settings: Settings, verifier: Verifier, rate_limit: RateLimit
    ) -> None:
        self.app, self.settings = app, settings
        self.verifier, self.rate_limit = verifier, rate_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        try:
            token = bearer_token(Headers(scope=scope).get("authorization"))
            caller = await self.verifier.caller(token)
            await self.rate_limit.take(caller.user_id)
        except AuthError as exc:
            challenge = protected_resource.challenge(self.settings, scope, protected_resource.MCP)
            response = problems.problem(
                401,
                "Unauthorized",
                str(exc),
                headers={"WWW-Authenticate": challenge},
                instance=scope["path"],
            )
            return await response(scope, receive, send)
        except (RateLimited, DependencyUnavailable) as exc:
            status, title = (
                (429, "Too many requests")
                if isinstance(exc, RateLimited)
                else (503, DependencyUnavailable.title)
            )
            response = problems.problem(
                status,
                title,
                str(exc),
                headers={"Retry-After": str(exc.retry_after_s)},
                instance=scope["path"],
            )
            return await response(scope, receive, send)
        user = _principal(caller, token)
        scope["user"] = user
        reset = auth_context_var.set(user)
        try:
            await self.app(scope, receive, send)
        finally:
            auth_context_var.reset(reset)


# -- errors ------------------------------------------------------------------------------------

P = ParamSpec("P")


def _agent_errors(fn: Callable[P, Awaitable[CallToolResult]]) -> Callable[P, Awaitable[Any]]:
    """Domain and validation errors become tool errors the agent can act on; anything else is
    left to the SDK, which answers with the tool name only (no trace leaves the server)."""

    @wraps(fn)
    async def run(*args: P.args, **kwargs: P.kwargs) -> CallToolResult:
        try:
            return await fn(*args, **kwargs)
        except ValidationFailed as exc:
            details = "; ".join(f"{e.field}: {e.message}" for e in exc.errors)
            raise ToolError(f"invalid input: {details}") from None
        except ValidationError as exc:
            raise ToolError(f"invalid input: {_validation_details(exc)}") from None
        except NotFound as exc:
            raise ToolError(
                f"not found: {exc}. Ids belong to one user; find tasks with list_tasks or "
                "search_tasks, reminders with list_upcoming_reminders, tags with list_tags"
            ) from None
        except VersionMismatch as exc:
            raise ToolError(
                f"version conflict: {exc}. Call get_task for the current version, then retry"
            ) from None
        except Conflict as exc:
            raise ToolError(f"conflict: {exc}") from None
        except DomainError as exc:
            raise ToolError(str(exc)) from None

    return run


def _validation_details(exc: ValidationError, allowed: list[str] | None = None) -> str:
    parts = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"] if "[" not in str(p)) or "arguments"
        if err["type"] == "extra_forbidden":
            known = f"; allowed: {', '.join(allowed)}" if allowed and len(err["loc"]) == 1 else ""
            parts.append(f"{field}: unknown argument{known}")
        else:
            parts.append(f"{field}: {err['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


class _StrictServer(MCPServer):
    """Rewrites the SDK's argument-validation failure (a pydantic dump with URLs) into one
    line per field that names what is allowed."""

    def __init__(self, tools: list[Tool], **kwargs: Any) -> None:
        super().__init__(tools=tools, **kwargs)
        self._arguments = {t.name: list(t.parameters.get("properties", {})) for t in tools}
        self._reads = {t.name for t in tools if t.annotations and t.annotations.read_only_hint}

    async def list_tools(self) -> list[Any]:
        """A read-only token (no tasks:write) is shown only the tools that read: an agent
        is not offered what it may not do, nor pays for the schemas in its context."""
        tools = await super().list_tools()
        if _may_write():
            return tools
        return [t for t in tools if t.name in self._reads]

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        tool, outcome = (name if name in self._arguments else "unknown"), "unexpected"
        if name in self._arguments and name not in self._reads and not _may_write():
            MCP_TOOL_CALLS.labels(tool, "error").inc()
            raise ToolError(f"{name} changes tasks: this token lacks the {WRITE} scope")
        try:
            result = await super().call_tool(name, arguments, context)
            outcome = "ok"
            return result
        except ToolError as exc:
            cause = exc.__cause__
            if isinstance(exc, UnexpectedToolError) or not isinstance(cause, ValidationError):
                outcome = "unexpected" if isinstance(exc, UnexpectedToolError) else "error"
                raise
            outcome = "error"
            details = _validation_details(cause, self._arguments.get(name))
            raise ToolError(f"invalid arguments for {name}: {details}") from cause
        finally:
            MCP_TOOL_CALLS.labels(tool, outcome).inc()


def _tuned(tool: Tool) -> Tool:
    """Refuse unknown arguments (the SDK's argument model ignores them by default, which would
    turn a misspelt `recurrance` into a silent no-op) and publish flat schemas."""

    class StrictArguments(tool.fn_metadata.arg_model):  # type: ignore[name-defined,misc]
        model_config = ConfigDict(extra="forbid", title=tool.fn_metadata.arg_model.__name__)

    tool.fn_metadata.arg_model = StrictArguments
    tool.parameters = _lean(_flat(StrictArguments.model_json_schema(by_alias=True)), INPUT_NOISE)
    output = tool.fn_metadata.output_schema
    assert output is not None, f"{tool.name} must declare its result model"
    tool.fn_metadata.output_schema = _lean(_flat(output), OUTPUT_NOISE)
    # results are built from validated models already; validating them again on the way out
    # would only cost time on every call
    tool.fn_metadata.output_model = None
    return tool


# Every tools/list goes into the agent's context: schema keywords that tell it nothing are
# left out. Titles only repeat the property name; an output schema's descriptions, examples
# and defaults repeat what the input side already said, once per tool that returns a task.
INPUT_NOISE = frozenset({"title"})
OUTPUT_NOISE = frozenset({"title", "description", "examples", "default"})


def _lean(node: Any, noise: frozenset[str]) -> Any:
    """`node` without the `noise` keywords (a property that is named like one stays)."""
    if isinstance(node, list):
        return [_lean(x, noise) for x in node]
    if not isinstance(node, dict):
        return node
    return {
        key: (
            {name: _lean(sub, noise) for name, sub in value.items()}
            if key == "properties"
            else _lean(value, noise)
        )
        for key, value in node.items()
        if key not in noise
    }


def _flat(schema: dict[str, Any]) -> dict[str, Any]:
    """The same schema without $ref/$defs and with `type: [T, "null"]` for optional values.
    Some agent clients cannot follow $ref, and clients that validate every result (the
    official SDK does, with jsonschema) do so several times faster on the flat form."""
    defs = schema.get("$defs", {})

    def walk(node: Any, seen: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [walk(x, seen) for x in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            name = node["$ref"].removeprefix("#/$defs/")
            if name in seen:
                raise ValueError(f"recursive model {name} cannot be flattened")
            target = walk(defs[name], (*seen, name))
            return {**target, **{k: walk(v, seen) for k, v in node.items() if k != "$ref"}}
        out = {k: walk(v, seen) for k, v in node.items() if k != "$defs"}
        return _nullable(out)

    return walk(schema, ())


def _nullable(node: dict[str, Any]) -> dict[str, Any]:
    alternatives = node.get("anyOf")
    if not alternatives or len(alternatives) != 2 or {"type": "null"} not in alternatives:
        return node
    other = next(a for a in alternatives if a != {"type": "null"})
    if not isinstance(other.get("type"), str):
        return node
    merged = {**other, "type": [other["type"], "null"]}
    if "enum" in merged:
        merged["enum"] = [*merged["enum"], None]
    return {**merged, **{k: v for k, v in node.items() if k != "anyOf"}}


# -- results -----------------------------------------------------------------------------------


class TaskList(BaseModel):
    items: list[TaskBrief]
    next_cursor: str | None = Field(description="pass back as `cursor` for the next page")


def _page_result(page: TaskPage, detail: str, summary: str) -> CallToolResult:
    """A page of tasks, each brief (BRIEF_FIELDS) unless `detail` is full."""
    fields = None if detail == "full" else BRIEF_FIELDS
    items = [t.model_dump(mode="json", include=fields) for t in page.items]
    return CallToolResult(
        content=[TextContent(type="text", text=summary)],
        structured_content={"items": items, "next_cursor": page.next_cursor},
    )


class TagList(BaseModel):
    items: list[TagCount]


def _series_summary(seen: SeriesView) -> str:
    upcoming = ", ".join(_when(d) for d in seen.next_dates[:3]) or "none"
    return f"{seen.summary}: {seen.state}; next {upcoming}"


def _result(model: BaseModel, summary: str) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text=summary)],
        structured_content=model.model_dump(mode="json"),
    )


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M %Z").strip() if value else "no due time"


def _line(task: TaskPublic) -> str:
    repeat = f", {task.recurrence.summary.lower()}" if task.recurrence else ""
    return f"'{task.title}' [{task.status}] due {_when(task.due_at)}{repeat} (id {task.id})"


def _page_summary(page: TaskPage, what: str = "tasks") -> str:
    if not page.items:
        return f"no {what}"
    shown = page.items[:10]
    more = " (more: pass next_cursor)" if page.next_cursor else ""
    lines = [f"{len(page.items)} {what}{more}"]
    lines += [f"- {_line(t)}" for t in shown]
    if len(page.items) > len(shown):
        lines.append(f"... and {len(page.items) - len(shown)} more in the structured result")
    return "\n".join(lines)


def _completion_summary(done: Completion, verb: str) -> str:
    text = f"{verb} {_line(done.task)}"
    if done.next:
        return f"{text}\nnext occurrence: {_line(done.next)}"
    return f"{text}\nno next occurrence" + (" (series ended)" if done.task.recurrence else "")


# -- parameter types -----------------------------------------------------------------------------

TaskId = Annotated[
    uuid.UUID,
    Field(
        description="the task's id, from add_task, list_tasks or search_tasks",
        examples=["0b5e6f1c-3a0e-4a44-9c1e-5f0b8f2d7a11"],
    ),
]
ReminderId = Annotated[
    uuid.UUID,
    Field(
        description="the reminder's id, from get_task or list_upcoming_reminders",
        examples=["6f1c3a0e-0b5e-4a44-9c1e-5f0b8f2d7a11"],
    ),
]
SeriesId = Annotated[
    uuid.UUID, Field(description="a recurring task's series_id (get_task, list_tasks)")
]
IdempotencyKey = Annotated[
    str | None,
    Field(
        min_length=1,
        max_length=200,
        description="any unique string; a retry with the same key returns the first result "
        "and changes nothing again",
        examples=["7d1f3c2e-retry-safe"],
    ),
]
DryRun = Annotated[bool, Field(description="true: report what would change, change nothing")]
Detail = Annotated[
    Literal["brief", "full"],
    Field(description="brief: id, title, status, due_at, timezone, priority, tags, series_id"),
]
Due = Annotated[
    DueIn | None,
    Field(
        union_mode="left_to_right",
        description=DUE_DESCRIPTION,
        examples=["2027-01-08T09:00:00", "tomorrow 5pm"],
    ),
]
Zone = Annotated[
    str,
    Field(min_length=1, max_length=64, description="IANA time zone", examples=["Europe/London"]),
]
Tags = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=TAG_MAX)]],
    Field(max_length=TAGS_MAX, description="tag names (case-insensitive)", examples=[["work"]]),
]
Recurrence = Annotated[
    RecurrenceIn | None,
    Field(
        description="repeat the task; get the rrule from preview_recurrence",
        examples=[{"rrule": "FREQ=WEEKLY;BYDAY=MO,TH", "mode": "schedule"}],
    ),
]
Reminders = Annotated[
    list[ReminderIn],
    Field(
        max_length=MAX_REMINDERS_PER_TASK,
        description="each {before_minutes} (before the due time) or {at} (absolute time)",
        examples=[[{"before_minutes": 30}, {"at": "2027-01-08T08:00:00"}]],
    ),
]
Limit = Annotated[int, Field(ge=1, le=200, description="page size")]
Cursor = Annotated[
    str | None,
    Field(max_length=1000, description="next_cursor from the previous page, unchanged"),
]


class ClearableField(StrEnum):
    DUE_AT = "due_at"
    RECURRENCE = "recurrence"


READ = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)


def _writes(*, destructive: bool, idempotent: bool) -> ToolAnnotations:
    return ToolAnnotations(
        read_only_hint=False,
        destructive_hint=destructive,
        idempotent_hint=idempotent,
        open_world_hint=False,
    )


# -- the tools -----------------------------------------------------------------------------------


def build_server(
    units: UnitOfWorkFactory,
    clock: Clock,
    completions: Callable[[], Completions],
    series_control: Callable[[], SeriesControl],
) -> MCPServer:
    """The MCP server over the service layer; `units` makes one unit of work per call,
    `completions` is the same completion path the HTTP API uses (the saga under Dapr), and
    `series_control` the same series control (the series' actor under Dapr)."""

    async def finish(task_id: uuid.UUID, status: Status, key: str | None) -> Completion:
        done = await completions().finish(_caller(), task_id, status, key)
        if isinstance(done, Pending):
            raise ToolError(
                f"still {status.value} in the background (operation {done.operation_id}); "
                "call again with the same idempotency_key to get the result"
            )
        return done

    @_agent_errors
    async def add_task(
        title: Annotated[
            str,
            Field(min_length=1, max_length=TITLE_MAX, examples=["Pay rent"], description="title"),
        ],
        description: Annotated[
            str, Field(max_length=DESCRIPTION_MAX, description="free text details")
        ] = "",
        priority: Annotated[Priority, Field(description="low, medium, high or urgent")] = (
            Priority.MEDIUM
        ),
        tags: Tags = [],  # noqa: B006 (pydantic copies mutable defaults)
        due_at: Due = None,
        timezone: Zone = "UTC",
        recurrence: Recurrence = None,
        reminders: Reminders = [],  # noqa: B006
        idempotency_key: IdempotencyKey = None,
    ) -> Annotated[CallToolResult, TaskPublic]:
        """Create a task, optionally recurring (recurrence.rrule) and with reminders.

        Returns the task with its id. Use preview_recurrence to build and check a rule first."""
        cmd = TaskCreate(
            title=title,
            description=description,
            priority=priority,
            tags=tags,
            due_at=due_at,
            timezone=timezone,
            recurrence=recurrence,
            reminders=reminders,
        )
        task = await task_svc.create_task(units(), _caller(), cmd, idempotency_key)
        return _result(task, f"created {_line(task)}")

    @_agent_errors
    async def get_task(task_id: TaskId) -> Annotated[CallToolResult, TaskPublic]:
        """One task with its recurrence, reminders (ids, fire times, states) and version."""
        task = await task_svc.get_task(units(), _caller(), task_id)
        return _result(task, _line(task))

    @_agent_errors
    async def list_tasks(
        status: Annotated[Status | None, Field(description="open, completed or skipped")] = None,
        priority: Annotated[
            list[Priority], Field(description="any of these priorities", examples=[["high"]])
        ] = [],  # noqa: B006
        tag: Annotated[
            list[str],
            Field(max_length=TAGS_MAX, description="tasks carrying all of these tags"),
        ] = [],  # noqa: B006
        due_before: Annotated[datetime | None, Field(description="due strictly before")] = None,
        due_after: Annotated[datetime | None, Field(description="due at or after")] = None,
        overdue: Annotated[bool | None, Field(description="open and past due")] = None,
        recurring: Annotated[bool | None, Field(description="part of a series")] = None,
        q: Annotated[
            str | None,
            Field(min_length=1, max_length=200, description="full-text search (web syntax)"),
        ] = None,
        sort: Annotated[
            TaskSort | None,
            Field(description="'-' means descending; default due_at, or relevance with q"),
        ] = None,
        limit: Limit = 50,
        cursor: Cursor = None,
        detail: Detail = "brief",
    ) -> Annotated[CallToolResult, TaskList]:
        """List the user's tasks with every filter, sort and page of GET /v1/tasks."""
        query = TaskQuery(
            status=status,
            priority=priority,
            tag=tag,
            due_before=due_before,
            due_after=due_after,
            overdue=overdue,
            recurring=recurring,
            q=q,
            sort=sort,
            limit=limit,
            cursor=cursor,
        )
        page = await task_svc.list_tasks(units(), _caller(), query)
        return _page_result(page, detail, _page_summary(page))

    @_agent_errors
    async def search_tasks(
        query: Annotated[
            str,
            Field(
                min_length=1,
                max_length=200,
                description='words to find in titles and descriptions; "quotes", -not, or',
                examples=["dentist", '"annual review" -draft'],
            ),
        ],
        status: Annotated[Status | None, Field(description="open, completed or skipped")] = None,
        limit: Limit = 20,
        cursor: Cursor = None,
        detail: Detail = "brief",
    ) -> Annotated[CallToolResult, TaskList]:
        """Full-text search over titles and descriptions, best match first."""
        q = TaskQuery(q=query, status=status, sort=TaskSort.RELEVANCE, limit=limit, cursor=cursor)
        page = await task_svc.list_tasks(units(), _caller(), q)
        return _page_result(page, detail, _page_summary(page, "matches"))

    @_agent_errors
    async def update_task(
        task_id: TaskId,
        title: Annotated[
            str | None, Field(min_length=1, max_length=TITLE_MAX, description="new title")
        ] = None,
        description: Annotated[
            str | None, Field(max_length=DESCRIPTION_MAX, description='new text; "" empties it')
        ] = None,
        priority: Annotated[Priority | None, Field(description="low, medium, high or urgent")] = (
            None
        ),
        tags: Annotated[
            list[Annotated[str, Field(min_length=1, max_length=TAG_MAX)]] | None,
            Field(max_length=TAGS_MAX, description="replaces all tags; [] removes them"),
        ] = None,
        due_at: Due = None,
        timezone: Annotated[
            str | None,
            Field(
                min_length=1,
                max_length=64,
                description="IANA zone; the wall-clock due time stays, the instant moves",
            ),
        ] = None,
        recurrence: Annotated[
            RecurrenceIn | None,
            Field(description="a new rule; starts a new series anchored at this task"),
        ] = None,
        reminders: Annotated[
            list[ReminderIn] | None,
            Field(max_length=MAX_REMINDERS_PER_TASK, description="replaces all; [] removes them"),
        ] = None,
        clear: Annotated[
            list[ClearableField],
            Field(description="fields to clear: due_at, recurrence (makes it a one-off)"),
        ] = [],  # noqa: B006
        expected_version: Annotated[
            int | None,
            Field(ge=1, description="refuse the change unless the task is at this version"),
        ] = None,
        idempotency_key: IdempotencyKey = None,
    ) -> Annotated[CallToolResult, TaskPublic]:
        """Change some fields of a task. Every field you omit is kept as it is, recurrence and
        reminders included; to remove a due time or a recurrence, name it in `clear`."""
        given = {
            "title": title,
            "description": description,
            "priority": priority,
            "tags": tags,
            "due_at": due_at,
            "timezone": timezone,
            "recurrence": recurrence,
            "reminders": reminders,
        }
        changes: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
        for name in clear:
            if name.value in changes:
                raise ValidationFailed.field("clear", f"{name.value} is both set and cleared")
            changes[name.value] = None
        if not changes:
            raise ValidationFailed.field(
                "arguments", "nothing to change: pass at least one field or `clear`"
            )
        patch = TaskUpdate(**changes)
        task = await task_svc.update_task(
            units(), _caller(), task_id, patch, expected_version, idempotency_key
        )
        return _result(task, f"updated {_line(task)} (version {task.version})")

    @_agent_errors
    async def complete_task(
        task_id: TaskId, idempotency_key: IdempotencyKey = None
    ) -> Annotated[CallToolResult, Completion]:
        """Mark a task done. For a recurring task the next occurrence is created and returned
        as `next`. Completing it again returns the same result."""
        done = await finish(task_id, Status.COMPLETED, idempotency_key)
        return _result(done, _completion_summary(done, "completed"))

    @_agent_errors
    async def skip_occurrence(
        task_id: TaskId, idempotency_key: IdempotencyKey = None
    ) -> Annotated[CallToolResult, Completion]:
        """Skip this occurrence of a task (marked `skipped`, not done); a recurring task moves
        on to its next occurrence, returned as `next`."""
        done = await finish(task_id, Status.SKIPPED, idempotency_key)
        return _result(done, _completion_summary(done, "skipped"))

    @_agent_errors
    async def describe_series(series_id: SeriesId) -> Annotated[CallToolResult, SeriesView]:
        """A recurring series: rule and summary, state, open occurrence, next dates."""
        seen = await series_svc.describe(units(), series_control(), _caller(), series_id)
        return _result(seen, _series_summary(seen))

    @_agent_errors
    async def control_series(
        series_id: SeriesId,
        action: Annotated[
            series_svc.Action,
            Field(description="pause (nothing spawns, reminders wait), resume, or end for good"),
        ],
    ) -> Annotated[CallToolResult, SeriesView]:
        """Pause, resume or end a recurring series."""
        seen = await series_svc.change(units(), series_control(), _caller(), series_id, action)
        return _result(seen, _series_summary(seen))

    @_agent_errors
    async def skip_series_date(
        series_id: SeriesId,
        date: Annotated[
            date_type, Field(description="a future local date of the series to leave out")
        ],
    ) -> Annotated[CallToolResult, SeriesView]:
        """Skip a chosen future date of a series (an EXDATE); the other dates stay."""
        seen = await series_svc.skip_date(units(), series_control(), _caller(), series_id, date)
        return _result(seen, f"skipped {date}. " + _series_summary(seen))

    @_agent_errors
    async def delete_task(
        task_id: TaskId,
        scope: Annotated[
            DeleteScope,
            Field(
                description="occurrence: this task only (a series moves on); series: every "
                "occurrence of its series"
            ),
        ] = DeleteScope.OCCURRENCE,
        dry_run: DryRun = False,
        idempotency_key: IdempotencyKey = None,
    ) -> Annotated[CallToolResult, Deletion]:
        """Delete a task, or its whole series. Cannot be undone: try dry_run first."""
        gone = await task_svc.delete_task(
            units(),
            _caller(),
            task_id,
            scope,
            dry_run=dry_run,
            idempotency_key=idempotency_key,
        )
        verb = "would delete" if gone.dry_run else "deleted"
        return _result(gone, f"{verb} {len(gone.deleted)} task(s) (scope {gone.scope})")

    @_agent_errors
    async def preview_recurrence(
        rule: Annotated[
            str,
            Field(
                min_length=1,
                max_length=1000,
                description="an RRULE value, or a plain phrase",
                examples=[
                    "every weekday at 9am",
                    "last Friday of each month",
                    "every 2 weeks on Mon and Thu until June",
                    "FREQ=MONTHLY;BYMONTHDAY=31",
                ],
            ),
        ],
        timezone: Zone = "UTC",
        start: Annotated[
            datetime | None,
            Field(
                description="first occurrence (DTSTART); default: the first match from today",
                examples=["2027-01-04T09:00:00"],
            ),
        ] = None,
        count: Annotated[int, Field(ge=1, le=100, description="how many dates")] = 10,
    ) -> Annotated[CallToolResult, RecurrencePreview]:
        """Check a recurrence rule without creating anything: the normalised RRULE, a plain
        summary, the next dates, and warnings (DST gaps, a 31st that skips months, an UNTIL
        before the start). Use the returned rrule in add_task or update_task."""
        today = clock.now().astimezone(zone(timezone)).date()
        shown = preview_rule(rule, start, timezone, count, today)
        lines = [f"{shown.rrule}: {shown.summary}"]
        lines += [f"- {d:%a %Y-%m-%d %H:%M %Z}" for d in shown.occurrences[:5]]
        lines += [f"warning: {w}" for w in shown.warnings]
        return _result(shown, "\n".join(lines))

    @_agent_errors
    async def set_reminders(
        task_id: TaskId,
        reminders: Annotated[
            list[ReminderIn],
            Field(
                max_length=MAX_REMINDERS_PER_TASK,
                description="replaces the task's reminders; [] removes them all",
                examples=[[{"before_minutes": 15}]],
            ),
        ],
        idempotency_key: IdempotencyKey = None,
    ) -> Annotated[CallToolResult, TaskPublic]:
        """Replace a task's reminders: each fires `before_minutes` before the due time, or
        `at` a fixed time."""
        task = await reminder_svc.set_reminders(
            units(), _caller(), task_id, reminders, idempotency_key
        )
        fires = ", ".join(_when(r.fire_at) for r in task.reminders) or "none"
        return _result(task, f"reminders of '{task.title}': {fires}")

    @_agent_errors
    async def snooze_reminder(
        reminder_id: ReminderId,
        minutes: Annotated[
            int | None, Field(ge=1, le=525_600, description="fire again this many minutes from now")
        ] = None,
        until: Annotated[
            datetime | None,
            Field(description="or fire again at this time (wall clock in the task's zone)"),
        ] = None,
        idempotency_key: IdempotencyKey = None,
    ) -> Annotated[CallToolResult, ReminderOut]:
        """Push a reminder later. Give exactly one of `minutes` or `until`."""
        out = await reminder_svc.snooze_reminder(
            units(),
            _caller(),
            reminder_id,
            minutes=minutes,
            until=until,
            idempotency_key=idempotency_key,
        )
        return _result(out, f"reminder {out.id} now fires at {_when(out.fire_at)}")

    @_agent_errors
    async def list_upcoming_reminders(
        within_hours: Annotated[
            int | None, Field(ge=1, le=24 * 366, description="only those firing this soon")
        ] = None,
        limit: Limit = 50,
    ) -> Annotated[CallToolResult, UpcomingReminders]:
        """Pending reminders of open tasks, soonest first."""
        within = timedelta(hours=within_hours) if within_hours else None
        items = await reminder_svc.list_upcoming_reminders(
            units(), _caller(), within=within, limit=limit
        )
        lines = [f"{len(items)} upcoming reminder(s)"]
        lines += [f"- {_when(i.reminder.fire_at)}: '{i.task_title}'" for i in items[:10]]
        return _result(UpcomingReminders(items=items), "\n".join(lines))

    @_agent_errors
    async def explain_reminder(
        reminder_id: ReminderId,
    ) -> Annotated[CallToolResult, ReminderExplanationOut]:
        """Why a reminder fires when it does: anchor, offset, zone, UTC and local fire time,
        state."""
        e = await reminder_svc.explain_reminder(units(), _caller(), reminder_id)
        return _result(e, e.why)

    @_agent_errors
    async def get_overdue_tasks(
        limit: Limit = 50, cursor: Cursor = None, detail: Detail = "brief"
    ) -> Annotated[CallToolResult, TaskList]:
        """Open tasks whose due time has passed, oldest first."""
        query = TaskQuery(
            status=Status.OPEN, overdue=True, sort=TaskSort.DUE_AT, limit=limit, cursor=cursor
        )
        page = await task_svc.list_tasks(units(), _caller(), query)
        return _page_result(page, detail, _page_summary(page, "overdue tasks"))

    @_agent_errors
    async def get_upcoming_tasks(
        days: Annotated[int, Field(ge=1, le=366, description="look this many days ahead")] = 7,
        limit: Limit = 50,
        cursor: Cursor = None,
        detail: Detail = "brief",
    ) -> Annotated[CallToolResult, TaskList]:
        """Open tasks due from now to `days` days ahead, soonest first."""
        now = clock.now()
        query = TaskQuery(
            status=Status.OPEN,
            due_after=now,
            due_before=now + timedelta(days=days),
            sort=TaskSort.DUE_AT,
            limit=limit,
            cursor=cursor,
        )
        page = await task_svc.list_tasks(units(), _caller(), query)
        return _page_result(page, detail, _page_summary(page, f"tasks due in the next {days} days"))

    @_agent_errors
    async def list_tags() -> Annotated[CallToolResult, TagList]:
        """Every tag of the user with how many tasks carry it."""
        tags = await tag_svc.list_tags(units(), _caller())
        text = ", ".join(f"{t.name} ({t.count})" for t in tags) or "no tags"
        return _result(TagList(items=tags), text)

    @_agent_errors
    async def rename_tag(
        name: Annotated[str, Field(min_length=1, max_length=TAG_MAX, examples=["wrk"])],
        new_name: Annotated[str, Field(min_length=1, max_length=TAG_MAX, examples=["work"])],
        dry_run: DryRun = False,
        idempotency_key: IdempotencyKey = None,
    ) -> Annotated[CallToolResult, TagRenaming]:
        """Rename a tag on every task. If `new_name` exists already the two tags are merged,
        which cannot be undone: try dry_run first."""
        out = await tag_svc.rename_tag(
            units(),
            _caller(),
            name,
            new_name,
            dry_run=dry_run,
            idempotency_key=idempotency_key,
        )
        verb = "would rename" if out.dry_run else "renamed"
        merge = " (merged into the existing tag)" if out.merged else ""
        return _result(out, f"{verb} '{name}' to '{out.name}' on {out.count} task(s){merge}")

    @_agent_errors
    async def delete_tag(
        name: Annotated[str, Field(min_length=1, max_length=TAG_MAX, examples=["old"])],
        dry_run: DryRun = False,
        idempotency_key: IdempotencyKey = None,
    ) -> Annotated[CallToolResult, TagDeletion]:
        """Delete a tag and remove it from every task (the tasks stay). Try dry_run first."""
        out = await tag_svc.delete_tag(
            units(), _caller(), name, dry_run=dry_run, idempotency_key=idempotency_key
        )
        verb = "would remove" if out.dry_run else "removed"
        return _result(out, f"{verb} tag '{out.name}' from {len(out.untagged_task_ids)} task(s)")

    writes = _writes
    table: list[tuple[Callable[..., Any], str, ToolAnnotations]] = [
        (add_task, "Add a task", writes(destructive=False, idempotent=False)),
        (get_task, "Get a task", READ),
        (list_tasks, "List tasks", READ),
        (search_tasks, "Search tasks", READ),
        (update_task, "Update a task", writes(destructive=True, idempotent=False)),
        (complete_task, "Complete a task", writes(destructive=False, idempotent=True)),
        (skip_occurrence, "Skip an occurrence", writes(destructive=False, idempotent=True)),
        (delete_task, "Delete a task", writes(destructive=True, idempotent=True)),
        (describe_series, "Describe a series", READ),
        (control_series, "Control a series", writes(destructive=True, idempotent=True)),
        (skip_series_date, "Skip a series date", writes(destructive=False, idempotent=True)),
        (preview_recurrence, "Preview a recurrence rule", READ),
        (set_reminders, "Set reminders", writes(destructive=True, idempotent=False)),
        (snooze_reminder, "Snooze a reminder", writes(destructive=False, idempotent=False)),
        (list_upcoming_reminders, "List upcoming reminders", READ),
        (explain_reminder, "Explain a reminder", READ),
        (get_overdue_tasks, "Overdue tasks", READ),
        (get_upcoming_tasks, "Upcoming tasks", READ),
        (list_tags, "List tags", READ),
        (rename_tag, "Rename a tag", writes(destructive=True, idempotent=True)),
        (delete_tag, "Delete a tag", writes(destructive=True, idempotent=True)),
    ]
    tools = [
        _tuned(Tool.from_function(fn, title=title, annotations=notes, structured_output=True))
        for fn, title, notes in table
    ]
    return _StrictServer(
        tools,
        name="tickler",
        title="Tickler",
        version="1.0.0",
        instructions=INSTRUCTIONS,
        log_level="WARNING",
    )


# -- transports ----------------------------------------------------------------------------------


class McpEndpoint:
    """Streamable HTTP at /mcp: stateless JSON responses, so any replica can answer any call
    and no session state needs sharing. Enter `sessions.run()` in the app's lifespan."""

    def __init__(
        self,
        settings: Settings,
        verifier: Verifier,
        rate_limit: RateLimit,
        units: UnitOfWorkFactory,
        clock: Clock,
        completions: Callable[[], Completions],
        series_control: Callable[[], SeriesControl],
    ) -> None:
        self.server = build_server(units, clock, completions, series_control)
        self.server.streamable_http_app(
            stateless_http=True,
            json_response=True,
            # DNS-rebinding checks guard cookie-authenticated local servers; every request here
            # carries a bearer token a rebinding page cannot read, and Host varies by deployment
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        self.sessions: StreamableHTTPSessionManager = self.server.session_manager
        self.asgi: ASGIApp = BearerAuth(
            self.sessions.handle_request, settings, verifier, rate_limit
        )
