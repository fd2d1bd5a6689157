"""Users never see or touch each other's tasks (OWASP API1): their ids are 404s."""

from __future__ import annotations

from tests.e2e.conftest import Api


async def test_another_users_task_is_404_for_every_verb(api: Api) -> None:
    task = await api.create(
        "owner",
        title="secret",
        tags=["private"],
        due_at="2027-01-05T09:00:00Z",
        recurrence={"rrule": "FREQ=DAILY"},
    )
    url = f"/v1/tasks/{task['id']}"
    intruder = api.auth("intruder")
    calls = [
        api.client.get(url, headers=intruder),
        api.client.patch(url, json={"title": "pwned"}, headers=intruder),
        api.client.post(f"{url}/complete", headers=intruder),
        api.client.post(f"{url}/skip", headers=intruder),
        api.client.get(f"{url}/occurrences", headers=intruder),
        api.client.delete(url, headers=intruder),
        api.client.patch("/v1/tags/private", json={"name": "mine"}, headers=intruder),
        api.client.delete("/v1/tags/private", headers=intruder),
    ]
    for call in calls:
        r = await call
        assert r.status_code == 404, (r.request.method, r.request.url, r.text)
    owner_view = (await api.client.get(url, headers=api.auth("owner"))).json()
    assert owner_view == task


async def test_lists_search_and_tags_are_per_user(api: Api) -> None:
    await api.create("u1", title="alpha zebra", tags=["shared-name"])
    await api.create("u2", title="beta zebra", tags=["shared-name"])
    for user, title in (("u1", "alpha zebra"), ("u2", "beta zebra")):
        page = (
            await api.client.get("/v1/tasks", params={"q": "zebra"}, headers=api.auth(user))
        ).json()
        assert [t["title"] for t in page["items"]] == [title]
        listed = (await api.client.get("/v1/tasks", headers=api.auth(user))).json()
        assert [t["title"] for t in listed["items"]] == [title]
        tags = (await api.client.get("/v1/tags", headers=api.auth(user))).json()
        assert tags == [{"name": "shared-name", "count": 1}]
