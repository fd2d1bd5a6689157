"""GET /v1/tasks: every filter, every sort, and cursor pagination at its boundaries."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.e2e.conftest import NOW, Api

USER = "lister"


@pytest.fixture(scope="module")
async def seeded(api: Api) -> dict[str, dict]:
    specs = {
        "rent": dict(
            title="Pay the rent",
            priority="urgent",
            tags=["home", "money"],
            due_at="2027-01-02T09:00:00Z",
        ),
        "taxes": dict(
            title="File taxes",
            description="rent receipts needed",
            priority="high",
            tags=["money"],
            due_at="2027-02-01T09:00:00Z",
        ),
        "plants": dict(
            title="Water plants",
            priority="low",
            tags=["home"],
            due_at="2027-01-10T09:00:00Z",
            recurrence={"rrule": "FREQ=WEEKLY"},
        ),
        "book": dict(title="Read a book", priority="medium"),
        "call": dict(
            title="Call mum", priority="medium", tags=["family"], due_at="2026-12-30T18:00:00Z"
        ),
    }
    created = {}
    for key, body in specs.items():
        api.clock.advance(timedelta(seconds=1))  # distinct creation times, in this order
        created[key] = await api.create(USER, **body)
    api.clock.set(NOW)
    await api.client.post(f"/v1/tasks/{created['call']['id']}/complete", headers=api.auth(USER))
    return created


async def titles(api: Api, **params) -> list[str]:
    r = await api.client.get("/v1/tasks", params=params, headers=api.auth(USER))
    assert r.status_code == 200, r.text
    return [t["title"] for t in r.json()["items"]]


async def test_default_sort_is_due_date_with_undated_last(api: Api, seeded) -> None:
    assert await titles(api) == [
        "Call mum",
        "Pay the rent",
        "Water plants",
        "File taxes",
        "Read a book",
    ]


async def test_sort_descending_due_keeps_undated_last(api: Api, seeded) -> None:
    assert await titles(api, sort="-due_at") == [
        "File taxes",
        "Water plants",
        "Pay the rent",
        "Call mum",
        "Read a book",
    ]


async def test_sort_by_priority(api: Api, seeded) -> None:
    order = await titles(api, sort="-priority")
    assert order[:2] == ["Pay the rent", "File taxes"]
    assert order[-1] == "Water plants"
    assert (await titles(api, sort="priority"))[0] == "Water plants"


async def test_sort_by_title_and_created(api: Api, seeded) -> None:
    assert await titles(api, sort="title") == sorted(await titles(api, sort="title"))
    assert await titles(api, sort="created_at") == [
        "Pay the rent",
        "File taxes",
        "Water plants",
        "Read a book",
        "Call mum",
    ]
    assert await titles(api, sort="-created_at") == list(
        reversed(await titles(api, sort="created_at"))
    )


async def test_filter_status(api: Api, seeded) -> None:
    assert await titles(api, status="completed") == ["Call mum"]
    assert "Call mum" not in await titles(api, status="open")


async def test_filter_priority_is_repeatable(api: Api, seeded) -> None:
    got = await titles(api, priority=["urgent", "low"])
    assert sorted(got) == ["Pay the rent", "Water plants"]


async def test_filter_tags_must_all_match_case_insensitively(api: Api, seeded) -> None:
    assert sorted(await titles(api, tag="money")) == ["File taxes", "Pay the rent"]
    assert await titles(api, tag=["MONEY", "home"]) == ["Pay the rent"]
    assert await titles(api, tag="nope") == []


async def test_filter_due_window(api: Api, seeded) -> None:
    got = await titles(api, due_after="2027-01-01T00:00:00Z", due_before="2027-01-31T00:00:00Z")
    assert got == ["Pay the rent", "Water plants"]


async def test_filter_overdue(api: Api, seeded) -> None:
    # the suite's clock is 2027-01-04 12:00 UTC; "Call mum" is overdue but completed
    assert await titles(api, overdue="true") == ["Pay the rent"]
    assert "Pay the rent" not in await titles(api, overdue="false")


async def test_filter_recurring(api: Api, seeded) -> None:
    assert await titles(api, recurring="true") == ["Water plants"]
    assert "Water plants" not in await titles(api, recurring="false")


async def test_full_text_search_ranks_title_above_description(api: Api, seeded) -> None:
    assert await titles(api, q="rent") == ["Pay the rent", "File taxes"]
    assert await titles(api, q="rent", sort="title") == ["File taxes", "Pay the rent"]


async def test_full_text_search_with_two_words(api: Api, seeded) -> None:
    assert await titles(api, q="water plants") == ["Water plants"]


async def test_relevance_without_q_is_422(api: Api, seeded) -> None:
    r = await api.client.get("/v1/tasks", params={"sort": "relevance"}, headers=api.auth(USER))
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "sort"


@pytest.mark.parametrize(
    "sort", ["due_at", "-due_at", "priority", "-priority", "created_at", "-created_at", "title"]
)
async def test_pagination_walks_every_task_once_in_order(api: Api, seeded, sort: str) -> None:
    everything = await titles(api, sort=sort, limit=200)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"sort": sort, "limit": 2}
        if cursor:
            params["cursor"] = cursor
        r = await api.client.get("/v1/tasks", params=params, headers=api.auth(USER))
        body = r.json()
        assert len(body["items"]) <= 2
        seen += [t["title"] for t in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == everything
    assert pages == 3


async def test_pagination_by_relevance(api: Api, seeded) -> None:
    first = (
        await api.client.get("/v1/tasks", params={"q": "rent", "limit": 1}, headers=api.auth(USER))
    ).json()
    assert [t["title"] for t in first["items"]] == ["Pay the rent"]
    second = (
        await api.client.get(
            "/v1/tasks",
            params={"q": "rent", "limit": 1, "cursor": first["next_cursor"]},
            headers=api.auth(USER),
        )
    ).json()
    assert [t["title"] for t in second["items"]] == ["File taxes"]
    assert second["next_cursor"] is None


async def test_exact_page_boundary_has_no_next_cursor(api: Api, seeded) -> None:
    r = await api.client.get("/v1/tasks", params={"limit": 5}, headers=api.auth(USER))
    assert len(r.json()["items"]) == 5 and r.json()["next_cursor"] is None


@pytest.mark.parametrize("limit", ["0", "201", "-1", "x"])
async def test_limit_out_of_range_is_422(api: Api, seeded, limit: str) -> None:
    r = await api.client.get("/v1/tasks", params={"limit": limit}, headers=api.auth(USER))
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "limit"


@pytest.mark.parametrize("cursor", ["garbage", "eyJzIjoidGl0bGUiLCJrIjpbXX0", "e30"])
async def test_bad_cursor_is_422(api: Api, seeded, cursor: str) -> None:
    r = await api.client.get("/v1/tasks", params={"cursor": cursor}, headers=api.auth(USER))
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "cursor"


async def test_cursor_from_another_sort_is_422(api: Api, seeded) -> None:
    r = await api.client.get("/v1/tasks", params={"limit": 1}, headers=api.auth(USER))
    cursor = r.json()["next_cursor"]
    r = await api.client.get(
        "/v1/tasks", params={"limit": 1, "cursor": cursor, "sort": "title"}, headers=api.auth(USER)
    )
    assert r.status_code == 422


async def test_unknown_query_parameter_is_422(api: Api, seeded) -> None:
    r = await api.client.get("/v1/tasks", params={"colour": "red"}, headers=api.auth(USER))
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "colour"
