"""Reading a dead letter's CloudEvent, paging cursors and the operator role: no I/O."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime

import jwt
import pytest

from api.auth import OPERATOR, AuthError, Verifier, issue_token
from domain.errors import ValidationFailed
from domain.events import DEAD_LETTERS, TASK_EVENTS, TaskCreated
from service.dead_letters import (
    MALFORMED_REASON,
    NO_REASON,
    arrival,
    decode_cursor,
    encode_cursor,
    tickler_event,
)

SECRET = "unit-secret-0123456789abcdefghijklmnopq"


def task_created() -> TaskCreated:
    return TaskCreated(occurred_at=datetime.now(UTC), user_id="u", task_id=uuid.uuid4())


def test_an_arrival_keeps_the_original_topic_and_says_no_reason_was_given() -> None:
    got = arrival({"id": "e-1", "topic": TASK_EVENTS, "type": "tickler.task.created.v1"})
    assert got is not None
    assert (got.event_id, got.topic, got.reason) == ("e-1", TASK_EVENTS, NO_REASON)


def test_a_malformed_outbox_event_has_no_original_topic_and_says_why() -> None:
    got = arrival({"id": "e-2", "topic": DEAD_LETTERS, "type": "tickler.malformed"})
    assert got is not None
    assert (got.topic, got.reason) == (None, MALFORMED_REASON)


@pytest.mark.parametrize("envelope", [{}, {"id": ""}, {"id": 7}])
def test_a_cloudevent_without_an_id_cannot_be_kept(envelope: dict) -> None:
    assert arrival(envelope) is None


def test_the_tickler_event_is_read_from_json_or_string_data() -> None:
    event = task_created()
    data = event.model_dump(mode="json")
    assert tickler_event({"data": data}) == event
    assert tickler_event({"data": TaskCreated.model_validate(data).model_dump_json()}) == event


@pytest.mark.parametrize("data", [None, "not json", {"type": "no.such"}, {"type": ["x"]}, [1]])
def test_anything_else_is_not_a_tickler_event(data: object) -> None:
    assert tickler_event({"data": data}) is None


def test_a_cursor_round_trips() -> None:
    moment, last = datetime(2026, 12, 2, 12, 0, 0, 123456, tzinfo=UTC), uuid.uuid4()
    assert decode_cursor(encode_cursor(moment, last)) == (moment, last)


NAIVE_TIME = base64.urlsafe_b64encode(
    b'["2026-12-02T12:00:00","' + str(uuid.uuid4()).encode() + b'"]'
)


@pytest.mark.parametrize("cursor", ["!!", "bm90IGpzb24", NAIVE_TIME.decode()])
def test_a_bad_cursor_names_the_cursor_field(cursor: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        decode_cursor(cursor)
    assert [e.field for e in caught.value.errors] == ["cursor"]


async def test_an_operator_token_carries_the_role_and_a_plain_one_none() -> None:
    verifier = Verifier(hs256_secret=SECRET)
    operator = await verifier.caller(issue_token(SECRET, "ann", roles=[OPERATOR]))
    plain = await verifier.caller(issue_token(SECRET, "bob"))
    assert (operator.user_id, operator.roles) == ("ann", frozenset({OPERATOR}))
    assert (plain.user_id, plain.roles) == ("bob", frozenset())


async def test_a_roles_claim_that_is_not_a_list_of_strings_is_refused() -> None:
    token = jwt.encode(
        {"sub": "eve", "exp": datetime(2100, 1, 1, tzinfo=UTC), "roles": "operator"},
        SECRET,
        algorithm="HS256",
    )
    with pytest.raises(AuthError):
        await Verifier(hs256_secret=SECRET).caller(token)
