"""The durable workflow backend: instances, the work-item stream, timers and recovery.

State lives in PostgreSQL (see store.py); memory holds only what can be rebuilt from it:
the dispatch queue, the turn in flight per instance, pending activities and the timer heap.
`start()` refills them from the tables, so a sidecar killed at any point resumes where its
last commit left off: a work item dispatched but not answered is simply dispatched again.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import asyncpg
import dapr.ext.workflow._durabletask.internal.protos as pb
import grpc

from . import events as ev
from . import store
from .errors import WorkflowError, already_exists, history_not_found, not_found
from .servicer import WorkflowServicer
from .store import ActivityRow, Instance, InstanceFilter
from .turns import Outcome, Turn, apply_actions

log = logging.getLogger(__name__)

# Idle work-item streams get a ping this often, so proxies don't close them.
HEALTH_PING_SECONDS = 15.0
# A turn that could not be loaded (database trouble) is retried after this long.
RETRY_AFTER = timedelta(seconds=1)


@dataclass(eq=False)
class _Stream:
    """One GetWorkItems call: what it was handed and has not answered yet."""


@dataclass
class _Activity:
    row: ActivityRow
    item: pb.WorkItem
    owner: _Stream | None = None


@dataclass
class _Inflight:
    turn: Turn | None = None  # None while the turn is being loaded
    owner: _Stream | None = None


@dataclass
class _Work:
    kind: str  # "turn" or "activity"
    key: str | int = field(default="")


class WorkflowEngine:
    def __init__(self, pool: asyncpg.Pool):
        self.pool = pool
        self.servicer = WorkflowServicer(self)
        self._started = asyncio.Event()
        self._queue: asyncio.Queue[_Work] = asyncio.Queue()
        self._queued: set[str] = set()
        self._inflight: dict[str, _Inflight] = {}
        self._rerun: set[str] = set()  # instances that got events while a turn was in flight
        self._activities: dict[int, _Activity] = {}
        self._timers: list[tuple[datetime, str]] = []
        self._timer_wake = asyncio.Event()
        self._watchers: dict[str, asyncio.Event] = {}
        self._tasks: list[asyncio.Task] = []

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        async with self.pool.acquire() as conn:
            await store.create_schema(conn)
            wakeups, activities = await store.recovery_state(conn)
        for at, instance_id in wakeups:
            self._wake_at(instance_id, at)
        for row in activities:
            self._add_activity(row)
        self._tasks.append(asyncio.create_task(self._run_timers(), name="workflow-timers"))
        self._started.set()
        log.info(
            "workflow engine started: %d instance(s) to wake, %d activity(ies) pending",
            len(wakeups),
            len(activities),
        )

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def ready(self) -> None:
        """Requests wait here until start() has created the tables and recovered."""
        await self._started.wait()

    # -- client operations -------------------------------------------------------------------

    async def start_instance(
        self, req: pb.CreateInstanceRequest, trace: pb.TraceContext | None = None
    ) -> str:
        """`trace`: the context the client called in, for the instance to carry to its
        activities (the request's own parentTraceContext wins)."""
        instance_id = req.instanceId or uuid.uuid4().hex
        now = ev.utcnow()
        started = ev.execution_started(
            now,
            name=req.name,
            instance_id=instance_id,
            execution_id=ev.optional_string(req, "executionId") or uuid.uuid4().hex,
            input=req.input if req.HasField("input") else None,
            scheduled_start=req.scheduledStartTimestamp
            if req.HasField("scheduledStartTimestamp")
            else None,
            tags=dict(req.tags),
            trace=req.parentTraceContext if req.HasField("parentTraceContext") else trace,
        )
        async with self.pool.acquire() as conn, conn.transaction():
            visible = await self._create(conn, started, None, now)
        self._wake_at(instance_id, visible)
        self._changed(instance_id)
        return instance_id

    async def get_instance(self, instance_id: str) -> Instance | None:
        async with self.pool.acquire() as conn:
            return await store.get_instance(conn, instance_id)

    async def wait_for(self, instance_id: str, done: Callable[[Instance], bool]) -> Instance | None:
        """The instance once `done(instance)` holds (None if it does not exist)."""
        while True:
            changed = self._watchers.setdefault(instance_id, asyncio.Event())
            instance = await self.get_instance(instance_id)
            if instance is None or done(instance):
                return instance
            await changed.wait()

    async def raise_event(self, instance_id: str, name: str, data) -> None:
        raised = ev.event(ev.utcnow(), eventRaised=pb.EventRaisedEvent(name=name, input=data))
        await self._send(instance_id, raised)

    async def suspend(self, instance_id: str, reason) -> None:
        suspended = ev.event(
            ev.utcnow(), executionSuspended=pb.ExecutionSuspendedEvent(input=reason)
        )
        await self._send(instance_id, suspended)

    async def resume(self, instance_id: str, reason) -> None:
        resumed = ev.event(ev.utcnow(), executionResumed=pb.ExecutionResumedEvent(input=reason))
        await self._send(instance_id, resumed)

    async def terminate(self, instance_id: str, output, recursive: bool) -> None:
        now = ev.utcnow()
        terminated = ev.event(
            now, executionTerminated=pb.ExecutionTerminatedEvent(input=output, recurse=recursive)
        )
        notified = []
        async with self.pool.acquire() as conn, conn.transaction():
            if await store.get_instance(conn, instance_id) is None:
                raise not_found(instance_id)
            targets = [instance_id]
            if recursive:
                targets += await store.descendants(conn, instance_id)
            for target in targets:
                if await store.push_inbox_if_active(conn, target, terminated, now):
                    notified.append(target)
        for target in notified:
            self._notify(target)

    async def purge(
        self,
        *,
        instance_id: str | None = None,
        where: InstanceFilter | None = None,
        recursive: bool = True,
        force: bool = False,
    ) -> int:
        """Delete finished instances (and their children); running ones need `force`."""
        async with self.pool.acquire() as conn, conn.transaction():
            if instance_id is not None:
                found = await store.get_instance(conn, instance_id, lock=True)
                roots = [found] if found is not None else []
                if found is not None and found.active and not force:
                    raise WorkflowError(
                        grpc.StatusCode.FAILED_PRECONDITION,
                        f"workflow '{instance_id}' is still running; terminate it first",
                    )
            else:
                roots = [
                    i
                    for i in await store.query_instances(conn, where or InstanceFilter())
                    if force or not i.active
                ]
            ids = [i.instance_id for i in roots]
            if recursive:
                for root in list(ids):
                    ids += await store.descendants(conn, root)
            deleted = await store.delete_instances(conn, ids) if ids else 0
        self._forget_activities(set(ids))
        for purged in ids:
            self._changed(purged)
        return deleted

    async def list_instance_ids(
        self, after: str | None, page_size: int | None
    ) -> tuple[list[str], str | None]:
        async with self.pool.acquire() as conn:
            ids = await store.list_instance_ids(
                conn, after=after, limit=None if page_size is None else page_size + 1
            )
        if page_size is not None and len(ids) > page_size:
            return ids[:page_size], ids[page_size - 1]
        return ids, None

    async def query_instances(
        self, where: InstanceFilter, page_size: int, after: str | None = None
    ) -> tuple[list[Instance], str | None]:
        """A page of instances by status and creation time, for operators' dashboards.

        The forked protocol has no query RPC (only ListInstanceIDs), so this is a Python API.
        """
        async with self.pool.acquire() as conn:
            found = await store.query_instances(conn, where, after=after, limit=page_size + 1)
        if len(found) > page_size:
            return found[:page_size], found[page_size - 1].instance_id
        return found, None

    async def history(self, instance_id: str) -> list[pb.HistoryEvent]:
        """GetInstanceHistory: the committed events as stored, ids and timestamps included.

        Like daprd's actors backend this is the persisted history only: old turns first, each
        turn as workflowStarted, the inbox events it consumed, then its actions' events. A
        created instance that has not run a turn yet has an empty history; an unknown or
        purged one is NOT_FOUND.
        """
        async with self.pool.acquire() as conn:
            events = await store.load_history(conn, instance_id)
        if events is None:
            raise history_not_found(instance_id)
        return events

    # -- the work-item stream ----------------------------------------------------------------

    async def work_items(self, request: pb.GetWorkItemsRequest) -> AsyncIterator[pb.WorkItem]:
        stream = _Stream()
        pings = pb.WORKER_CAPABILITY_HEALTH_PING in request.capabilities
        try:
            while True:
                try:
                    work = await asyncio.wait_for(
                        self._queue.get(), HEALTH_PING_SECONDS if pings else None
                    )
                except TimeoutError:
                    yield pb.WorkItem(healthPing=pb.HealthPing())
                    continue
                item = await self._claim(work, stream)
                if item is not None:
                    yield item
        finally:
            self._release(stream)

    async def _claim(self, work: _Work, stream: _Stream) -> pb.WorkItem | None:
        if work.kind == "activity":
            pending = self._activities.get(work.key)
            if pending is None or pending.owner is not None:
                return None  # settled (or purged) since it was queued
            pending.owner = stream
            return pending.item
        instance_id = work.key
        self._queued.discard(instance_id)
        if instance_id in self._inflight:
            self._rerun.add(instance_id)
            return None
        inflight = self._inflight[instance_id] = _Inflight(owner=stream)
        try:
            inflight.turn = await self._load_turn(instance_id)
        except asyncio.CancelledError:
            self._settle(instance_id, again=True)
            raise
        except Exception:
            # The database is unreachable or failing: try again later, keep the stream.
            log.exception("loading a turn of workflow %r failed; retrying", instance_id)
            self._settle(instance_id)
            self._wake_at(instance_id, ev.utcnow() + RETRY_AFTER)
            return None
        if inflight.turn is None:
            self._settle(instance_id)
            return None
        return inflight.turn.request()

    async def _load_turn(self, instance_id: str) -> Turn | None:
        now = ev.utcnow()
        async with self.pool.acquire() as conn:
            instance, history, inbox = await store.load_turn(conn, instance_id, now)
            if instance is not None and inbox and not instance.active:
                # Leftovers that raced with completion; a finished instance takes no events.
                await store.delete_inbox_rows(conn, [r.id for r in inbox])
                return None
        if instance is None or not inbox:
            return None
        return Turn(
            instance=instance,
            token=uuid.uuid4().hex,
            history=history,
            inbox=inbox,
            new_events=[ev.workflow_started(now), *(ev.delivered(r.event, now) for r in inbox)],
        )

    def _release(self, stream: _Stream) -> None:
        """The stream is gone: whatever it held unanswered goes back to the queue."""
        for instance_id, inflight in list(self._inflight.items()):
            if inflight.owner is stream and inflight.turn is not None:
                self._settle(instance_id, again=True)
        for activity_id, pending in self._activities.items():
            if pending.owner is stream:
                pending.owner = None
                self._queue.put_nowait(_Work("activity", activity_id))

    def _settle(self, instance_id: str, again: bool = False) -> None:
        self._inflight.pop(instance_id, None)
        if again or instance_id in self._rerun:
            self._rerun.discard(instance_id)
            self._notify(instance_id)

    # -- completions -------------------------------------------------------------------------

    async def complete_turn(self, res: pb.WorkflowResponse) -> None:
        inflight = self._inflight.get(res.instanceId)
        if inflight is None or inflight.turn is None or inflight.turn.token != res.completionToken:
            return  # a stale answer: the turn was re-dispatched and will be answered again
        turn = inflight.turn
        before = turn.instance.status
        committed = False
        try:
            now = ev.utcnow()
            outcome = apply_actions(turn, res, now)
            woken = await self._commit(turn, outcome, now)
            committed = True
        finally:
            self._settle(res.instanceId, again=not committed)
        for instance_id, at in woken:
            self._wake_at(instance_id, at)
        if outcome.status != before or outcome.restart is not None:
            self._changed(res.instanceId)

    async def _commit(self, turn: Turn, out: Outcome, now: datetime) -> list[tuple[str, datetime]]:
        """Persist a turn atomically; returns (instance, when) pairs to wake."""
        me = turn.instance.instance_id
        woken: list[tuple[str, datetime]] = []
        activity_ids: list[int] | None = []
        # Most turns are one statement; only cross-instance work needs a transaction.
        several = out.restart is not None or out.messages or out.children
        async with (
            self.pool.acquire() as conn,
            conn.transaction() if several else contextlib.nullcontext(),
        ):
            if out.restart is not None:
                if not await self._restart(conn, turn, out, now):
                    return []
                woken.append((me, now))
            else:
                activity_ids = await store.commit_turn(
                    conn,
                    turn.instance,
                    status=out.status,
                    custom_status=out.custom_status,
                    output=out.output,
                    failure=out.failure,
                    first_seq=len(turn.history),
                    appended=out.appended,
                    consumed=[r.id for r in turn.inbox],
                    timers=out.timers,
                    activities=out.activities,
                    now=now,
                )
                if activity_ids is None:
                    return []  # purged or restarted while the worker was busy
                woken += [(me, at) for _, at in out.timers]
            for target, message in out.messages:
                if await store.push_inbox_if_active(conn, target, message, now):
                    woken.append((target, now))
            for started in out.children:
                woken += await self._create_child(conn, me, started, now)
        if out.finished or out.restart is not None:
            self._forget_activities({me})
        else:
            for activity_id, scheduled in zip(activity_ids, out.activities, strict=True):
                self._add_activity(
                    ActivityRow(activity_id, me, turn.instance.execution_id, scheduled)
                )
        return woken

    async def _restart(
        self, conn: asyncpg.Connection, turn: Turn, out: Outcome, now: datetime
    ) -> bool:
        """Continue-as-new: a fresh execution, keeping external events not yet consumed."""
        me = turn.instance.instance_id
        current = await store.get_instance(conn, me, lock=True)
        if current is None or current.execution_id != turn.instance.execution_id:
            return False
        kept = await store.take_raised_events(conn, me, [r.id for r in turn.inbox])
        await store.clear_instance_data(conn, [me])
        started = out.restart[0].executionStarted
        await store.push_inbox(conn, [(me, e, now) for e in (*out.restart, *kept)])
        await store.update_instance(
            conn,
            current,
            status=ev.RUNNING,
            custom_status=out.custom_status,
            now=now,
            execution_id=started.workflowInstance.executionId.value,
            input=ev.optional_string(started, "input"),
        )
        return True

    async def _create_child(
        self, conn: asyncpg.Connection, parent_id: str, started: pb.HistoryEvent, now: datetime
    ) -> list[tuple[str, datetime]]:
        parent = parent_id if started.executionStarted.HasField("parentInstance") else None
        try:
            async with conn.transaction():  # a savepoint: a refused child undoes only itself
                visible = await self._create(conn, started, parent, now)
        except WorkflowError as refused:
            if parent is None:
                log.warning("detached workflow not started: %s", refused)
                return []
            failed = ev.event(
                now,
                childWorkflowInstanceFailed=pb.ChildWorkflowInstanceFailedEvent(
                    taskScheduledId=started.executionStarted.parentInstance.taskScheduledId,
                    failureDetails=ev.failure("WorkflowAlreadyExists", str(refused)),
                ),
            )
            await store.push_inbox(conn, [(parent_id, failed, now)])
            return [(parent_id, now)]
        return [(started.executionStarted.workflowInstance.instanceId, visible)]

    async def _create(
        self,
        conn: asyncpg.Connection,
        started: pb.HistoryEvent,
        parent_id: str | None,
        now: datetime,
    ) -> datetime:
        """Create an instance; returns when its start is visible.

        An id whose instance is still active is refused. One whose instance finished
        (completed, failed, terminated) is created again over it, its old history gone, as
        daprd 1.18 and 1.19 do without a reuse-id policy: the workflow actor's
        createInstance falls back to createIfCompleted, which refuses only an instance that
        is not completed and otherwise resets its state
        (pkg/actors/targets/workflow/orchestrator/create.go). dapr/docs#5102 said ids could
        not be reused at all; dapr/docs#5244 corrected it."""
        start = started.executionStarted
        instance_id = start.workflowInstance.instanceId
        # Serializes concurrent starts of one id, including one that does not exist yet.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", instance_id)
        existing = await store.get_instance(conn, instance_id, lock=True)
        if existing is not None and existing.active:
            raise already_exists(f"an active workflow with ID '{instance_id}' already exists")
        if existing is not None:
            await store.delete_instances(conn, [instance_id])
        await store.insert_instance(
            conn,
            instance_id=instance_id,
            execution_id=start.workflowInstance.executionId.value,
            name=start.name,
            input=ev.optional_string(start, "input"),
            parent_instance_id=parent_id,
            status=ev.PENDING,
            now=now,
        )
        visible = (
            ev.to_datetime(start.scheduledStartTimestamp)
            if start.HasField("scheduledStartTimestamp")
            else now
        )
        await store.push_inbox(conn, [(instance_id, started, max(visible, now))])
        return max(visible, now)

    async def complete_activity(self, res: pb.ActivityResponse) -> None:
        activity_id = _activity_id(res.completionToken)
        pending = self._activities.get(activity_id) if activity_id is not None else None
        if pending is None:
            return  # already settled: a duplicate answer after a re-dispatch
        scheduled = pending.row.scheduled
        now = ev.utcnow()
        if res.HasField("failureDetails"):
            result = ev.event(
                now,
                taskFailed=pb.TaskFailedEvent(
                    taskScheduledId=scheduled.eventId,
                    failureDetails=res.failureDetails,
                    taskExecutionId=scheduled.taskScheduled.taskExecutionId,
                ),
            )
        else:
            result = ev.event(
                now,
                taskCompleted=pb.TaskCompletedEvent(
                    taskScheduledId=scheduled.eventId,
                    result=res.result if res.HasField("result") else None,
                    taskExecutionId=scheduled.taskScheduled.taskExecutionId,
                ),
            )
        try:
            async with self.pool.acquire() as conn:
                instance_id = await store.finish_activity(conn, activity_id, result, now)
        except Exception:
            # Not recorded, so run it again rather than wait for the stream to close.
            pending.owner = None
            self._queue.put_nowait(_Work("activity", activity_id))
            raise
        self._activities.pop(activity_id, None)
        if instance_id is not None:
            self._notify(instance_id)

    # -- internals ---------------------------------------------------------------------------

    async def _send(self, instance_id: str, event: pb.HistoryEvent) -> None:
        """Queue an event for an instance; a finished instance silently drops it."""
        async with self.pool.acquire() as conn:
            if await store.get_instance(conn, instance_id) is None:
                raise not_found(instance_id)
            queued = await store.push_inbox_if_active(conn, instance_id, event, ev.utcnow())
        if queued:
            self._notify(instance_id)

    def _add_activity(self, row: ActivityRow) -> None:
        scheduled = row.scheduled.taskScheduled
        item = pb.WorkItem(
            activityRequest=pb.ActivityRequest(
                name=scheduled.name,
                version=scheduled.version if scheduled.HasField("version") else None,
                input=scheduled.input if scheduled.HasField("input") else None,
                workflowInstance=pb.WorkflowInstance(
                    instanceId=row.instance_id, executionId=ev.string_value(row.execution_id)
                ),
                taskId=row.scheduled.eventId,
                taskExecutionId=scheduled.taskExecutionId,
                parentTraceContext=scheduled.parentTraceContext
                if scheduled.HasField("parentTraceContext")
                else None,
            ),
            completionToken=f"a{row.id}",
        )
        self._activities[row.id] = _Activity(row, item)
        self._queue.put_nowait(_Work("activity", row.id))

    def _forget_activities(self, instance_ids: set[str]) -> None:
        """Their results are no longer wanted; queued copies are skipped at dispatch."""
        for activity_id in [
            a for a, p in self._activities.items() if p.row.instance_id in instance_ids
        ]:
            del self._activities[activity_id]

    def _notify(self, instance_id: str) -> None:
        """The instance has events to process: queue a turn (or a rerun after this one)."""
        if instance_id in self._inflight:
            self._rerun.add(instance_id)
        elif instance_id not in self._queued:
            self._queued.add(instance_id)
            self._queue.put_nowait(_Work("turn", instance_id))

    def _wake_at(self, instance_id: str, at: datetime) -> None:
        if at <= ev.utcnow():
            self._notify(instance_id)
        else:
            heapq.heappush(self._timers, (at, instance_id))
            self._timer_wake.set()

    def _changed(self, instance_id: str) -> None:
        watcher = self._watchers.pop(instance_id, None)
        if watcher is not None:
            watcher.set()

    async def _run_timers(self) -> None:
        """Wake instances whose timers (or scheduled starts) are due; sleeps until the next."""
        while True:
            now = ev.utcnow()
            while self._timers and self._timers[0][0] <= now:
                self._notify(heapq.heappop(self._timers)[1])
            delay = (self._timers[0][0] - now).total_seconds() if self._timers else None
            self._timer_wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._timer_wake.wait(), delay)


def _activity_id(token: str) -> int | None:
    return int(token[1:]) if token.startswith("a") and token[1:].isdigit() else None
