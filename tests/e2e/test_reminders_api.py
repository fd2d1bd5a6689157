"""HTTP parity for reminders: upcoming, snooze and explain, as the MCP tools have them,
scoped to the caller, with bad input refused by field."""

from __future__ import annotations

import uuid

from tests.e2e.conftest import NOW, Api


async def a_reminder(api: Api, user: str) -> tuple[dict, dict]:
    task = await api.create(
        user,
        title="pay rent",
        due_at="2027-01-10T09:00:00Z",
        reminders=[{"before_minutes": 60}],
    )
    return task, task["reminders"][0]


async def test_upcoming_lists_the_callers_pending_reminders_soonest_first(api: Api) -> None:
    task, reminder = await a_reminder(api, "rem-owner")
    r = await api.client.get("/v1/reminders/upcoming", headers=api.auth("rem-owner"))
    assert r.status_code == 200
    items = r.json()["items"]
    assert [i["reminder"]["id"] for i in items] == [reminder["id"]]
    assert items[0]["task_id"] == task["id"] and items[0]["task_title"] == "pay rent"
    soon = await api.client.get(
        "/v1/reminders/upcoming", params={"within_hours": 1}, headers=api.auth("rem-owner")
    )
    assert soon.json()["items"] == []  # it fires in six days
    theirs = await api.client.get("/v1/reminders/upcoming", headers=api.auth("rem-stranger"))
    assert theirs.json()["items"] == []


async def test_snooze_moves_the_fire_time_and_replays_under_its_key(api: Api) -> None:
    _, reminder = await a_reminder(api, "rem-snoozer")
    url = f"/v1/reminders/{reminder['id']}/snooze"
    headers = {**api.auth("rem-snoozer"), "Idempotency-Key": "snooze-1"}
    first = await api.client.post(url, json={"minutes": 30}, headers=headers)
    assert first.status_code == 200, first.text
    assert first.json()["fire_at"].startswith(f"{NOW.date()}T12:30")
    again = await api.client.post(url, json={"minutes": 30}, headers=headers)
    assert again.json() == first.json()
    explained = await api.client.get(
        f"/v1/reminders/{reminder['id']}/explain", headers=api.auth("rem-snoozer")
    )
    assert explained.status_code == 200
    assert explained.json()["fire_at_utc"].startswith(f"{NOW.date()}T12:30")
    assert explained.json()["why"]


async def test_bad_snoozes_name_the_field_and_change_nothing(api: Api) -> None:
    _, reminder = await a_reminder(api, "rem-bad")
    url = f"/v1/reminders/{reminder['id']}/snooze"
    explain = f"/v1/reminders/{reminder['id']}/explain"
    before = (await api.client.get(explain, headers=api.auth("rem-bad"))).json()
    for body, field in [
        ({"minutes": 30, "until": "2027-01-05T09:00:00"}, "minutes"),
        ({}, "minutes"),
        ({"minutes": 0}, "minutes"),
        ({"minutes": 5, "colour": "red"}, "colour"),
        ({"until": "2020-01-01T09:00:00Z"}, "until"),
    ]:
        r = await api.client.post(url, json=body, headers=api.auth("rem-bad"))
        assert r.status_code == 422, (body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert field in {e["field"] for e in r.json()["errors"]}, (body, r.json())
    after = (await api.client.get(explain, headers=api.auth("rem-bad"))).json()
    assert after == before and after["fire_at_utc"].startswith("2027-01-10T08:00")


async def test_another_users_reminder_is_404(api: Api) -> None:
    _, reminder = await a_reminder(api, "rem-private")
    for method, path, body in [
        ("POST", f"/v1/reminders/{reminder['id']}/snooze", {"minutes": 5}),
        ("GET", f"/v1/reminders/{reminder['id']}/explain", None),
        ("GET", f"/v1/reminders/{uuid.uuid4()}/explain", None),
    ]:
        r = await api.client.request(method, path, json=body, headers=api.auth("rem-intruder"))
        assert r.status_code == 404, (method, path, r.text)
