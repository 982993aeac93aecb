"""A partition splits a 30-node cluster in two halves; after the heal it reconverges.

What heals a split in memberlist: push/pull only picks alive peers and probes skip dead ones,
so once each half holds the other as dead, news crosses only through broadcasts still queued
(gossip also goes to nodes dead for less than gossip_to_the_dead_time) and through refutations
they trigger; the first push/pull across then spreads the rest. Once the halves have reaped
each other, nothing crosses at all until someone joins across, as Serf's reconnect loop does.
"""

from __future__ import annotations

import trio

from trio_gossip.apps.sim import Cluster, ClusterSpec, Heal, Partition, open_cluster, run_simulation
from trio_gossip.core.config import Config
from trio_gossip.core.membership.bounds import epidemic_time, suspicion_window
from trio_gossip.core.membership.schedule import push_pull_scale
from trio_gossip.wire.messages import NodeState

CONFIG = Config.lan(name="sim")
N = 30


def halves(cluster: Cluster) -> tuple[list[str], list[str]]:
    names = cluster.live_names()
    return names[: N // 2], names[N // 2 :]


def cross_states(cluster: Cluster, a: list[str], b: list[str]) -> list[NodeState | None]:
    """How each node sees each node of the other half (None: forgotten)."""
    states: list[NodeState | None] = []
    for side, other in ((a, b), (b, a)):
        for x in side:
            node = cluster[x].memberlist
            for y in other:
                member = node.member(y)
                states.append(member.state if member is not None else None)
    return states


def until_reaped(config: Config) -> float:
    """How long a split must last for each half to have reaped the other: the dead verdicts
    (at most the longest suspicion after a probe interval), then gossip_to_the_dead_time,
    then the end of a probe round (reaping runs at its wrap)."""
    _, high = suspicion_window(config, N)
    verdicts = config.probe_interval + high
    return verdicts + config.gossip_to_the_dead_time + N * config.probe_interval


async def settled(cluster: Cluster) -> None:
    await cluster.join()
    await cluster.wait_converged(timeout=2 * CONFIG.push_pull_interval)
    await trio.sleep(N * CONFIG.probe_interval + 1)  # one full probe round: a steady cluster


def test_partition_long_enough_for_dead_verdicts_heals_within_a_push_pull_interval() -> None:
    """The partition outlasts the shortest suspicion (so many cross pairs are dead at the heal)
    but not gossip_to_the_dead_time. Bound: one scaled push/pull interval, no extra margin.
    Measured over seeds 0-19: 1.8 to 10 s (all alive again everywhere)."""
    seed = 3
    low, _ = suspicion_window(CONFIG, N)
    duration = low + 4 * CONFIG.probe_interval  # ~10 s at the LAN defaults
    assert duration < CONFIG.gossip_to_the_dead_time
    bound = push_pull_scale(CONFIG.push_pull_interval, N)

    async def main() -> None:
        async with open_cluster(ClusterSpec(nodes=N, seed=seed, config=CONFIG)) as cluster:
            await settled(cluster)
            a, b = halves(cluster)
            await cluster.run_scenario([Partition(at=0.0, groups=(a, b)), Heal(at=duration)])
            states = cross_states(cluster, a, b)
            assert states.count(NodeState.DEAD) >= len(states) // 4, "the split had bitten"
            assert not cluster.converged(all_alive=True)
            healed = trio.current_time()
            done = await cluster.wait_converged(timeout=bound, poll=CONFIG.gossip_interval,
                                                all_alive=True)  # fmt: skip
            assert done - healed <= bound
            assert all(sim.memberlist.num_members() == N for sim in cluster.nodes)

    run_simulation(main, seed=seed)


def test_halves_that_reaped_each_other_heal_within_one_reconnect_interval() -> None:
    """memberlist alone never heals this: each half reaped the other after
    gossip_to_the_dead_time, so no probe, gossip or push/pull crosses any more. Serf's
    reconnect (on by default) remembers failed members for reconnect_timeout and joins one each
    reconnect_interval, with probability failed / alive, 1 for halves: within one interval
    after the heal every node has swapped full state with the other side.
    Bound: one reconnect interval. Measured over seeds 0-11: 1.6 to 22 s."""
    seed = 5
    duration = until_reaped(CONFIG)
    bound = CONFIG.reconnect_interval

    async def main() -> None:
        async with open_cluster(ClusterSpec(nodes=N, seed=seed, config=CONFIG)) as cluster:
            await settled(cluster)
            a, b = halves(cluster)
            await cluster.run_scenario([Partition(at=0.0, groups=(a, b)), Heal(at=duration)])
            assert set(cross_states(cluster, a, b)) == {None}, "each half forgot the other"
            assert all(cluster[x].memberlist.num_members() == len(a) for x in a)
            healed = trio.current_time()
            done = await cluster.wait_converged(timeout=bound, poll=CONFIG.gossip_interval,
                                                all_alive=True)  # fmt: skip
            assert done - healed <= bound
            stats = [cluster[x].memberlist.statistics() for x in cluster.live_names()]
            assert sum(s.reconnects for s in stats) >= 1
            assert all(s.reconnects <= s.reconnects_attempted for s in stats)

    run_simulation(main, seed=seed)


def test_without_reconnect_halves_that_reaped_each_other_stay_apart() -> None:
    """With reconnect_interval=0 (memberlist's own behaviour) nothing crosses on its own;
    one join across is enough: the rest spreads by gossip and push/pull, within one scaled
    push/pull interval plus twice the epidemic time. Measured over seeds 0-11: 0.6 to 24 s."""
    seed = 5
    config = Config.lan(name="sim", reconnect_interval=0)
    duration = until_reaped(config)
    bound = push_pull_scale(config.push_pull_interval, N) + 2 * epidemic_time(config, N)

    async def main() -> None:
        async with open_cluster(ClusterSpec(nodes=N, seed=seed, config=config)) as cluster:
            await settled(cluster)
            a, b = halves(cluster)
            await cluster.run_scenario([Partition(at=0.0, groups=(a, b)), Heal(at=duration)])
            assert set(cross_states(cluster, a, b)) == {None}, "each half forgot the other"
            await trio.sleep(push_pull_scale(config.push_pull_interval, N) * 2)
            assert set(cross_states(cluster, a, b)) == {None}, "nothing crossed on its own"

            start = trio.current_time()
            await cluster[a[0]].memberlist.join([cluster[b[0]].transport.local_address])
            done = await cluster.wait_converged(timeout=bound, poll=config.gossip_interval,
                                                all_alive=True)  # fmt: skip
            assert done - start <= bound

    run_simulation(main, seed=seed)
