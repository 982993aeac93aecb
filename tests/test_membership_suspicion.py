from __future__ import annotations

import pytest

from trio_gossip.core.membership.awareness import apply_awareness_delta, scale_timeout
from trio_gossip.core.membership.suspicion import (
    Suspicion,
    confirmations_wanted,
    remaining_suspicion_time,
    suspicion_timeout,
)


@pytest.mark.parametrize(
    ("n", "expected"),
    [(0, 4.0), (1, 4.0), (10, 4.0), (32, 6.02), (50, 6.792), (100, 8.0), (1000, 12.0)],
)
def test_suspicion_timeout_lan_table(n: int, expected: float) -> None:
    # Spec 9.5 worked values: SuspicionMult 4, ProbeInterval 1 s (log10 truncated to 3 places).
    assert suspicion_timeout(4, n, 1.0) == pytest.approx(expected, abs=1e-9)
    assert 6 * suspicion_timeout(4, n, 1.0) == pytest.approx(6 * expected, abs=1e-9)


def test_suspicion_timeout_truncates_not_rounds() -> None:
    # log10(3) = 0.477 -> floor 1; log10(20) = 1.30103 -> 1.301 (not 1.30103).
    assert suspicion_timeout(1, 20, 1.0) == pytest.approx(1.301, abs=1e-12)
    assert suspicion_timeout(3, 3, 0.5) == pytest.approx(1.5)


@pytest.mark.parametrize(
    ("confirmations", "elapsed", "remaining"),
    [(0, 0.0, 30.0), (1, 2.0, 14.0), (2, 3.0, 4.81), (3, 4.0, -2.0)],
)
def test_remaining_time_upstream_vectors(
    confirmations: int, elapsed: float, remaining: float
) -> None:
    got = remaining_suspicion_time(confirmations, 3, elapsed, 2.0, 30.0)
    assert got == pytest.approx(remaining, abs=1e-9)


def test_k_from_suspicion_mult() -> None:
    assert confirmations_wanted(4, 10) == 2  # LAN
    assert confirmations_wanted(6, 10) == 4  # WAN
    assert confirmations_wanted(3, 10) == 1  # Local
    assert confirmations_wanted(4, 3) == 0  # n - 2 < k
    assert confirmations_wanted(4, 4) == 2


def _lan(n: int, now: float = 100.0) -> Suspicion:
    return Suspicion.begin(
        "accuser", now, n, suspicion_mult=4, suspicion_max_timeout_mult=6, probe_interval=1.0
    )


def test_lan_worked_example() -> None:
    s = _lan(10)
    assert (s.k, s.min_timeout, s.max_timeout) == (2, 4.0, 24.0)
    assert s.deadline == pytest.approx(124.0)
    one = s.confirm("b")
    assert one is not None
    assert one.timeout == pytest.approx(11.381)
    assert one.deadline == pytest.approx(111.381)
    two = one.confirm("c")
    assert two is not None
    assert two.timeout == pytest.approx(4.0)
    # k reached: more accusers change nothing.
    assert two.confirm("d") is None


def test_small_cluster_is_flat_min() -> None:
    s = _lan(3)
    assert s.k == 0
    assert s.timeout == pytest.approx(4.0)
    assert s.confirm("b") is None


def test_confirmations_must_be_distinct() -> None:
    s = _lan(10)
    assert s.confirm("accuser") is None  # the originator is pre-registered
    one = s.confirm("b")
    assert one is not None
    assert one.confirm("b") is None
    assert one.confirmations == 1


def test_awareness_clamps_and_scales() -> None:
    assert apply_awareness_delta(0, -1, 8) == 0
    assert apply_awareness_delta(0, 3, 8) == 3
    assert apply_awareness_delta(6, 5, 8) == 7
    assert apply_awareness_delta(7, -2, 8) == 5
    assert apply_awareness_delta(3, 1, 1) == 0
    assert scale_timeout(1.0, 0) == 1.0
    assert scale_timeout(0.5, 7) == 4.0
