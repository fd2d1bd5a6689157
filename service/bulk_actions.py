"""An operator's action over every saga run a filter matches: retry, terminate or purge.

First a dry run: the count and a sample of the runs the action applies to. Then the
confirmation, naming that count: refused if the filter now matches another number, and kept
once per operator and idempotency key, so a resubmitted form makes nothing new. The runs
are those that matched when it was confirmed (started by then: a retry's own new attempts
are never among them), handled oldest first by whichever replica holds the bulk action's
lease, the progress saved after each run. A restart resumes after the last run saved; a
run handled again before its save refuses the action it already had (service.saga_actions
moves a run once), so nothing is done twice.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from domain.errors import Conflict, DependencyUnavailable, DomainError, NotFound
from domain.saga_runs import RunFilter
from service import saga_actions
from service.saga_actions import ALLOWED, SagaAction, SagaControl
from service.saga_runs import SagaRunFilter, SagaRunPublic
from service.unit_of_work import UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)

BULK = (SagaAction.RETRY, SagaAction.TERMINATE, SagaAction.PURGE)
SAMPLE = 10
LEASE = timedelta(seconds=30)


class BulkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: SagaAction
    filter: SagaRunFilter = Field(default_factory=SagaRunFilter)
    reason: str = Field(min_length=1, max_length=500)


class BulkConfirm(BulkRequest):
    count: int = Field(ge=0, description="the dry run's count: refused if it changed")


class DryRun(BaseModel):
    action: SagaAction
    count: int = Field(description="the runs the action would apply to")
    sample: list[SagaRunPublic] = Field(description=f"the oldest {SAMPLE} of them")


class BulkPublic(BaseModel):
    id: uuid.UUID
    operator: str
    action: SagaAction
    filter: SagaRunFilter
    reason: str
    matched: int
    state: str = Field(description="running or done")
    done: int
    skipped: int = Field(description="refused by the run: it had moved on by then")
    failed: int
    created_at: AwareDatetime
    finished_at: AwareDatetime | None


def _applies(request: BulkRequest) -> RunFilter | None:
    """The filter narrowed to the runs the action applies to; None when none can match."""
    if request.action not in BULK:
        raise Conflict(f"{request.action} is not a bulk action; it is one of {list(BULK)}")
    allowed = ALLOWED[request.action]
    wanted = set(request.filter.status) & allowed if request.filter.status else allowed
    if not wanted:
        return None
    where = request.filter.model_copy(update={"status": sorted(wanted)}).where()
    # a run a later attempt retries already is not retried again
    where.latest_only = request.action is SagaAction.RETRY
    return where


async def _count(uow: UnitOfWork, where: RunFilter | None) -> int:
    if where is None:
        return 0
    counts = await uow.saga_runs.counts(where)
    return sum(counts.get(s, 0) for s in where.statuses)


async def dry_run(uow: UnitOfWork, request: BulkRequest) -> DryRun:
    where = _applies(request)
    async with uow.reading():
        count = await _count(uow, where)
        sample = (
            await uow.saga_runs.page(where, after=None, limit=SAMPLE, oldest_first=True)
            if where is not None
            else []
        )
    return DryRun(
        action=request.action,
        count=count,
        sample=[SagaRunPublic.model_validate(dict(r)) for r in sample],
    )


async def confirm(uow: UnitOfWork, operator: str, key: str, request: BulkConfirm) -> BulkPublic:
    """The bulk action, made if the count still holds; the one made before under `key`,
    as it is now, if there is one."""
    where = _applies(request)
    async with uow:
        row, made = await uow.bulk_actions.create(
            operator=operator,
            key=key,
            action=request.action,
            filter=request.filter.model_dump(mode="json"),
            reason=request.reason,
            matched=request.count,
            now=uow.now(),
        )
        if made:
            if (count := await _count(uow, where)) != request.count:
                raise Conflict(
                    f"the filter now matches {count} runs, not {request.count}: "
                    "run the dry run again"
                )
            await uow.commit()
    return BulkPublic.model_validate(dict(row))


async def get(uow: UnitOfWork, bulk_id: uuid.UUID) -> BulkPublic:
    async with uow.reading():
        row = await uow.bulk_actions.get(bulk_id)
    if row is None:
        raise NotFound(f"bulk action {bulk_id} does not exist")
    return BulkPublic.model_validate(dict(row))


async def recent(uow: UnitOfWork, limit: int = 20) -> list[BulkPublic]:
    async with uow.reading():
        rows = await uow.bulk_actions.recent(limit)
    return [BulkPublic.model_validate(dict(r)) for r in rows]


async def run_one(uow_factory: UnitOfWorkFactory, control: SagaControl, *, batch: int = 50) -> bool:
    """Claim a running bulk action and handle up to `batch` of its runs; False when none
    was waiting. The runtime going away ends the batch; the lease lets another try later."""
    async with uow_factory() as uow:
        claimed = await uow.bulk_actions.claim(now=uow.now(), lease=LEASE)
        await uow.commit()
    if claimed is None:
        return False
    request = BulkRequest(
        action=claimed["action"],
        filter=SagaRunFilter.model_validate(claimed["filter"]),
        reason=claimed["reason"],
    )
    runs = []
    if (where := _applies(request)) is not None:
        # the runs that had started when it was confirmed, not the attempts it starts
        confirmed = claimed["created_at"] + timedelta(microseconds=1)  # started by then
        if where.started_before is None or where.started_before > confirmed:
            where.started_before = confirmed
        after = (claimed["after_at"], claimed["after_id"]) if claimed["after_at"] else None
        async with uow_factory().reading() as uow:
            runs = await uow.saga_runs.page(where, after=after, limit=batch, oldest_first=True)
    for run in runs:
        try:
            await saga_actions.act(
                uow_factory,
                control,
                claimed["operator"],
                run["instance_id"],
                request.action,
                f"bulk {claimed['id']}: {request.reason}",
            )
            outcome = "done"
        except DependencyUnavailable:
            return True  # the runtime is away: stop here, the lease runs out, it resumes
        except (Conflict, NotFound):
            outcome = "skipped"
        except DomainError as exc:
            log.warning("bulk %s: %s failed: %s", claimed["id"], run["instance_id"], exc)
            outcome = "failed"
        async with uow_factory() as uow:
            await uow.bulk_actions.advance(
                claimed["id"],
                after=(run["started_at"], run["instance_id"]),
                outcome=outcome,
                now=uow.now(),
                lease=LEASE,
            )
            await uow.commit()
    async with uow_factory() as uow:
        if len(runs) < batch:
            await uow.bulk_actions.finish(claimed["id"], now=uow.now())
        else:
            await uow.bulk_actions.release(claimed["id"])
        await uow.commit()
    return True
