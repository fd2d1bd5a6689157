"""HTTP API v1: tasks, end to end through the ASGI app and a real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid

from tests.e2e.conftest import NOW, Api


async def test_create_returns_the_full_task_with_the_zone_offset(api: Api) -> None:
    task = await api.create(
        title="Pay rent",
        description="flat 3",
        priority="high",
        tags=["home", "Money"],
        due_at="2027-03-01T09:00:00",
        timezone="Europe/London",
        reminders=[{"before_minutes": 60}, {"at": "2027-02-28T18:00:00"}],
    )
    assert task["title"] == "Pay rent"
    assert task["priority"] == "high"
    assert task["status"] == "open"
    assert task["tags"] == ["home", "Money"]  # case-insensitive name order
    assert task["due_at"] == "2027-03-01T09:00:00Z" or task["due_at"].endswith("+00:00")
    assert task["timezone"] == "Europe/London"
    assert task["version"] == 1
    assert task["recurrence"] is None and task["series_id"] is None
    fire = sorted(r["fire_at"] for r in task["reminders"])
    assert fire[0].startswith("2027-02-28T18:00:00")
    assert fire[1].startswith("2027-03-01T08:00:00")
    assert {r["state"] for r in task["reminders"]} == {"pending"}


async def test_wall_clock_due_time_uses_the_zone_offset_in_summer(api: Api) -> None:
    task = await api.create(due_at="2027-07-01T09:00:00", timezone="America/New_York")
    assert task["due_at"] == "2027-07-01T09:00:00-04:00"


async def test_due_time_with_an_offset_is_an_instant(api: Api) -> None:
    task = await api.create(due_at="2027-07-01T09:00:00+02:00", timezone="America/New_York")
    assert task["due_at"] == "2027-07-01T03:00:00-04:00"


async def test_get_returns_the_task_and_an_etag(api: Api) -> None:
    created = await api.create(title="get me")
    r = await api.client.get(f"/v1/tasks/{created['id']}", headers=api.auth())
    assert r.status_code == 200
    assert r.json() == created
    assert r.headers["etag"] == '"1"'


async def test_unknown_task_is_404_problem(api: Api) -> None:
    r = await api.client.get(f"/v1/tasks/{uuid.uuid4()}", headers=api.auth())
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["status"] == 404


async def test_patch_keeps_omitted_fields(api: Api) -> None:
    created = await api.create(
        title="keep",
        tags=["a"],
        due_at="2027-02-01T10:00:00",
        timezone="Europe/Paris",
        recurrence={"rrule": "FREQ=WEEKLY"},
        reminders=[{"before_minutes": 15}],
    )
    r = await api.client.patch(
        f"/v1/tasks/{created['id']}", json={"priority": "urgent"}, headers=api.auth()
    )
    assert r.status_code == 200, r.text
    task = r.json()
    assert task["priority"] == "urgent"
    for field in ("title", "tags", "due_at", "timezone", "recurrence", "series_id"):
        assert task[field] == created[field], field
    assert [x["before_minutes"] for x in task["reminders"]] == [15]
    assert task["version"] == 2


async def test_patch_moving_the_due_time_moves_relative_reminders(api: Api) -> None:
    created = await api.create(due_at="2027-02-01T10:00:00Z", reminders=[{"before_minutes": 30}])
    r = await api.client.patch(
        f"/v1/tasks/{created['id']}", json={"due_at": "2027-02-02T10:00:00Z"}, headers=api.auth()
    )
    assert r.json()["reminders"][0]["fire_at"].startswith("2027-02-02T09:30:00")


async def test_patch_with_a_stale_if_match_is_412_and_changes_nothing(api: Api) -> None:
    created = await api.create(title="v1")
    url = f"/v1/tasks/{created['id']}"
    ok = await api.client.patch(
        url, json={"title": "v2"}, headers={**api.auth(), "If-Match": '"1"'}
    )
    assert ok.status_code == 200
    stale = await api.client.patch(
        url, json={"title": "v3"}, headers={**api.auth(), "If-Match": "1"}
    )
    assert stale.status_code == 412
    assert (await api.client.get(url, headers=api.auth())).json()["title"] == "v2"


async def test_patch_recurrence_null_makes_a_one_off(api: Api) -> None:
    created = await api.create(due_at="2027-02-01T10:00:00Z", recurrence={"rrule": "FREQ=DAILY"})
    r = await api.client.patch(
        f"/v1/tasks/{created['id']}", json={"recurrence": None}, headers=api.auth()
    )
    assert r.json()["recurrence"] is None and r.json()["series_id"] is None


async def test_delete_removes_the_task(api: Api) -> None:
    created = await api.create()
    url = f"/v1/tasks/{created['id']}"
    assert (await api.client.delete(url, headers=api.auth())).status_code == 204
    assert (await api.client.get(url, headers=api.auth())).status_code == 404
    assert (await api.client.delete(url, headers=api.auth())).status_code == 404


async def test_completing_a_one_off_has_no_next(api: Api) -> None:
    created = await api.create()
    r = await api.client.post(f"/v1/tasks/{created['id']}/complete", headers=api.auth())
    assert r.status_code == 200
    body = r.json()
    assert body["task"]["status"] == "completed"
    assert body["task"]["completed_at"].startswith(NOW.strftime("%Y-%m-%dT%H:%M"))
    assert body["next"] is None


async def test_completing_twice_returns_the_same_result(api: Api) -> None:
    created = await api.create(due_at="2027-01-05T09:00:00Z", recurrence={"rrule": "FREQ=DAILY"})
    url = f"/v1/tasks/{created['id']}/complete"
    first = (await api.client.post(url, headers=api.auth())).json()
    second = (await api.client.post(url, headers=api.auth())).json()
    assert first["next"]["id"] == second["next"]["id"]
    assert first["task"]["status"] == second["task"]["status"] == "completed"


async def test_concurrent_completions_spawn_one_next_occurrence(api: Api) -> None:
    created = await api.create(due_at="2027-01-05T09:00:00Z", recurrence={"rrule": "FREQ=DAILY"})
    url = f"/v1/tasks/{created['id']}/complete"
    results = await asyncio.gather(*(api.client.post(url, headers=api.auth()) for _ in range(20)))
    assert {r.status_code for r in results} == {200}
    assert len({r.json()["next"]["id"] for r in results}) == 1
    page = await api.client.get(
        "/v1/tasks",
        params={"recurring": "true", "status": "open", "limit": 200},
        headers=api.auth(),
    )
    series = created["series_id"]
    assert sum(1 for t in page.json()["items"] if t["series_id"] == series) == 1


async def test_idempotency_key_replays_the_first_completion(api: Api) -> None:
    created = await api.create(due_at="2027-01-05T09:00:00Z", recurrence={"rrule": "FREQ=DAILY"})
    headers = {**api.auth(), "Idempotency-Key": "k-1"}
    url = f"/v1/tasks/{created['id']}/complete"
    first = await api.client.post(url, headers=headers)
    again = await api.client.post(url, headers=headers)
    assert first.json() == again.json()


async def test_idempotency_key_reused_for_another_request_is_409(api: Api) -> None:
    a = await api.create()
    b = await api.create()
    headers = {**api.auth(), "Idempotency-Key": "k-2"}
    assert (
        await api.client.post(f"/v1/tasks/{a['id']}/complete", headers=headers)
    ).status_code == 200
    r = await api.client.post(f"/v1/tasks/{b['id']}/complete", headers=headers)
    assert r.status_code == 409


async def test_create_with_idempotency_key_creates_once(api: Api) -> None:
    headers = {**api.auth("idem"), "Idempotency-Key": "create-1"}
    body = {"title": "once"}
    first = await api.client.post("/v1/tasks", json=body, headers=headers)
    second = await api.client.post("/v1/tasks", json=body, headers=headers)
    assert first.json()["id"] == second.json()["id"]
    page = await api.client.get("/v1/tasks", headers=api.auth("idem"))
    assert len(page.json()["items"]) == 1


async def test_skip_marks_skipped_and_spawns_next(api: Api) -> None:
    created = await api.create(due_at="2027-01-05T09:00:00Z", recurrence={"rrule": "FREQ=DAILY"})
    r = await api.client.post(f"/v1/tasks/{created['id']}/skip", headers=api.auth())
    body = r.json()
    assert body["task"]["status"] == "skipped"
    assert body["next"]["due_at"].startswith("2027-01-06T09:00:00")


async def test_completing_a_skipped_task_is_409(api: Api) -> None:
    created = await api.create()
    await api.client.post(f"/v1/tasks/{created['id']}/skip", headers=api.auth())
    r = await api.client.post(f"/v1/tasks/{created['id']}/complete", headers=api.auth())
    assert r.status_code == 409


async def test_completed_task_reminders_are_cancelled(api: Api) -> None:
    created = await api.create(due_at="2027-02-01T10:00:00Z", reminders=[{"before_minutes": 5}])
    r = await api.client.post(f"/v1/tasks/{created['id']}/complete", headers=api.auth())
    assert [x["state"] for x in r.json()["task"]["reminders"]] == ["cancelled"]


async def test_next_occurrence_carries_fields_and_relative_reminders(api: Api) -> None:
    created = await api.create(
        title="standup",
        priority="high",
        tags=["work"],
        due_at="2027-01-05T09:00:00",
        timezone="America/New_York",
        recurrence={"rrule": "FREQ=DAILY"},
        reminders=[{"before_minutes": 10}, {"at": "2027-01-05T08:00:00"}],
    )
    nxt = (await api.client.post(f"/v1/tasks/{created['id']}/complete", headers=api.auth())).json()[
        "next"
    ]
    assert nxt["title"] == "standup" and nxt["priority"] == "high" and nxt["tags"] == ["work"]
    assert nxt["occurrence_index"] == 1 and nxt["series_id"] == created["series_id"]
    assert [r["before_minutes"] for r in nxt["reminders"]] == [10]
    assert nxt["reminders"][0]["fire_at"].startswith("2027-01-06T13:50:00")


async def test_series_ends_with_count(api: Api) -> None:
    created = await api.create(
        due_at="2027-01-05T09:00:00Z", recurrence={"rrule": "FREQ=DAILY;COUNT=2"}
    )
    first = (
        await api.client.post(f"/v1/tasks/{created['id']}/complete", headers=api.auth())
    ).json()
    assert first["next"] is not None
    last = (
        await api.client.post(f"/v1/tasks/{first['next']['id']}/complete", headers=api.auth())
    ).json()
    assert last["next"] is None


async def test_delete_occurrence_moves_the_series_on(api: Api) -> None:
    created = await api.create(
        title="series-del", due_at="2027-01-05T09:00:00Z", recurrence={"rrule": "FREQ=DAILY"}
    )
    r = await api.client.delete(f"/v1/tasks/{created['id']}?scope=occurrence", headers=api.auth())
    assert r.status_code == 204
    page = (
        await api.client.get("/v1/tasks", params={"q": "series-del"}, headers=api.auth())
    ).json()
    assert [t["occurrence_index"] for t in page["items"]] == [1]


async def test_delete_series_removes_every_occurrence(api: Api) -> None:
    created = await api.create(
        title="series-gone", due_at="2027-01-05T09:00:00Z", recurrence={"rrule": "FREQ=DAILY"}
    )
    done = await api.client.post(f"/v1/tasks/{created['id']}/complete", headers=api.auth())
    nxt = done.json()["next"]
    r = await api.client.delete(f"/v1/tasks/{nxt['id']}?scope=series", headers=api.auth())
    assert r.status_code == 204
    page = (
        await api.client.get("/v1/tasks", params={"q": "series-gone"}, headers=api.auth())
    ).json()
    assert page["items"] == []


async def test_occurrences_preview(api: Api) -> None:
    created = await api.create(
        due_at="2027-03-12T09:00:00",
        timezone="America/New_York",
        recurrence={"rrule": "FREQ=DAILY"},
    )
    r = await api.client.get(f"/v1/tasks/{created['id']}/occurrences?count=4", headers=api.auth())
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["rrule"] == "FREQ=DAILY"
    assert body["summary"]
    # wall clock stays 09:00 across the 2027-03-14 DST change
    assert body["occurrences"] == [
        "2027-03-12T09:00:00-05:00",
        "2027-03-13T09:00:00-05:00",
        "2027-03-14T09:00:00-04:00",
        "2027-03-15T09:00:00-04:00",
    ]


async def test_occurrences_of_a_one_off_is_409(api: Api) -> None:
    created = await api.create()
    r = await api.client.get(f"/v1/tasks/{created['id']}/occurrences", headers=api.auth())
    assert r.status_code == 409


async def test_occurrences_count_out_of_range_is_422(api: Api) -> None:
    created = await api.create(due_at="2027-01-05T09:00:00Z", recurrence={"rrule": "FREQ=DAILY"})
    for count in (0, 101):
        r = await api.client.get(
            f"/v1/tasks/{created['id']}/occurrences?count={count}", headers=api.auth()
        )
        assert r.status_code == 422
        assert r.json()["errors"][0]["field"] == "count"


async def test_operations_are_404_without_a_saga_and_for_bad_ids(api: Api) -> None:
    # without a sidecar, completion finishes in its request: there is never an operation
    created = await api.create()
    for op in (f"complete-{created['id']}", "nonsense", f"complete-{uuid.uuid4()}"):
        r = await api.client.get(f"/v1/operations/{op}", headers=api.auth())
        assert r.status_code == 404, (op, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")


async def test_due_accepts_a_phrase_in_the_tasks_zone_and_echoes_the_time(api: Api) -> None:
    # NOW is Monday 2027-01-04 12:00 UTC, 07:00 in New York
    created = await api.create(
        "phrases", title="call", due_at="tomorrow 5pm", timezone="America/New_York"
    )
    assert created["due_at"] == "2027-01-05T17:00:00-05:00"
    r = await api.client.patch(
        f"/v1/tasks/{created['id']}", json={"due_at": "Friday at noon"}, headers=api.auth("phrases")
    )
    assert r.status_code == 200, r.text
    assert r.json()["due_at"] == "2027-01-08T12:00:00-05:00"


async def test_a_phrase_that_is_no_time_is_422_with_examples_and_writes_nothing(api: Api) -> None:
    r = await api.client.post(
        "/v1/tasks", json={"title": "x", "due_at": "whenever"}, headers=api.auth("no-phrase")
    )
    assert r.status_code == 422
    (error,) = r.json()["errors"]
    assert error["field"] == "due_at" and "tomorrow 5pm" in error["message"]
    listed = await api.client.get("/v1/tasks", headers=api.auth("no-phrase"))
    assert listed.json()["items"] == []
