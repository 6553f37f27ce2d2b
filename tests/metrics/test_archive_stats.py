"""The archive's counting API keeps its labels bounded (the cardinality rule)."""

from __future__ import annotations

from hush.metrics.archive import MAX_BACKENDS, ArchiveStats


def test_vocabularies_and_backends_are_bounded() -> None:
    archive = ArchiveStats()
    assert not archive.used
    for index in range(3 * MAX_BACKENDS):
        archive.query(f"backend{index}", "topics", 0.001)
        archive.request(f"dialect{index}", f"result{index}", 0.01, backend=f"backend{index}")
    assert archive.used
    assert len({backend for backend, _ in archive.query_seconds}) == MAX_BACKENDS + 1  # + other
    assert set(archive.requests) == {("other", "other")}
    assert archive.requests["other", "other"] == 3 * MAX_BACKENDS
    archive.set_archived("sqlite", 5)  # sqlite is past the cap here: it counts under other
    archive.archived("sqlite", 2)
    archive.pruned("sqlite", 10)
    assert archive.archived_now == {"other": 0} and archive.pruned_total == {"other": 10}
    archive.history("completed", 0.5)
    archive.history("bogus")
    assert archive.history_requests == {"completed": 1, "other": 1}
    assert archive.history_seconds.count == 1
