"""The simulation harness: joins, scenario steps, the history it records, and replayability."""

from __future__ import annotations

import random
from typing import Literal

import pytest
import trio
from trio._core import _run as trio_run_internals

from trio_gossip import BaseDelegate, Member, MemberEvent
from trio_gossip.apps.sim import (
    ClusterSpec,
    FactKind,
    Heal,
    Kill,
    Leave,
    NodeStatus,
    Partition,
    Pause,
    Resume,
    SetLoss,
    Slow,
    UpdateMeta,
    open_cluster,
    run_simulation,
)
from trio_gossip.core.config import Config
from trio_gossip.core.membership.bounds import epidemic_time, join_timeout, suspicion_window

CONFIG = Config.lan(name="sim")


def kill_timeout(n: int) -> float:
    _, high = suspicion_window(CONFIG, n)
    return n * CONFIG.probe_interval + high + 10 * CONFIG.gossip_interval


def test_run_simulation_returns_the_result_on_the_mock_clock() -> None:
    async def main() -> float:
        await trio.sleep(3600)
        return trio.current_time()

    assert run_simulation(main, seed=1) == 3600.0


def test_deterministic_scheduler_restores_trio() -> None:
    before = trio_run_internals._r.getstate()
    flag = trio_run_internals._ALLOW_DETERMINISTIC_SCHEDULING

    async def main() -> bool:
        return bool(trio_run_internals._ALLOW_DETERMINISTIC_SCHEDULING)

    assert run_simulation(main, seed=5)
    assert trio_run_internals._r.getstate() == before
    assert flag == trio_run_internals._ALLOW_DETERMINISTIC_SCHEDULING


@pytest.mark.parametrize("join", ["seed", "staggered"])
def test_cluster_joins_converges_and_records_joins(join: Literal["seed", "staggered"]) -> None:
    n = 8
    spec = ClusterSpec(nodes=n, seed=3, config=CONFIG, join=join)

    async def main() -> None:
        async with open_cluster(spec) as cluster:
            took = await cluster.join()
            assert took >= (n - 1) * spec.join_spacing
            assert all(sim.joined_at is not None for sim in cluster.nodes)
            await cluster.wait_converged(timeout=join_timeout(CONFIG, n))
            assert cluster.converged()
            names = cluster.live_names()
            for sim in cluster.nodes:
                assert sorted(m.name for m in sim.memberlist.members()) == names
                # Every node recorded every member (itself included) as alive.
                seen = {f.subject for f in cluster.history.facts
                        if f.observer == sim.name and f.kind == FactKind.ALIVE}  # fmt: skip
                assert seen == set(names)
            assert cluster.join_failures == 0

    run_simulation(main, seed=spec.seed)


def test_kill_is_detected_by_every_survivor_and_not_before_suspicion() -> None:
    n = 10
    spec = ClusterSpec(nodes=n, seed=11, config=CONFIG)

    async def main() -> None:
        async with open_cluster(spec) as cluster:
            await cluster.form()
            victim = "node-04"
            await cluster.run_scenario([Kill(at=1.0, node=victim)])
            assert cluster[victim].status == NodeStatus.KILLED
            assert cluster.live_names() == [s.name for s in cluster.nodes if s.name != victim]
            times = await cluster.wait_detected(victim, timeout=kill_timeout(n))
            assert len(times) == n - 1
            low, _ = suspicion_window(CONFIG, n)
            # Nobody can call it dead before a probe failed and the shortest suspicion ran.
            assert min(times.values()) >= CONFIG.probe_timeout + low
            # Suspicions are sampled with their start time, and come before the verdict.
            suspected = cluster.history.first_times(victim, FactKind.SUSPECT)
            assert suspected
            assert min(suspected.values()) < min(times.values()) + cluster[victim].stopped_at  # type: ignore[operator]
            await cluster.wait_converged(timeout=kill_timeout(n))
            assert any(note.what == "Kill(node='node-04')" for note in cluster.history.notes)

    run_simulation(main, seed=spec.seed)


def test_graceful_leave_is_recorded_as_left() -> None:
    n = 6
    spec = ClusterSpec(nodes=n, seed=2, config=CONFIG)

    async def main() -> None:
        async with open_cluster(spec) as cluster:
            await cluster.form()
            await cluster.apply(Leave(at=0.0, node="node-05"))
            seen = await cluster.wait_detected(
                "node-05",
                FactKind.LEFT,
                timeout=CONFIG.leave_timeout + 5 * epidemic_time(CONFIG, n),
            )
            assert len(seen) == n - 1
            assert cluster["node-05"].status == NodeStatus.LEFT
            assert cluster.history.count(FactKind.DEAD, subjects=["node-05"]) == 0

    run_simulation(main, seed=spec.seed)


def test_metadata_update_reach_times() -> None:
    n = 8
    spec = ClusterSpec(nodes=n, seed=5, config=CONFIG)

    async def main() -> None:
        async with open_cluster(spec) as cluster:
            await cluster.form()
            start = trio.current_time()
            await cluster.run_scenario([UpdateMeta(at=0.0, node="node-02", meta=b"v2")])
            incarnation = 2  # the start-up alive was incarnation 1
            await cluster.wait_until(
                lambda: len(cluster.reach_times("node-02", incarnation, start)) == n,
                timeout=10 * epidemic_time(CONFIG, n),
            )
            reach = cluster.reach_times("node-02", incarnation, start)
            assert reach["node-02"] == 0.0  # the node knows its own news first
            assert all(t >= 0 for t in reach.values())
            assert all(sim.memberlist.member("node-02").meta == b"v2" for sim in cluster.nodes)  # type: ignore[union-attr]

    run_simulation(main, seed=spec.seed)


