"""The chaos lab's CAS figure on real sockets (tests/lab_cas.py): 10 KV nodes, each in its own
network namespace, make 100 concurrent CAS updates each of one ring key under 10% loss on every
link, split into halves in the middle of it; afterwards every view holds all 1,000 updates.
About a minute. benchmarks/bench_lab.py runs it with the partition held past
gossip_to_the_dead_time.

Needs root, iproute2 and nftables; fails (does not skip) without them, as CI has them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lab_cas import cas, lost_updates
from lab_support import Event, Fault, Lab, Outcome, fault_grace, lab_namespaces

pytestmark = pytest.mark.lab

HOSTS = 10
WRITES = 100
PACE = 0.25  # seconds between one node's writes, on average: 25 s of writing
LOSS = 0.10
PARTITION_AT = 8.0
PARTITION_SECONDS = 12.0  # long enough for dead verdicts across the cut (LAN suspicion ~4-6 s)


def test_lost_updates_counts_missing_tokens() -> None:
    expected = {"h00": [1, 2, 3], "h01": [4]}
    assert lost_updates(expected, {"h00": [1, 2, 3], "h01": [4]}) == 0
    assert lost_updates(expected, {"h00": [1, 3], "h01": [4, 9]}) == 1
    assert lost_updates(expected, {"h00": [1, 2, 3]}) == 1


def test_false_deaths_tell_a_verdict_heard_across_a_heal_from_one_made(tmp_path: Path) -> None:
    """h0 | h1 h2 apart from t=10 to t=20: h0's own verdict on h1 is the partition's; h2
    hearing it at the heal is too; h2's own verdict on h1, and one long after, are not."""
    lab = Lab(3, tmp_path)
    a, b = frozenset({"h00"}), frozenset({"h01", "h02"})
    lab.faults = [Fault("partition", 10.0, 20.0, b, a), Fault("partition", 10.0, 20.0, a, b)]
    made = Event(16.0, "h00", "failed", "h01")
    heard = Event(20.5, "h02", "failed", "h01")
    lab.events = [made, heard]
    lab.verdicts = [Event(16.0, "h00", "timed out", "h01")]
    assert lab.false_deaths() == []
    lab.verdicts.append(Event(20.4, "h02", "timed out", "h01"))
    assert lab.false_deaths() == [heard]
    late = Event(16.0 + fault_grace(lab.config, 3) + 5.0, "h02", "failed", "h01")
    lab.events.append(late)
    assert lab.false_deaths() == [heard, late]


def test_lab_cas(tmp_path: Path) -> None:
    out = Outcome()
    lab = Lab(HOSTS, tmp_path, profile="lan", reconnect_interval=5.0, cas_writes=WRITES,
              cas_pace=PACE)  # fmt: skip
    try:
        with lab:
            cas(lab, out, loss=LOSS, partition_at=PARTITION_AT,
                partition_seconds=PARTITION_SECONDS)  # fmt: skip
    finally:
        lab.close()
    report = "\n".join(f"{'ok  ' if c.ok else 'FAIL'} {c.what}: {c.value} (bound {c.bound})"
                       for c in out.checks)  # fmt: skip
    print(f"lab CAS, logs in {tmp_path}\n{report}")
    assert not lab.leftovers(), lab.leftovers()
    assert not lab_namespaces(lab.run)
    assert len(out.checks) == 4
    data = out.data["cas"]
    details = {x: data[x] for x in ("lost", "foreign", "converged_after", "false_deaths",
                                    "errors", "crashes")}  # fmt: skip
    # A false death's cause: the observer's lines naming the member and the member's own.
    traces = "\n".join(line for e in data["false_deaths"][:2] for line in lab.trace(Event(**e)))
    assert not [c for c in out.checks if not c.ok], f"{report}\n{details}\n{traces}"
