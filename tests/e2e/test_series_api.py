"""Series control over HTTP (no sidecar: the in-process stand-in for the series actor):
describe, skip a chosen future date, pause, resume and end, checked against the chain of
due dates that completing the occurrences produces."""

from __future__ import annotations

import uuid

from tests.e2e.conftest import Api


async def daily(api: Api, user: str) -> dict:
    # NOW is Monday 2027-01-04 12:00 UTC: the first instance is Tuesday 09:00
    return await api.create(
        user,
        title="stand-up",
        due_at="2027-01-05T09:00:00Z",
        recurrence={"rrule": "FREQ=DAILY"},
        reminders=[{"before_minutes": 30}],
    )


def days(view: dict) -> list[str]:
    return [d[:10] for d in view["next_dates"]]


async def complete(api: Api, user: str, task_id: str) -> dict | None:
    r = await api.client.post(f"/v1/tasks/{task_id}/complete", headers=api.auth(user))
    assert r.status_code == 200, r.text
    return r.json()["next"]


async def test_describe_names_the_rule_state_open_occurrence_and_next_dates(api: Api) -> None:
    task = await daily(api, "series-describe")
    r = await api.client.get(f"/v1/series/{task['series_id']}", headers=api.auth("series-describe"))
    assert r.status_code == 200, r.text
    view = r.json()
    assert view["rrule"] == "FREQ=DAILY" and view["state"] == "active"
    assert view["summary"]
    assert view["open_task_id"] == task["id"] and view["open_due_at"].startswith("2027-01-05")
    assert days(view) == ["2027-01-06", "2027-01-07", "2027-01-08", "2027-01-09", "2027-01-10"]


async def test_a_skipped_date_is_left_out_of_the_chain(api: Api) -> None:
    user = "series-skip"
    task = await daily(api, user)
    url = f"/v1/series/{task['series_id']}"
    r = await api.client.post(f"{url}/skip", json={"date": "2027-01-07"}, headers=api.auth(user))
    assert r.status_code == 200, r.text
    assert days(r.json())[:3] == ["2027-01-06", "2027-01-08", "2027-01-09"]
    second = await complete(api, user, task["id"])
    assert second["due_at"].startswith("2027-01-06")
    third = await complete(api, user, second["id"])
    assert third["due_at"].startswith("2027-01-08")  # the 7th is gone, the rest stay


async def test_bad_dates_are_refused_by_field_or_as_conflicts(api: Api) -> None:
    user = "series-bad-date"
    weekly = await api.create(
        user,
        title="review",
        due_at="2027-01-05T09:00:00Z",
        recurrence={"rrule": "FREQ=WEEKLY;BYDAY=TU"},
    )
    url = f"/v1/series/{weekly['series_id']}/skip"
    for body, status in [
        ({"date": "2027-01-06"}, 422),  # a Wednesday: no instance
        ({"date": "not-a-date"}, 422),
        ({"date": "2027-01-12", "why": "x"}, 422),  # unknown field
        ({"date": "2027-01-05"}, 409),  # the open occurrence: skip that one instead
    ]:
        r = await api.client.post(url, json=body, headers=api.auth(user))
        assert r.status_code == status, (body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    view = (await api.client.get(f"/v1/series/{weekly['series_id']}", headers=api.auth(user)))
    assert view.json()["exdates"] == []


async def test_pause_spawns_nothing_and_holds_reminders_until_resume(api: Api) -> None:
    user = "series-pause"
    task = await daily(api, user)
    url = f"/v1/series/{task['series_id']}"

    async def upcoming() -> list[str]:
        r = await api.client.get("/v1/reminders/upcoming", headers=api.auth(user))
        return [i["task_id"] for i in r.json()["items"]]

    assert await upcoming() == [task["id"]]
    paused = await api.client.post(f"{url}/pause", headers=api.auth(user))
    assert paused.status_code == 200 and paused.json()["state"] == "paused"
    assert await upcoming() == []  # its reminders do not fire while paused
    resumed = await api.client.post(f"{url}/resume", headers=api.auth(user))
    assert resumed.json()["state"] == "active"
    assert await upcoming() == [task["id"]]
    nxt = await complete(api, user, task["id"])
    assert nxt is not None and nxt["due_at"].startswith("2027-01-06")
    await api.client.post(f"{url}/pause", headers=api.auth(user))
    assert await complete(api, user, nxt["id"]) is None  # paused: nothing spawns
    view = (await api.client.get(url, headers=api.auth(user))).json()
    assert view["open_task_id"] is None
    # resuming a series left without an open occurrence gives it the next one
    again = (await api.client.post(f"{url}/resume", headers=api.auth(user))).json()
    assert again["state"] == "active" and again["open_task_id"] is not None
    assert again["open_due_at"].startswith("2027-01-07")
    assert again["open_task_id"] in await upcoming()  # with its reminder
    twice = (await api.client.post(f"{url}/resume", headers=api.auth(user))).json()
    assert twice["open_task_id"] == again["open_task_id"]  # one, however often resumed


async def test_an_ended_series_has_no_next_dates_and_cannot_resume(api: Api) -> None:
    user = "series-end"
    task = await daily(api, user)
    url = f"/v1/series/{task['series_id']}"
    ended = await api.client.post(f"{url}/end", headers=api.auth(user))
    assert ended.status_code == 200
    assert ended.json()["state"] == "ended" and ended.json()["next_dates"] == []
    assert (await api.client.post(f"{url}/resume", headers=api.auth(user))).status_code == 409
    assert await complete(api, user, task["id"]) is None


async def test_another_users_series_is_404(api: Api) -> None:
    task = await daily(api, "series-owner")
    for method, path, body in [
        ("GET", f"/v1/series/{task['series_id']}", None),
        ("POST", f"/v1/series/{task['series_id']}/pause", None),
        ("POST", f"/v1/series/{task['series_id']}/skip", {"date": "2027-01-08"}),
        ("GET", f"/v1/series/{uuid.uuid4()}", None),
    ]:
        r = await api.client.request(method, path, json=body, headers=api.auth("series-intruder"))
        assert r.status_code == 404, (method, path, r.text)
    view = await api.client.get(f"/v1/series/{task['series_id']}", headers=api.auth("series-owner"))
    assert view.json()["state"] == "active"
