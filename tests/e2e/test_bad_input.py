"""Bad input gets a clear 4xx problem naming the field, and writes nothing."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import create_engine, text

from store.database import sync_url
from tests.e2e.conftest import Api

LONG = "x" * 201
BAD_CREATES = [
    ({"title": ""}, "title"),
    ({"title": "   "}, "title"),
    ({"title": LONG}, "title"),
    ({"title": 5}, "title"),
    ({}, "title"),
    ({"title": "t", "description": "d" * 4001}, "description"),
    ({"title": "t", "priority": "critical"}, "priority"),
    ({"title": "t", "tags": ["x" * 41]}, "tags.0"),
    ({"title": "t", "tags": [""]}, "tags.0"),
    ({"title": "t", "tags": [f"t{i}" for i in range(21)]}, "tags"),
    ({"title": "t", "tags": "home"}, "tags"),
    ({"title": "t", "due_at": "whenever it suits"}, "due_at"),  # no time, no phrase
    ({"title": "t", "due_at": "2027-02-30T10:00:00"}, "due_at"),
    ({"title": "t", "timezone": "Mars/Olympus"}, "timezone"),
    ({"title": "t", "due_at": "2027-01-01T10:00:00", "timezone": "Nowhere"}, "timezone"),
    ({"title": "t", "recurrence": {"rrule": "FREQ=DAILY"}}, "recurrence"),
    (
        {"title": "t", "due_at": "2027-01-01T10:00:00Z", "recurrence": {"rrule": "FREQ=SOMETIMES"}},
        "recurrence.rrule",
    ),
    (
        {"title": "t", "due_at": "2027-01-01T10:00:00Z", "recurrence": {"rrule": "FREQ=SECONDLY"}},
        "recurrence.rrule",
    ),
    (
        {
            "title": "t",
            "due_at": "2027-01-01T10:00:00Z",
            "recurrence": {"rrule": "FREQ=DAILY;BYFOO=1"},
        },
        "recurrence.rrule",
    ),
    (
        {
            "title": "t",
            "due_at": "2027-01-01T10:00:00Z",
            "recurrence": {"rrule": "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"},
        },
        "recurrence.rrule",
    ),
    (
        {
            "title": "t",
            "due_at": "2027-01-01T10:00:00Z",
            "recurrence": {"rrule": "FREQ=DAILY", "mode": "sometimes"},
        },
        "recurrence.mode",
    ),
    (
        {
            "title": "t",
            "due_at": "2027-01-01T10:00:00Z",
            "recurrence": {"rrule": "FREQ=DAILY", "catch_up": "all"},
        },
        "recurrence.catch_up",
    ),
    (
        {
            "title": "t",
            "due_at": "2027-01-01T10:00:00Z",
            "recurrence": {"rrule": "FREQ=DAILY", "extra": 1},
        },
        "recurrence.extra",
    ),
    ({"title": "t", "reminders": [{"before_minutes": 10}]}, "reminders.0.before_minutes"),
    (
        {"title": "t", "due_at": "2027-01-01T10:00:00Z", "reminders": [{"before_minutes": -1}]},
        "reminders.0.before_minutes",
    ),
    (
        {"title": "t", "due_at": "2027-01-01T10:00:00Z", "reminders": [{"before_minutes": 525601}]},
        "reminders.0.before_minutes",
    ),
    ({"title": "t", "due_at": "2027-01-01T10:00:00Z", "reminders": [{}]}, "reminders.0"),
    (
        {
            "title": "t",
            "due_at": "2027-01-01T10:00:00Z",
            "reminders": [{"before_minutes": 1, "at": "2027-01-01T09:00:00Z"}],
        },
        "reminders.0",
    ),
    (
        {
            "title": "t",
            "due_at": "2027-01-01T10:00:00Z",
            "reminders": [{"before_minutes": i} for i in range(11)],
        },
        "reminders",
    ),
    ({"title": "t", "colour": "red"}, "colour"),
    ({"title": "t", "user_id": "mallory"}, "user_id"),
]


async def count_rows(api: Api) -> dict[str, int]:
    engine = create_engine(sync_url(api.database_url))
    try:
        with engine.connect() as conn:
            return {
                t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                for t in ("tasks", "series", "tags", "reminders", "outbox", "task_tags")
            }
    finally:
        engine.dispose()


@pytest.mark.parametrize(("body", "field"), BAD_CREATES)
async def test_bad_create_is_422_naming_the_field_and_writes_nothing(
    api: Api, body: dict, field: str
) -> None:
    before = await count_rows(api)
    r = await api.client.post("/v1/tasks", json=body, headers=api.auth("bad"))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["status"] == 422 and problem["title"]
    fields = [e["field"] for e in problem["errors"]]
    assert field in fields, fields
    assert all(e["message"] for e in problem["errors"])
    assert await count_rows(api) == before


async def test_non_json_body_is_422(api: Api) -> None:
    r = await api.client.post(
        "/v1/tasks",
        content=b"{not json",
        headers={**api.auth(), "content-type": "application/json"},
    )
    assert r.status_code == 422


async def test_huge_body_is_413_and_writes_nothing(api: Api) -> None:
    before = await count_rows(api)
    body = {"title": "t", "description": "x" * 2_000_000}
    r = await api.client.post("/v1/tasks", json=body, headers=api.auth("bad"))
    assert r.status_code == 413
    assert r.headers["content-type"].startswith("application/problem+json")
    assert await count_rows(api) == before


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"title": None}, "title"),
        ({"title": ""}, "title"),
        ({"priority": "meh"}, "priority"),
        ({"timezone": "Bad/Zone"}, "timezone"),
        ({"tags": None}, "tags"),
        ({"unknown": 1}, "unknown"),
        ({"recurrence": {"rrule": "FREQ=HOURLY;INTERVAL=0"}}, "recurrence.rrule"),
    ],
)
async def test_bad_patch_is_422_and_changes_nothing(api: Api, patch: dict, field: str) -> None:
    created = await api.create("bad", title="stays", due_at="2027-01-05T09:00:00Z")
    r = await api.client.patch(f"/v1/tasks/{created['id']}", json=patch, headers=api.auth("bad"))
    assert r.status_code == 422, r.text
    assert field in [e["field"] for e in r.json()["errors"]]
    after = (await api.client.get(f"/v1/tasks/{created['id']}", headers=api.auth("bad"))).json()
    assert after == created


async def test_bad_if_match_is_422(api: Api) -> None:
    created = await api.create("bad")
    r = await api.client.patch(
        f"/v1/tasks/{created['id']}",
        json={"title": "x"},
        headers={**api.auth("bad"), "If-Match": "abc"},
    )
    assert r.status_code == 422


async def test_bad_task_id_is_422(api: Api) -> None:
    r = await api.client.get("/v1/tasks/not-a-uuid", headers=api.auth())
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "task_id"


async def test_bad_delete_scope_is_422(api: Api) -> None:
    r = await api.client.delete(f"/v1/tasks/{uuid.uuid4()}?scope=everything", headers=api.auth())
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "scope"


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Bearer nonsense", "Basic dXNlcjpwYXNz", "Token abc"],
)
async def test_missing_or_bad_token_is_401(api: Api, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    r = await api.client.get("/v1/tasks", headers=headers)
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert r.headers["content-type"].startswith("application/problem+json")


async def test_token_signed_with_another_secret_is_401(api: Api) -> None:
    from api.auth import issue_token

    forged = issue_token("some-other-secret", "alice")
    r = await api.client.get("/v1/tasks", headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401


async def test_expired_token_is_401(api: Api) -> None:
    from datetime import timedelta

    from api.auth import issue_token
    from tests.e2e.conftest import SECRET

    old = issue_token(SECRET, "alice", ttl=timedelta(seconds=-10))
    r = await api.client.get("/v1/tasks", headers={"Authorization": f"Bearer {old}"})
    assert r.status_code == 401
