"""trio_gossip agents and real Serf agents in one cluster: join both ways, crashes, leaves.

Every agent is a separate process on loopback (127.x.y.N, random per test); Serf's view is
read through its RPC, ours through the agent's HTTP endpoint. Waits are polls with deadlines.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from interop.lab import Lab, alive, detection_bound, open_lab
from interop.procs import wait_until

from trio_gossip.core.config import Config
from trio_gossip.core.membership.bounds import anti_entropy_time

pytestmark = pytest.mark.interop


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    yield from open_lab(tmp_path)


SERF_TAGS = {
    "serf-a": {"role": "web", "dc": "lo"},
    "serf-b": {"role": "db", "dc": "lo"},
    "serf-c": {"role": "cache", "dc": "lo"},
}
PY_TAGS = {"role": "py", "dc": "lo", "version": "0.1.0"}


def _serf_cluster(lab: Lab, names: list[str]) -> None:
    first = lab.serf(names[0], tags=SERF_TAGS.get(names[0]))
    for name in names[1:]:
        lab.serf(name, tags=SERF_TAGS.get(name)).rpc().join(first.gossip_address)
    lab.wait_views(alive(*names), 5.0, "the Serf cluster to form")


def test_a_trio_agent_joins_a_serf_cluster(lab: Lab) -> None:
    _serf_cluster(lab, ["serf-a", "serf-b", "serf-c"])
    a = lab.serfs["serf-a"]
    py = lab.trio("py-1", join=[a.gossip_address], tags=PY_TAGS)
    # Start the clock once the join push/pull is done: the agent knows more than itself.
    wait_until(lambda: len(py.members()) >= 4, 10.0, interval=0.01, what="py-1 to join")
    took = lab.wait_views(alive("serf-a", "serf-b", "serf-c", "py-1"), 5.0, "convergence")
    print(f"every agent lists all four alive {took:.3f}s after the join")
    assert took < 1.0

    for serf in lab.serfs.values():
        seen = serf.rpc().members()["py-1"]
        assert seen["Tags"] == PY_TAGS
        assert seen["Status"] == "alive"
        # memberlist protocol 1..5 at 2, Serf's delegate range 2..5 at 5: verifyProtocol passes.
        versions = [
            seen[k]
            for k in (
                "ProtocolMin",
                "ProtocolMax",
                "ProtocolCur",
                "DelegateMin",
                "DelegateMax",
                "DelegateCur",
            )
        ]
        assert versions == [1, 5, 2, 2, 5, 5]
    ours = py.members()
    for name, tags in SERF_TAGS.items():
        assert ours[name]["state"] == "alive"
        assert ours[name]["tags"] == tags
        assert ours[name]["delegate"] == [2, 5, 5]
    assert py.stats()["node"]["bad_packets"] == 0


def test_a_serf_crash_is_detected_by_every_trio_agent(lab: Lab) -> None:
    a = lab.serf("serf-a", tags=SERF_TAGS["serf-a"])
    t1 = lab.trio("py-1", join=[a.gossip_address])
    t2 = lab.trio("py-2", join=[a.gossip_address])
    lab.wait_views(alive("serf-a", "py-1", "py-2"), 5.0, "the cluster to form")

    a.process.kill()
    start = time.monotonic()
    bound = detection_bound(3)

    def both_failed() -> bool:
        return all(t.statuses().get("serf-a") == "failed" for t in (t1, t2))

    wait_until(both_failed, bound, what="both trio agents to declare serf-a failed")
    took = time.monotonic() - start
    print(
        f"kill -9 of serf-a: both trio agents report it failed after {took:.2f}s"
        f" (bound {bound:.1f}s; Serf itself takes about 5.4s)"
    )
    assert t1.statuses()["py-2"] == "alive"


def test_trio_agent_sigkill_is_failed_and_sigterm_is_left_for_serf(lab: Lab) -> None:
    _serf_cluster(lab, ["serf-a", "serf-b"])
    a = lab.serfs["serf-a"]
    crash = lab.trio("py-crash", join=[a.gossip_address])
    lab.wait_views(alive("serf-a", "serf-b", "py-crash"), 5.0, "py-crash to join")

    crash.process.kill()
    del lab.trios["py-crash"]
    start = time.monotonic()
    bound = detection_bound(3)
    lab.wait_views({"py-crash": "failed"}, bound, "Serf to mark py-crash failed")
    print(f"SIGKILL of py-crash: Serf shows it failed after {time.monotonic() - start:.2f}s")

    polite = lab.trio("py-polite", join=[a.gossip_address])
    lab.wait_views(alive("serf-a", "serf-b", "py-polite"), 5.0, "py-polite to join")
    polite.process.signal(signal.SIGTERM)
    del lab.trios["py-polite"]
    start = time.monotonic()
    # Leave intent, memberlist leave, 1 s propagation stay: a few seconds at most.
    lab.wait_views({"py-polite": "left"}, 10.0, "Serf to mark py-polite left")
    print(f"SIGTERM of py-polite: Serf shows it left after {time.monotonic() - start:.2f}s")
    assert polite.process.wait(10.0) == 0
    log = polite.process.log()
    assert "leaving gracefully" in log
    # It never looked failed to any Serf agent on the way.
    for serf in lab.serfs.values():
        assert serf.statuses()["py-polite"] == "left"


def test_a_mixed_cluster_of_five_and_five_survives_one_kill_of_each(lab: Lab) -> None:
    serfs = [f"serf-{i}" for i in range(5)]
    trios = [f"py-{i}" for i in range(5)]
    seed = lab.serf(serfs[0])
    for name in serfs[1:]:
        lab.serf(name).rpc().join(seed.gossip_address)
    for i, name in enumerate(trios):
        # Each trio agent joins through a different Serf agent.
        lab.trio(name, join=[lab.serfs[serfs[i]].gossip_address], tags={"idx": str(i)})
    # Usually within a second by gossip; an agent that missed every copy of an alive (each
    # is sent a fixed number of times) learns it at its next push/pull, as in Go.
    bound = anti_entropy_time(Config.lan(name="bound"), len(serfs) + len(trios))
    took = lab.wait_views(alive(*serfs, *trios), bound, "the mixed cluster to converge")
    print(f"10 agents converged {took:.2f}s after the last start")

    lab.serfs[serfs[4]].process.kill()
    lab.trios[trios[4]].process.kill()
    del lab.serfs[serfs[4]], lab.trios[trios[4]]
    start = time.monotonic()
    expected = {**alive(*serfs[:4], *trios[:4]), serfs[4]: "failed", trios[4]: "failed"}
    lab.wait_views(expected, detection_bound(10), "every survivor to agree")
    print(f"all 8 survivors agree on both failures {time.monotonic() - start:.2f}s after the kills")
    views = lab.views()
    assert len(views) == 8
    for observer, view in views.items():
        # Same membership everywhere: the same ten names, the same two failed.
        assert set(view) == set(serfs) | set(trios), observer
        assert {n for n, s in view.items() if s == "failed"} == {serfs[4], trios[4]}, observer
