"""Canned experiments on a simulated cluster, shared by the scenario tests and the benchmarks.

Each ``*_study`` function runs one seeded simulation (its own ``trio.run`` on the mock clock)
and returns a frozen record of what it measured.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
import trio

from trio_gossip.apps.sim.cluster import ClusterSpec, open_cluster
from trio_gossip.apps.sim.history import FactKind
from trio_gossip.apps.sim.runner import run_simulation
from trio_gossip.apps.sim.scenario import Kill, SetLoss, Slow, UpdateMeta
from trio_gossip.core.config import Config
from trio_gossip.core.membership.bounds import epidemic_rounds, join_timeout


def plain_swim(config: Config) -> Config:
    """``config`` without Lifeguard's local health (awareness) and dynamic suspicion, and
    without our check of a suspect before the verdict.

    The buddy system stays on: the node has no switch for it.
    """
    return attrs.evolve(config, awareness_max_multiplier=1, suspicion_max_timeout_mult=1,
                        check_before_dead=False)  # fmt: skip


@attrs.frozen
class FalsePositives:
    """Dead verdicts about nodes that never died, during the disturbed period."""

    seed: int
    lifeguard: bool
    minutes: float
    healthy_nodes: int  # distinct healthy (not slowed) nodes someone declared dead
    healthy_verdicts: int  # (observer, healthy node) dead verdicts
    slow_nodes: int
    slow_verdicts: int
    suspicions: int  # suspicions started, summed over all nodes

    @property
    def live_verdicts(self) -> int:
        return self.healthy_verdicts + self.slow_verdicts


def false_positive_study(
    *,
    seed: int,
    minutes: float,
    lifeguard: bool,
    nodes: int = 50,
    slow_fraction: float = 0.1,
    delay: float | None = None,
    loss: float = 0.1,
    config: Config | None = None,
) -> FalsePositives:
    """Slow every 1/slow_fraction-th node (everything reaches it ``delay`` late, by default
    0.1 s past the probe timeout) and drop ``loss`` of all packets, then count for
    ``minutes`` who gets declared dead although nobody died."""
    base = config if config is not None else Config.lan(name="sim")
    cfg = base if lifeguard else plain_swim(base)
    late = delay if delay is not None else cfg.probe_timeout + 0.1
    spec = ClusterSpec(nodes=nodes, seed=seed, config=cfg)

    async def main() -> FalsePositives:
        async with open_cluster(spec) as cluster:
            await cluster.form()
            step = max(1, round(1 / slow_fraction))
            slow = {sim.name for sim in cluster.nodes[::step]}
            start = trio.current_time()
            await cluster.run_scenario(
                [Slow(at=0.0, node=name, delay=late) for name in sorted(slow)]
                + [SetLoss(at=0.0, loss=loss)]
            )
            before = sum(sim.memberlist.statistics().suspicions for sim in cluster.nodes)
            await trio.sleep(minutes * 60)
            after = sum(sim.memberlist.statistics().suspicions for sim in cluster.nodes)
            verdicts = [
                f for f in cluster.history.facts if f.kind == FactKind.DEAD and f.time >= start
            ]
            on_slow = [f for f in verdicts if f.subject in slow]
            on_healthy = [f for f in verdicts if f.subject not in slow]
            return FalsePositives(
                seed=seed,
                lifeguard=lifeguard,
                minutes=minutes,
                healthy_nodes=len({f.subject for f in on_healthy}),
                healthy_verdicts=len({(f.observer, f.subject) for f in on_healthy}),
                slow_nodes=len({f.subject for f in on_slow}),
                slow_verdicts=len({(f.observer, f.subject) for f in on_slow}),
                suspicions=after - before,
            )

    return run_simulation(main, seed=seed)


@attrs.frozen
class Spread:
    """How a cluster formed and how one broadcast then spread, in gossip rounds."""

    nodes: int
    seed: int
    bound_rounds: float  # log_{f+1}(n) + ln(n)/f
    join_rounds: float  # last join returned -> every view complete
    reach_rounds: tuple[float, ...]  # per node, metadata update -> it knew, sorted


def spread_study(*, nodes: int, seed: int, config: Config | None = None,
                 record_join: bool = True,
                 on_progress: Callable[[float, int, int], None] | None = None,
                 ) -> Spread:  # fmt: skip
    """Join ``nodes`` through node 0, wait for convergence, then update one node's metadata
    and time its arrival everywhere. ``record_join=False`` keeps the history off during the
    join (n^2 facts), for big clusters. ``on_progress``: see ``Cluster.on_progress`` (a
    5,000-node join takes an hour of wall time)."""
    cfg = config if config is not None else Config.lan(name="sim")
    spec = ClusterSpec(nodes=nodes, seed=seed, config=cfg)
    gossip = cfg.gossip_interval

    async def main() -> Spread:
        async with open_cluster(spec) as cluster:
            cluster.history.enabled = record_join
            cluster.on_progress = on_progress
            await cluster.join()
            joined = trio.current_time()
            converged = await cluster.wait_converged(timeout=join_timeout(cfg, nodes),
                                                     poll=gossip / 2)  # fmt: skip
            await trio.sleep(cfg.probe_interval)
            cluster.history.enabled = True
            subject = spec.name(nodes // 3)
            start = trio.current_time()
            await cluster.apply(UpdateMeta(at=0.0, node=subject, meta=b"v2"))
            await cluster.wait_until(lambda: len(cluster.reach_times(subject, 2, start)) == nodes,
                                     timeout=join_timeout(cfg, nodes), poll=gossip / 4)  # fmt: skip
            reach = cluster.reach_times(subject, 2, start).values()
            return Spread(
                nodes=nodes,
                seed=seed,
                bound_rounds=epidemic_rounds(nodes, cfg.gossip_nodes),
                join_rounds=(converged - joined) / gossip,
                reach_rounds=tuple(sorted(t / gossip for t in reach)),
            )

    return run_simulation(main, seed=seed)


@attrs.frozen
class Detection:
    """Seconds from a kill to each survivor's dead verdict, for each victim."""

    nodes: int
    seed: int
    victims: tuple[str, ...]
    times: tuple[tuple[float, ...], ...]  # per victim, per survivor, sorted
    first_suspected: tuple[float, ...]  # per victim, seconds to the first suspicion


