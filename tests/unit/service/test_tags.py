"""Tags: counts, renaming (merging into an existing name), deleting, and dry runs."""

from __future__ import annotations

import pytest

from domain.errors import NotFound
from service import tags
from tests.fakes.uow import FakeUnitOfWork


def _names(uow: FakeUnitOfWork, user_id: str = "ann") -> list[str]:
    return sorted(g["name"] for g in uow.tables.tags.values() if g["user_id"] == user_id)


async def test_tags_are_listed_by_name_with_their_task_counts(uow: FakeUnitOfWork) -> None:
    uow.add_task("ann", tags=["work", "Home"])
    uow.add_task("ann", tags=["work"])
    uow.add_task("bob", tags=["work"])
    listed = await tags.list_tags(uow, "ann")
    assert [(t.name, t.count) for t in listed] == [("Home", 1), ("work", 2)]


async def test_renaming_bumps_each_tagged_task_and_says_so(uow: FakeUnitOfWork) -> None:
    tagged = uow.add_task("ann", tags=["wrk"])
    untagged = uow.add_task("ann")
    renamed = await tags.rename_tag(uow, "ann", " WRK ", "work")
    assert (renamed.name, renamed.count, renamed.merged) == ("work", 1, False)
    assert _names(uow) == ["work"]
    assert uow.tables.tasks[tagged]["version"] == 2
    assert uow.tables.tasks[untagged]["version"] == 1
    [event] = uow.published
    assert event.type == "task.updated"
    assert event.task_id == tagged
    assert event.data == {"changed": ["tags"], "renamed": {"from": " WRK ", "to": "work"}}


async def test_renaming_onto_an_existing_name_merges_the_two(uow: FakeUnitOfWork) -> None:
    both = uow.add_task("ann", tags=["job", "work"])
    job_only = uow.add_task("ann", tags=["job"])
    work_only = uow.add_task("ann", tags=["work"])
    renamed = await tags.rename_tag(uow, "ann", "job", "Work")
    assert (renamed.name, renamed.count, renamed.merged) == ("Work", 3, True)
    assert _names(uow) == ["Work"]
    [work] = uow.tables.tags
    assert uow.tables.task_tags == {(both, work), (job_only, work), (work_only, work)}
    assert sorted(e.task_id for e in uow.published) == sorted([both, job_only, work_only])


async def test_a_changed_case_is_a_rename_not_a_merge(uow: FakeUnitOfWork) -> None:
    uow.add_task("ann", tags=["work"])
    renamed = await tags.rename_tag(uow, "ann", "work", "Work")
    assert (renamed.name, renamed.merged) == ("Work", False)
    assert _names(uow) == ["Work"]


async def test_a_dry_run_reports_the_change_and_keeps_nothing(uow: FakeUnitOfWork) -> None:
    task = uow.add_task("ann", tags=["job", "work"])
    report = await tags.rename_tag(uow, "ann", "job", "work", dry_run=True)
    assert (report.count, report.merged, report.dry_run) == (1, True, True)
    assert _names(uow) == ["job", "work"]
    assert uow.tables.tasks[task]["version"] == 1
    assert uow.published == []


async def test_deleting_untags_every_task_and_records_each(uow: FakeUnitOfWork) -> None:
    first = uow.add_task("ann", tags=["old", "keep"])
    second = uow.add_task("ann", tags=["old"])
    report = await tags.delete_tag(uow, "ann", "OLD")
    assert report.untagged_task_ids == sorted([first, second])
    assert _names(uow) == ["keep"]
    assert {e.task_id for e in uow.published} == {first, second}
    assert all(e.data == {"changed": ["tags"], "tag_deleted": "OLD"} for e in uow.published)


async def test_a_dry_run_delete_lists_the_tasks_only(uow: FakeUnitOfWork) -> None:
    task = uow.add_task("ann", tags=["old"])
    report = await tags.delete_tag(uow, "ann", "old", dry_run=True)
    assert (report.untagged_task_ids, report.dry_run) == ([task], True)
    assert _names(uow) == ["old"]
    assert uow.published == []


async def test_another_users_tag_is_not_found(uow: FakeUnitOfWork) -> None:
    uow.add_task("bob", tags=["work"])
    with pytest.raises(NotFound):
        await tags.rename_tag(uow, "ann", "work", "job")
    with pytest.raises(NotFound):
        await tags.delete_tag(uow, "ann", "work")
    assert _names(uow, "bob") == ["work"]
