"""The operators' dashboard: server-rendered pages under /ops over the same use cases as the
JSON API under /v1/ops (service.saga_runs, service.saga_actions). No build step, nothing
from a CDN: the templates, one stylesheet and one small script ship with the app.

A page needs a session (api/ops_pages/session.py): no session goes to the login page, a
token without the operator role gets 403. Every form that changes something carries the
session's CSRF token. Task titles show only on one saga's own page.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from sse_starlette import EventSourceResponse, ServerSentEvent

from api.ops_pages import session
from api.routes.ops_status import sidecar_reachable
from domain.errors import DependencyUnavailable, DomainError
from domain.saga_runs import SagaKind, SagaStatus
from service import (
    bulk_actions,
    dead_letters,
    ops_health,
    ops_schedules,
    saga_actions,
    saga_runs,
)
from service.bulk_actions import BulkConfirm, BulkRequest
from service.dead_letters import BulkSettle, DeadLetterQuery
from service.keyset import decode_cursor, encode_cursor
from service.saga_actions import ALLOWED, SagaAction
from service.saga_runs import SagaRunFilter, SagaRunQuery

HERE = Path(__file__).parent
STATIC = {"ops.css": "text/css", "ops.js": "text/javascript"}
FEED_POLL_S = 0.25  # how often the live feed looks for changed runs
SECURITY_HEADERS = {
    # everything a page loads is the app's own; no inline script, no framing
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

router = APIRouter(prefix="/ops", include_in_schema=False)
templates = Jinja2Templates(directory=HERE / "templates")


def _page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    response = templates.TemplateResponse(
        request,
        name,
        {"operator": None, "error": None, "notice": None, **context},
        status_code=status,
    )
    response.headers.update(SECURITY_HEADERS)
    return response


async def _signed_in(request: Request) -> tuple[str | None, Response | None]:
    """The operator's id, or the response a caller without a good session gets."""
    try:
        return (await session.session_operator(request)).user_id, None
    except session.NotLoggedIn:
        return None, RedirectResponse("/ops/login", status_code=303)
    except session.NotOperator:
        return None, _page(request, "forbidden.html", 403)


async def _form_sender(request: Request, csrf: str) -> tuple[str | None, Response | None]:
    """As _signed_in, for a form that changes something: it must carry the CSRF token."""
    operator, refused = await _signed_in(request)
    if refused is None and not session.csrf_ok(request, csrf):
        refused = _page(request, "forbidden.html", 403, error="The form's CSRF token is not valid.")
    return operator, refused


def _with_error(url: str, error: str) -> RedirectResponse:
    """Back to `url`, which shows `error`."""
    return RedirectResponse(url + "?" + urlencode({"error": error[:300]}), 303)


def _context(request: Request, operator: str) -> dict[str, Any]:
    return {"operator": operator, "csrf": session.csrf_token(request)}


async def _feed_url(request: Request) -> str:
    """The live feed from the newest change as of now: taken before the page reads its
    rows, so a change between the read and the feed's start is not missed."""
    _, mark = await saga_runs.changes(request.app.state.uow_factory(), None)
    if mark is None:
        return "/ops/sagas/events"
    return "/ops/sagas/events?" + urlencode({"since": encode_cursor(*mark)})


@router.get("/static/{name}")
async def static(name: str) -> Response:
    if name not in STATIC:
        return Response(status_code=404)
    return FileResponse(HERE / "static" / name, media_type=STATIC[name], headers=SECURITY_HEADERS)


@router.get("/login")
async def login_form(request: Request, token: str | None = None) -> Response:
    """The login form; `?token=` logs in at once (the link `tickler dev` prints)."""
    if token:
        return await _log_in(request, token)
    return _page(request, "login.html")


@router.post("/login")
async def login(request: Request, token: Annotated[str, Form(max_length=4000)]) -> Response:
    return await _log_in(request, token.strip())


async def _log_in(request: Request, token: str) -> Response:
    try:
        await session.operator_of(request, token)
    except session.NotLoggedIn:
        return _page(request, "login.html", 401, error="That token is not valid (or expired).")
    except session.NotOperator:
        return _page(request, "forbidden.html", 403)
    response = RedirectResponse("/ops/sagas", status_code=303)
    session.start(response, token, secure=request.url.scheme == "https")
    return response


