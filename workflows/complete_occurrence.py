"""The complete-then-spawn saga: close an occurrence, have its series decide the next one and
record it; when that cannot be done, reopen the occurrence (compensation).

One instance per attempt at closing an occurrence (ids from service.completion.operation_id;
workflows/sagas.py says how an attempt is found), so a second completion of the same
occurrence joins the running instance instead of starting another. The three steps run as
one activity (workflows/activities.py), since they always run together and each is
idempotent: two orchestrator turns instead of five. The orchestrator is deterministic: it
reads no clock, randomness, I/O or environment; every side effect is an idempotent activity.
The user's reminder schedule follows the events the steps record (messaging/scheduling.py),
as it does for every other change.

Input: service.occurrences.CloseRequest; output: service.occurrences.Advanced (as JSON).
"""

from __future__ import annotations

from datetime import timedelta

from dapr.ext.workflow import DaprWorkflowContext, RetryPolicy

from service.occurrences import CloseRequest, ReopenRequest

NAME = "complete_occurrence"
ADVANCE = "advance_occurrence"
REOPEN = "reopen_occurrence"

RETRY = RetryPolicy(
    first_retry_interval=timedelta(milliseconds=200),
    max_number_of_attempts=5,
    backoff_coefficient=2.0,
    max_retry_interval=timedelta(seconds=5),
)


def complete_occurrence(ctx: DaprWorkflowContext, request: dict):
    close = CloseRequest.model_validate(request)
    try:
        advanced = yield ctx.call_activity(ADVANCE, input=request, retry_policy=RETRY)
    except Exception as failure:
        # the next occurrence cannot exist: undo the close, say so, stay failed
        undo = ReopenRequest(request=close, reason=str(failure))
        yield ctx.call_activity(REOPEN, input=undo.model_dump(mode="json"), retry_policy=RETRY)
        raise
    return advanced
