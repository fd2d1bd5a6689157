"""Tags: list with counts, rename (merging duplicates), delete."""

from __future__ import annotations

from tests.e2e.conftest import Api

USER = "tagger"


async def tags(api: Api) -> list[dict]:
    return (await api.client.get("/v1/tags", headers=api.auth(USER))).json()


async def test_tags_are_unique_per_user_case_insensitively(api: Api) -> None:
    await api.create(USER, title="one", tags=["Work", "work", "WORK "])
    await api.create(USER, title="two", tags=["work"])
    assert await tags(api) == [{"name": "Work", "count": 2}]


async def test_rename_and_merge(api: Api) -> None:
    a = await api.create(USER, title="a", tags=["errand"])
    await api.create(USER, title="b", tags=["chore", "errand"])
    await api.create(USER, title="c", tags=["chore"])
    r = await api.client.patch("/v1/tags/errand", json={"name": "Chore"}, headers=api.auth(USER))
    assert r.status_code == 200, r.text
    assert r.json() == {"name": "Chore", "count": 3}
    names = {t["name"]: t["count"] for t in await tags(api)}
    assert "errand" not in names and names["Chore"] == 3
    task = (await api.client.get(f"/v1/tasks/{a['id']}", headers=api.auth(USER))).json()
    assert task["tags"] == ["Chore"] and task["version"] == 2


async def test_rename_to_itself_in_another_case(api: Api) -> None:
    await api.create(USER, title="d", tags=["urgentish"])
    r = await api.client.patch(
        "/v1/tags/urgentish", json={"name": "UrgentIsh"}, headers=api.auth(USER)
    )
    assert r.json() == {"name": "UrgentIsh", "count": 1}


async def test_delete_tag_removes_it_from_tasks(api: Api) -> None:
    t = await api.create(USER, title="e", tags=["temp", "keep"])
    assert (await api.client.delete("/v1/tags/TEMP", headers=api.auth(USER))).status_code == 204
    task = (await api.client.get(f"/v1/tasks/{t['id']}", headers=api.auth(USER))).json()
    assert task["tags"] == ["keep"]
    assert (await api.client.delete("/v1/tags/temp", headers=api.auth(USER))).status_code == 404


async def test_rename_unknown_tag_is_404_and_bad_name_is_422(api: Api) -> None:
    r = await api.client.patch("/v1/tags/nope", json={"name": "x"}, headers=api.auth(USER))
    assert r.status_code == 404
    await api.create(USER, title="f", tags=["ok"])
    r = await api.client.patch("/v1/tags/ok", json={"name": ""}, headers=api.auth(USER))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "name"
    r = await api.client.patch("/v1/tags/ok", json={"name": "y", "x": 1}, headers=api.auth(USER))
    assert r.status_code == 422
