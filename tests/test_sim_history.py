"""The simulation's pure parts: the history record, the textbook bounds, scenario values."""

from __future__ import annotations

import math

import pytest

from trio_gossip.apps.sim.history import FactKind, History
from trio_gossip.apps.sim.scenario import Partition
from trio_gossip.core.config import Config
from trio_gossip.core.membership.bounds import (
    detection_formula,
    epidemic_rounds,
    epidemic_time,
    suspicion_window,
)


def test_history_keeps_the_first_time_per_incarnation() -> None:
    h = History()
    assert h.record(1.0, "a", "b", FactKind.ALIVE, 1)
    assert not h.record(2.0, "a", "b", FactKind.ALIVE, 1)  # same fact again
    assert h.record(3.0, "a", "b", FactKind.UPDATED, 2)
    assert h.record(4.0, "a", "b", FactKind.UPDATED, 3)
    assert h.first("a", "b", FactKind.ALIVE) == 1.0
    assert h.first("a", "b", FactKind.UPDATED) == 3.0
    assert h.first("b", "a", FactKind.ALIVE) is None
    assert h.first_times("b", FactKind.UPDATED, min_incarnation=3) == {"a": 4.0}
    assert len(h.facts) == 3


def test_history_takes_the_earliest_of_out_of_order_facts() -> None:
    # Sampled suspicions are recorded late, with the time they started.
    h = History()
    h.record(5.0, "a", "x", FactKind.SUSPECT, 1)
    h.record(4.5, "a", "x", FactKind.SUSPECT, 2)
    assert h.first("a", "x", FactKind.SUSPECT) == 4.5
    assert h.first_times("x", FactKind.SUSPECT) == {"a": 4.5}


def test_first_times_filters_observers_and_time() -> None:
    h = History()
    for i, observer in enumerate("abcd"):
        h.record(float(i), observer, "x", FactKind.DEAD, 1)
    assert h.first_times("x", FactKind.DEAD, observers=["b", "d", "z"]) == {"b": 1.0, "d": 3.0}
    assert h.first_times("x", FactKind.DEAD, since=2.0) == {"c": 2.0, "d": 3.0}
    assert h.count(FactKind.DEAD) == 4
    assert h.count(FactKind.DEAD, subjects=["y"]) == 0
    assert h.subjects(FactKind.DEAD) == {"x"}


def test_disabled_history_records_nothing() -> None:
    h = History()
    h.enabled = False
    assert not h.record(1.0, "a", "b", FactKind.ALIVE, 1)
    assert h.facts == []


def test_trace_holds_facts_then_notes() -> None:
    h = History()
    h.record(1.0, "a", "b", FactKind.LEFT, 2)
    h.note(0.5, "Kill(node='b')")
    assert h.trace() == [(1.0, "a", "b", "left", 2), (0.5, "", "Kill(node='b')", "note", 0)]


@pytest.mark.parametrize(
    ("n", "fanout", "rounds"),
    # Pittel's bound: N = 100 -> 4.9 (f=3) / 4.0 (f=4); 1,000 -> 7.3 / 6.0.
    [(100, 3, 4.9), (100, 4, 4.0), (1000, 3, 7.3), (1000, 4, 6.0), (10000, 3, 9.7)],
)
def test_epidemic_rounds_match_the_field_notes(n: int, fanout: int, rounds: float) -> None:
    assert epidemic_rounds(n, fanout) == pytest.approx(rounds, abs=0.05)


def test_epidemic_rounds_of_a_lone_node_is_zero() -> None:
    assert epidemic_rounds(1, 3) == 0.0
    assert epidemic_time(Config.lan(name="x"), 1) == 0.0


def test_epidemic_time_is_rounds_times_the_gossip_interval() -> None:
    cfg = Config.lan(name="x")
    assert epidemic_time(cfg, 100) == pytest.approx(epidemic_rounds(100, 3) * 0.2)


@pytest.mark.parametrize(
    ("n", "low", "high"),
    # suspicionTimeout's values (LAN): n <= 10 -> 4/24 s, 50 -> 6.792/40.752, 100 -> 8/48.
    [(5, 4.0, 24.0), (50, 6.792, 40.752), (100, 8.0, 48.0), (1000, 12.0, 72.0)],
)
def test_suspicion_window_matches_the_spec(n: int, low: float, high: float) -> None:
    got = suspicion_window(Config.lan(name="x"), n)
    assert got == pytest.approx((low, high))


def test_detection_formula_adds_probe_interval_timeout_and_suspicion() -> None:
    cfg = Config.lan(name="x")
    assert detection_formula(cfg, 50) == pytest.approx(1.0 + 0.5 + 6.792)
    assert detection_formula(cfg, 50, confirmed=False) == pytest.approx(1.0 + 0.5 + 40.752)
    assert math.isclose(detection_formula(cfg, 10), 5.5)


def test_partition_groups_become_tuples() -> None:
    step = Partition(1.0, [["a", "b"], ["c"]])
    assert step.groups == (("a", "b"), ("c",))
    assert step == Partition(1.0, (("a", "b"), ("c",)))