@router.post("/logout")
async def logout(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
    if not session.csrf_ok(request, csrf):
        return _page(request, "forbidden.html", 403)
    response = RedirectResponse("/ops/login", status_code=303)
    session.end(response)
    return response


@router.get("")
async def home() -> Response:
    return RedirectResponse("/ops/sagas", status_code=303)


@router.get("/sagas")
async def sagas(request: Request) -> Response:
    operator, refused = await _signed_in(request)
    if refused is not None:
        return refused
    feed = await _feed_url(request)
    raw: dict[str, Any] = {k: v for k, v in request.query_params.items() if v and k != "status"}
    raw["status"] = [s for s in request.query_params.getlist("status") if s]
    try:
        query = SagaRunQuery.model_validate(raw)
    except ValidationError as exc:
        fields = ", ".join(str(e["loc"][-1]) for e in exc.errors())
        query, error = SagaRunQuery(), f"Ignored filters that are not valid: {fields}"
    else:
        error = None
    try:
        page = await saga_runs.list_runs(request.app.state.uow_factory(), query)
    except DomainError as exc:  # a cursor that does not decode
        query, error = SagaRunQuery(), str(exc)
        page = await saga_runs.list_runs(request.app.state.uow_factory(), query)
    filters = query.model_dump(mode="json", exclude_defaults=True, exclude={"cursor"})

    def link(**change: Any) -> str:
        merged = {**filters, **change}
        return "/ops/sagas?" + urlencode(
            [(k, x) for k, v in merged.items() for x in (v if isinstance(v, list) else [v])]
        )

    return _page(
        request,
        "sagas.html",
        query=query,
        page=page,
        statuses=list(SagaStatus),
        kinds=list(SagaKind),
        status_link=lambda s: link(status=[s]),
        next_link=link(cursor=page.next_cursor) if page.next_cursor else None,
        feed=feed,
        filter_json=SagaRunFilter.model_validate(
            query.model_dump(exclude={"limit", "cursor"})
        ).model_dump_json(exclude_defaults=True),
        bulk_actions=[a.value for a in bulk_actions.BULK],
        error=error,
        **_context(request, operator),
    )


def _bulk_form(action: str, reason: str, filter_json: str) -> BulkRequest:
    return BulkRequest(
        action=action,
        reason=reason.strip(),
        filter=SagaRunFilter.model_validate_json(filter_json or "{}"),
    )


@router.post("/bulk/dry-run")
async def bulk_dry_run(
    request: Request,
    action: Annotated[str, Form()],
    reason: Annotated[str, Form(max_length=500)] = "",
    filter: Annotated[str, Form(max_length=4000)] = "{}",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    operator, refused = await _form_sender(request, csrf)
    if refused is not None:
        return refused
    try:
        bulk = _bulk_form(action, reason, filter)
        dry = await bulk_actions.dry_run(request.app.state.uow_factory(), bulk)
    except (ValidationError, DomainError) as exc:
        return _with_error("/ops/sagas", str(exc))
    return _page(
        request,
        "bulk_dry_run.html",
        dry=dry,
        reason=bulk.reason,
        filter_json=bulk.filter.model_dump_json(exclude_defaults=True),
        key=str(uuid.uuid4()),  # one bulk action per confirmation form, however often sent
        **_context(request, operator),
    )


@router.post("/bulk")
async def bulk_confirm(
    request: Request,
    action: Annotated[str, Form()],
    count: Annotated[int, Form(ge=0)],
    key: Annotated[str, Form(min_length=1, max_length=200)],
    reason: Annotated[str, Form(max_length=500)] = "",
    filter: Annotated[str, Form(max_length=4000)] = "{}",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    operator, refused = await _form_sender(request, csrf)
    if refused is not None:
        return refused
    try:
        bulk = _bulk_form(action, reason, filter)
        confirmed = BulkConfirm(**bulk.model_dump(), count=count)
        made = await bulk_actions.confirm(request.app.state.uow_factory(), operator, key, confirmed)
    except (ValidationError, DomainError) as exc:
        return _with_error("/ops/sagas", str(exc))
    return RedirectResponse(f"/ops/bulk/{made.id}", 303)


@router.get("/bulk/{bulk_id}.json")
async def bulk_progress_json(request: Request, bulk_id: uuid.UUID) -> Response:
    _, refused = await _signed_in(request)
    if refused is not None:
        return Response(status_code=403 if refused.status_code == 403 else 401)
    try:
        bulk = await bulk_actions.get(request.app.state.uow_factory(), bulk_id)
    except DomainError:
        return Response(status_code=404)
    return Response(bulk.model_dump_json(), media_type="application/json", headers=SECURITY_HEADERS)


@router.get("/bulk/{bulk_id}")
async def bulk_progress(request: Request, bulk_id: uuid.UUID) -> Response:
    operator, refused = await _signed_in(request)
    if refused is not None:
        return refused
    try:
        bulk = await bulk_actions.get(request.app.state.uow_factory(), bulk_id)
    except DomainError as exc:
        return _page(request, "forbidden.html", 404, error=str(exc), **_context(request, operator))
    return _page(request, "bulk.html", bulk=bulk, **_context(request, operator))


@router.get("/dead-letters")
async def dead_letter_list(request: Request, state: str | None = "kept") -> Response:
    operator, refused = await _signed_in(request)
    if refused is not None:
        return refused
    query = DeadLetterQuery(state=state or None)
    page = await dead_letters.list_dead_letters(request.app.state.uow_factory(), query)
    return _page(
        request,
        "dead_letters.html",
        page=page,
        state=state,
        error=request.query_params.get("error"),
        notice=request.query_params.get("notice"),
        **_context(request, operator),
    )


@router.post("/dead-letters/bulk")
async def dead_letters_bulk(
    request: Request,
    verb: Annotated[str, Form()],
    topic: Annotated[str, Form(max_length=249)] = "",
    count: Annotated[int | None, Form(ge=0)] = None,
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """Without `count` a dry run page; with it, done, and back to the list."""
    operator, refused = await _form_sender(request, csrf)
    if refused is not None:
        return refused
    try:
        settle = BulkSettle(verb=verb, topic=topic or None, count=count)
        result = await dead_letters.settle_all(request.app.state.uow_factory, settle, operator)
    except (ValidationError, DomainError) as exc:
        return _with_error("/ops/dead-letters", str(exc))
    if result.dry_run:
        return _page(
            request,
            "dead_letters_bulk.html",
            dry=result,
            topic=topic,
            **_context(request, operator),
        )
    notice = f"{result.verb}: {result.done} done, {result.skipped} skipped"
    return RedirectResponse("/ops/dead-letters?" + urlencode({"notice": notice}), 303)


@router.post("/dead-letters/{dead_letter_id}/{verb}")
async def dead_letter_settle(
    request: Request, dead_letter_id: uuid.UUID, verb: str, csrf: Annotated[str, Form()] = ""
) -> Response:
    operator, refused = await _form_sender(request, csrf)
    if refused is not None:
        return refused
    settle = {"redrive": dead_letters.redrive, "discard": dead_letters.discard}.get(verb)
    if settle is None:
        return Response(status_code=404)
    try:
        await settle(request.app.state.uow_factory(), dead_letter_id, operator)
    except DomainError as exc:
        return _with_error("/ops/dead-letters", str(exc))
    return RedirectResponse("/ops/dead-letters", 303)


@router.get("/health")
async def health_page(request: Request) -> Response:
    operator, refused = await _signed_in(request)
    if refused is not None:
        return refused
    health = await ops_health.health(
        request.app.state.uow_factory(), await sidecar_reachable(request)
    )
    return _page(
        request, "health.html", health=health, chart=_chart(health), **_context(request, operator)
    )


def _chart(health: ops_health.Health, height: int = 120) -> dict[str, Any]:
    """Bars for the SVG: three per minute, scaled to the hour's peak."""
    peak = max([max(m.started, m.completed, m.failed) for m in health.sagas] + [1])

    def scaled(n: int) -> int:
        return round(n * height / peak)

    return {
        "width": 12 * len(health.sagas),
        "height": height,
        "peak": peak,
        "started": sum(m.started for m in health.sagas),
        "completed": sum(m.completed for m in health.sagas),
        "failed": sum(m.failed for m in health.sagas),
        "bars": [
            {
                "x": 12 * i,
                "started": scaled(m.started),
                "completed": scaled(m.completed),
                "failed": scaled(m.failed),
            }
            for i, m in enumerate(health.sagas)
        ],
    }


@router.get("/schedules")
async def schedules_page(
    request: Request, series_id: str | None = None, user: str | None = None
) -> Response:
    operator, refused = await _signed_in(request)
    if refused is not None:
        return refused
    series = schedule = error = None
    lookup = request.app.state.schedules
    try:
        if (series_id or user) and lookup is None:
            raise DependencyUnavailable("no actors: the app runs without a Dapr sidecar")
        if series_id:
            series = await ops_schedules.describe_series(
                request.app.state.uow_factory(), lookup, uuid.UUID(series_id)
            )
        if user:
            schedule = await ops_schedules.describe_schedule(lookup, user)
    except ValueError:
        error = "A series id is a UUID."
    except DomainError as exc:
        error = str(exc)
    return _page(
        request,
        "schedules.html",
        series_id=series_id,
        user=user,
        series=series,
        schedule=schedule,
        error=error,
        **_context(request, operator),
    )


@router.get("/sagas/events")
async def run_events(
    request: Request, since: Annotated[str | None, Query(max_length=1000)] = None
) -> Response:
    """Server-Sent Events: one `run` event per change of a saga run after `since` (a page's
    mark), or from now on."""
    _, refused = await _signed_in(request)
    if refused is not None:
        return Response(status_code=403 if refused.status_code == 403 else 401)
    uow_factory = request.app.state.uow_factory
    try:
        start = decode_cursor(since) if since else None
    except DomainError:
        return Response(status_code=400)

    async def events() -> AsyncIterator[ServerSentEvent]:
        after = start
        if after is None:
            _, after = await saga_runs.changes(uow_factory(), None)
        while not await request.is_disconnected():
            changed, after = await saga_runs.changes(uow_factory(), after)
            for run in changed:
                yield ServerSentEvent(data=run.model_dump_json(), event="run")
            if not changed:
                await asyncio.sleep(FEED_POLL_S)

    return EventSourceResponse(events(), ping=15, headers={"Cache-Control": "no-store"})


@router.get("/sagas/{instance_id}")
async def saga(request: Request, instance_id: str, error: str | None = None) -> Response:
    operator, refused = await _signed_in(request)
    if refused is not None:
        return refused
    uow_factory = request.app.state.uow_factory
    feed = await _feed_url(request)
    try:
        detail = await saga_runs.get_run(uow_factory(), instance_id)
    except DomainError as exc:
        return _page(request, "forbidden.html", 404, error=str(exc), **_context(request, operator))
    run = detail.run
    before = await _task(request, run.user_id, run.task_id)
    after = await _task(request, run.user_id, run.next_task_id) if run.next_task_id else None
    history, history_note = None, "No workflow runtime here: the app runs without a sidecar."
    if run.purged_at is not None:
        history_note = (
            f"Purged from the workflow runtime at {run.purged_at.isoformat(timespec='seconds')}:"
            " it keeps no history, input or output of this run."
        )
    elif (control := request.app.state.saga_control) is not None:
        try:
            history = await saga_actions.history(control, instance_id)
        except DomainError as exc:  # purged, or the sidecar is away
            history_note = str(exc)
    log = await saga_actions.action_log(uow_factory(), target=instance_id, cursor=None, limit=50)
    return _page(
        request,
        "saga.html",
        run=run,
        lineage=detail.lineage,
        events=detail.events,
        audit=detail.audit,
        before=before,
        after=after,
        history=history,
        history_note=history_note,
        log=log.items,
        actions=[
            a.value
            for a in SagaAction
            if run.status in ALLOWED[a] and not (a is SagaAction.PURGE and run.purged_at)
        ],
        feed=feed,
        error=error,
        **_context(request, operator),
    )


async def _task(request: Request, user_id: str, task_id: uuid.UUID) -> dict | None:
    """The occurrence's row, shown on its saga's page only (its title is the user's)."""
    async with request.app.state.uow_factory().reading() as uow:
        return await uow.tasks.get_row(user_id, task_id)


@router.post("/sagas/{instance_id}/{action}")
async def act(
    request: Request,
    instance_id: str,
    action: SagaAction,
    reason: Annotated[str, Form(max_length=500)] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    operator, refused = await _form_sender(request, csrf)
    if refused is not None:
        return refused
    back = f"/ops/sagas/{instance_id}"
    if not reason.strip():
        return _with_error(back, "Give a reason.")
    control = request.app.state.saga_control
    if control is None:
        return _with_error(back, "No workflow runtime.")
    try:
        outcome = await saga_actions.act(
            request.app.state.uow_factory, control, operator, instance_id, action, reason.strip()
        )
    except DomainError as exc:
        return _with_error(back, str(exc))
    return RedirectResponse(f"/ops/sagas/{outcome.retried_as or instance_id}", 303)


@router.get("/actions")
async def actions(
    request: Request, cursor: Annotated[str | None, Query(max_length=1000)] = None
) -> Response:
    operator, refused = await _signed_in(request)
    if refused is not None:
        return refused
    page = await saga_actions.action_log(
        request.app.state.uow_factory(), target=None, cursor=cursor, limit=50
    )
    return _page(request, "actions.html", page=page, **_context(request, operator))
