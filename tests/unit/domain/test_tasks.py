"""Task rules of the pure core."""

import uuid

from domain.tasks import occurrence_id


def test_occurrence_ids_are_stable_and_distinct() -> None:
    series, other = uuid.uuid4(), uuid.uuid4()
    assert occurrence_id(series, 3) == occurrence_id(series, 3)
    ids = {occurrence_id(series, i) for i in range(1, 200)} | {occurrence_id(other, 1)}
    assert len(ids) == 200
    assert series not in ids  # never the id of the series (or of its first task)
