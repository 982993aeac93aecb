"""Lifeguard earns its keep: 50 nodes, 5 of them slow (everything reaches them 0.6 s late,
0.1 s past the probe timeout), 10% packet loss everywhere. Nobody dies, so every dead verdict
is a false positive. "Off" is plain SWIM: no local health (awareness_max_multiplier=1) and a
flat suspicion timeout (suspicion_max_timeout_mult=1); the buddy system stays on (the node
has no switch for it).

Where the false positives come from, with Lifeguard on: a node that misses every copy of a
refutation (10% loss) keeps a stale suspicion; Lifeguard gives it the long timeout (6x) to
hear the news by gossip or push/pull, plain SWIM only the short one.
Measured over 10 minutes with the engine (benchmarks/bench_sim_lifeguard.py): healthy nodes
declared dead, on against off: 2 against 14 (seed 1), 0 against 17 (seed 2); verdicts about
any live node 8 against 17 and 3 against 25; suspicions started 0.7 times as many. The seeds
give other schedules than before the engine (its random draws come in another order), so the
seeds below were chosen again from these runs.
"""

from __future__ import annotations

import pytest

from trio_gossip.apps.sim.studies import false_positive_study


def test_lifeguard_cuts_false_positives_in_the_first_minute() -> None:
    """The quick version (about 25 s wall). Measured for seeds 1-8, healthy nodes declared
    dead: on 0 for every seed, off 1, 0, 1, 1, 4, 0, 2, 2; suspicions started: about 3,200 on
    against 4,600 off. (A minute is short: plain SWIM's false deaths vary by seed.)"""
    on = false_positive_study(seed=5, minutes=1, lifeguard=True)
    off = false_positive_study(seed=5, minutes=1, lifeguard=False)
    assert off.healthy_nodes > 0, "the disturbance must hurt plain SWIM, or this proves nothing"
    assert on.healthy_nodes < off.healthy_nodes
    assert on.live_verdicts < off.live_verdicts
    # Local health: a node that misses acks probes (and so accuses) less often.
    assert on.suspicions < 0.85 * off.suspicions


@pytest.mark.slow
def test_lifeguard_cuts_false_positives_over_four_minutes() -> None:
    """Four simulated minutes (about 50 s wall on a shared 2-core machine); the ten-minute
    study over several seeds is benchmarks/bench_sim_lifeguard.py."""
    on = false_positive_study(seed=2, minutes=4, lifeguard=True)
    off = false_positive_study(seed=2, minutes=4, lifeguard=False)
    assert on.healthy_nodes < off.healthy_nodes
    assert 2 * on.live_verdicts <= off.live_verdicts
    assert on.suspicions < off.suspicions
