"""A study's progress reports (``spread_study(on_progress=...)``, ``Cluster.on_progress``)
come from the tasks already running, so a run with them has the history of a run without."""

from __future__ import annotations

from itertools import pairwise

from trio_gossip.apps.sim.studies import spread_study


def test_progress_reports_leave_the_history_alone() -> None:
    reports: list[tuple[float, int, int]] = []
    quiet = spread_study(nodes=40, seed=3, record_join=False)
    watched = spread_study(nodes=40, seed=3, record_join=False,
                           on_progress=lambda *r: reports.append(r))  # fmt: skip
    assert watched == quiet
    times = [t for t, _, _ in reports]
    assert len(reports) >= 2
    assert all(b - a >= 1.0 for a, b in pairwise(times))  # one a second
    assert all(0 <= joined <= 40 and 0 <= complete <= 40 for _, joined, complete in reports)
    assert reports[-1][1] == 40  # every join had returned by the last report