def detection_study(*, nodes: int, seed: int, kills: int = 3,
                    config: Config | None = None) -> Detection:  # fmt: skip
    """Join, let one full probe round pass, then kill ``kills`` nodes one after another,
    each once the previous one is dead everywhere."""
    cfg = config if config is not None else Config.lan(name="sim")
    spec = ClusterSpec(nodes=nodes, seed=seed, config=cfg)

    async def main() -> Detection:
        async with open_cluster(spec) as cluster:
            await cluster.form()
            await trio.sleep(nodes * cfg.probe_interval + 1)
            victims = [sim.name for sim in cluster.rng.sample(cluster.nodes[1:], kills)]
            times, suspected = [], []
            for victim in victims:
                await cluster.run_scenario([Kill(at=0.0, node=victim)])
                seen = await cluster.wait_detected(victim, timeout=nodes * cfg.probe_interval * 10,
                                                   poll=cfg.gossip_interval / 4)  # fmt: skip
                times.append(tuple(sorted(seen.values())))
                killed = cluster[victim].stopped_at or 0.0
                first = cluster.history.first_times(victim, FactKind.SUSPECT, since=killed)
                suspected.append(min(first.values(), default=killed) - killed)
                await cluster.wait_converged(timeout=join_timeout(cfg, nodes))
            return Detection(nodes, seed, tuple(victims), tuple(times), tuple(suspected))

    return run_simulation(main, seed=seed)
