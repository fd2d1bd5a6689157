"""The complete-then-spawn saga: close an occurrence, ask the series actor for the next one,
create it, arm its reminders and cancel the closed one's.

One instance per attempt at closing an occurrence (ids from service.completion.operation_id;
workflows/sagas.py says how an attempt is found), so a second completion of the same
occurrence joins the running instance instead of starting another. The orchestrator is
deterministic: it reads no clock, randomness, I/O or environment; every side effect is an
idempotent activity.
"""

from __future__ import annotations

from datetime import timedelta

from dapr.ext.workflow import DaprWorkflowContext, RetryPolicy

NAME = "complete_occurrence"
CLOSE = "close_occurrence"
NEXT = "next_occurrence"
CREATE_NEXT = "create_next_occurrence"
SYNC_REMINDERS = "sync_reminders"
REOPEN = "reopen_occurrence"

RETRY = RetryPolicy(
    first_retry_interval=timedelta(milliseconds=200),
    max_number_of_attempts=5,
    backoff_coefficient=2.0,
    max_retry_interval=timedelta(seconds=5),
)


def complete_occurrence(ctx: DaprWorkflowContext, request: dict):
    """request: {user_id, task_id, status}; returns {task_id, status, next_task_id}."""
    closed = yield ctx.call_activity(CLOSE, input=request, retry_policy=RETRY)
    if closed["already_closed"]:
        return {
            "task_id": closed["task_id"],
            "status": closed["status"],
            "next_task_id": closed["already_next_id"],
        }
    next_task_id = None
    if closed["series_id"] is not None:
        try:
            answer = yield ctx.call_activity(NEXT, input=closed, retry_policy=RETRY)
            next_task_id = yield ctx.call_activity(
                CREATE_NEXT, input={"closed": closed, "answer": answer}, retry_policy=RETRY
            )
        except Exception as failure:
            # the next occurrence cannot exist: undo the close, say so, stay failed
            yield ctx.call_activity(
                REOPEN, input={"closed": closed, "reason": str(failure)}, retry_policy=RETRY
            )
            raise
    touched = [closed["task_id"], *([next_task_id] if next_task_id else [])]
    yield ctx.call_activity(
        SYNC_REMINDERS,
        input={
            "user_id": closed["user_id"],
            "task_ids": touched,
            "series_id": closed["series_id"],
            "next_task_id": next_task_id,
        },
        retry_policy=RETRY,
    )
    return {"task_id": closed["task_id"], "status": closed["status"], "next_task_id": next_task_id}