def test_network_steps_reach_the_network() -> None:
    """Pause, slow, partition, heal and loss changes go to the MemoryNetwork: a paused node
    gets suspected, and after resume everyone agrees it is alive again."""
    n = 6
    spec = ClusterSpec(nodes=n, seed=9, config=CONFIG)

    async def main() -> None:
        async with open_cluster(spec) as cluster:
            await cluster.form()
            await cluster.run_scenario([Pause(at=0.0, node="node-03")])
            # Each peer walks a shuffled round of the other n - 1 members, so it probes
            # node-03 within 2(n - 1) intervals; the probe round takes one more.
            bound = (2 * (n - 1) + 1) * CONFIG.probe_interval + spec.sample_interval
            await cluster.wait_until(
                lambda: bool(cluster.history.first_times("node-03", FactKind.SUSPECT)),
                timeout=bound,
            )
            suspected = cluster.history.first_times("node-03", FactKind.SUSPECT)
            assert suspected, "a paused node gets suspected within a round of every peer's walk"
            await cluster.run_scenario([Resume(at=0.0, node="node-03")])
            await cluster.wait_converged(timeout=kill_timeout(n), all_alive=True)
            before = cluster.net.statistics()
            await cluster.run_scenario([
                Slow(at=0.0, node="node-01", delay=0.1),
                SetLoss(at=0.0, loss=0.2),
                Partition(at=0.0, groups=(("node-00", "node-01"), ("node-02", "node-03"))),
                Heal(at=1.0),
                SetLoss(at=1.0, loss=0.0),
                Slow(at=1.0, node="node-01", delay=0.0),
            ])  # fmt: skip
            after = cluster.net.statistics()
            assert after.dropped_loss > before.dropped_loss
            assert after.dropped_partition > before.dropped_partition
            assert cluster.net.default_link.loss == 0.0
            assert len(cluster.history.notes) == 8

    run_simulation(main, seed=spec.seed)


def _history_of_a_small_run(seed: int) -> list[tuple[float, str, str, str, int]]:
    n = 12
    spec = ClusterSpec(nodes=n, seed=seed, config=CONFIG, join="staggered")

    async def main() -> list[tuple[float, str, str, str, int]]:
        async with open_cluster(spec) as cluster:
            await cluster.form()
            await cluster.run_scenario([
                SetLoss(at=0.0, loss=0.1),
                Kill(at=0.5, node="node-07"),
                UpdateMeta(at=1.0, node="node-03", meta=b"x"),
            ])  # fmt: skip
            await cluster.wait_detected("node-07", timeout=kill_timeout(n))
            return cluster.history.trace()

    return run_simulation(main, seed=seed)


def test_same_seed_same_history() -> None:
    first = _history_of_a_small_run(21)
    # Disturb everything a careless harness might leak randomness from in between.
    random.seed(99)
    trio_run_internals._r.seed(12345)
    second = _history_of_a_small_run(21)
    assert len(first) > 12 * 12
    assert first == second


def test_different_seed_different_history() -> None:
    assert _history_of_a_small_run(21) != _history_of_a_small_run(22)


def test_spec_validation() -> None:
    with pytest.raises(ValueError, match="join"):
        ClusterSpec(join="ring")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="nodes"):
        ClusterSpec(nodes=0)
    assert ClusterSpec(nodes=100).name(7) == "node-07"
    assert ClusterSpec(nodes=1000).name(7) == "node-007"


class Inner(BaseDelegate):
    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.events: list[MemberEvent] = []
        self.pings = 0

    def notify_msg(self, message: bytes) -> None:
        self.messages.append(message)

    def notify_event(self, event: MemberEvent) -> None:
        self.events.append(event)

    def notify_ping_complete(self, member: Member, rtt: float, payload: bytes | None) -> None:
        self.pings += 1


def test_nodes_own_delegates_still_get_everything() -> None:
    n = 4
    inners = [Inner() for _ in range(n)]
    spec = ClusterSpec(nodes=n, seed=8, config=CONFIG)

    async def main() -> None:
        async with open_cluster(spec, delegates=inners.__getitem__) as cluster:
            await cluster.form()
            await cluster["node-00"].memberlist.send_reliable("node-03", b"hi")
            await trio.sleep(3 * CONFIG.probe_interval)
            assert inners[3].messages == [b"hi"]
            assert all(len(i.events) == n for i in inners)  # everyone joined, self included
            assert all(i.pings > 0 for i in inners)  # optional hooks are passed on
            assert len(cluster.history.facts) == n * n  # and recorded all the same

    run_simulation(main, seed=spec.seed)


def test_a_cluster_formed_at_once_detects_a_kill_like_a_joined_one() -> None:
    n = 40
    spec = ClusterSpec(nodes=n, seed=8, config=CONFIG)

    async def main() -> None:
        async with open_cluster(spec) as cluster:
            await cluster.form_at_once()
            assert cluster.converged(all_alive=True)  # at once, with no traffic
            assert cluster.net.statistics().packets_sent == 0
            assert cluster.history.count(FactKind.ALIVE) == n  # own starts only: no n^2 joins
            assert not cluster.quiet()  # each node's start-up alive is still to be sent
            await cluster.wait_until(cluster.quiet, timeout=10.0)
            await cluster.run_scenario([Kill(at=1.0, node="node-07")])
            times = await cluster.wait_detected("node-07", timeout=kill_timeout(n))
            assert len(times) == n - 1
            low, _ = suspicion_window(CONFIG, n)
            assert min(times.values()) >= CONFIG.probe_timeout + low

    run_simulation(main, seed=spec.seed)
