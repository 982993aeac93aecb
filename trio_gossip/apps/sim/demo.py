"""``trio-gossip demo``: watch a cluster form, lose a node, and agree that it died.

By default 50 nodes run on the simulated network under Trio's mock clock, so the whole story
(join, convergence, a kill, suspicion, the dead verdict) takes a few seconds of wall time and
replays exactly from ``--seed``. ``--real`` runs the same story on UDP + TCP sockets on
127.0.0.1 in real time, with Config.local's fast timers (10 to 25 s of wall time).
"""

from __future__ import annotations

import logging
import math
import statistics
import sys
import time
from functools import partial
from typing import TextIO

import attrs
import trio

from trio_gossip.apps.demo_options import DemoOptions
from trio_gossip.apps.sim.cluster import Cluster, ClusterSpec, open_cluster
from trio_gossip.apps.sim.display import Display
from trio_gossip.apps.sim.history import FactKind
from trio_gossip.apps.sim.runner import run_simulation
from trio_gossip.core.config import Config
from trio_gossip.core.engine.queue import retransmit_limit
from trio_gossip.core.membership.bounds import (
    detection_formula,
    epidemic_rounds,
    join_timeout,
    suspicion_window,
)
from trio_gossip.transport.memory import LinkConfig
from trio_gossip.wire.messages import NodeState

FRAME_PAUSE = 0.04  # wall seconds per frame on a terminal, so simulated time can be watched


@attrs.frozen
class DemoReport:
    """What the demo measured; ``render`` turns it into the closing summary."""

    options: DemoOptions
    config: Config
    joins_done: float  # seconds from start until every join() returned
    complete: tuple[float, ...]  # per node, seconds from start until it knew all n; sorted
    victim: str
    first_suspected: float | None  # seconds after the kill
    first_dead: float
    detection: dict[str, float]  # per observer, seconds from the kill to its dead verdict

    def render(self) -> str:
        cfg, n = self.config, self.options.nodes
        f, gi = cfg.gossip_nodes, cfg.gossip_interval
        bound_rounds = epidemic_rounds(n, f)
        times = sorted(self.detection.values())
        low, _ = suspicion_window(cfg, n)
        formula = detection_formula(cfg, n)
        spread = times[-1] - self.first_dead if times else 0.0
        within = sum(1 for t in times if t <= formula)
        lines = [
            "",
            f"Join: {n} nodes joined through node 0; every join() returned after "
            f"{self.joins_done:.2f} s",
            f"  nodes that knew all {n}: half after {self._complete(0.5):.2f} s, 90% after "
            f"{self._complete(0.9):.2f} s, all after {self._complete(1.0):.2f} s,",
            f"    that is {self._rounds(0.5):.1f} / {self._rounds(0.9):.1f} / "
            f"{self._rounds(1.0):.1f} gossip rounds after the last join",
            f"  epidemic bound: log_{f + 1}({n}) + ln({n})/{f} = {bound_rounds:.1f} rounds "
            f"({bound_rounds * gi:.2f} s at {gi:g} s per round)",
            *self._stragglers(bound_rounds),
            f"Failure: {self.victim} killed; first suspected after "
            + (f"{self.first_suspected:.2f} s" if self.first_suspected is not None else "(unseen)")
            + f", first declared dead after {self.first_dead:.2f} s",
            f"  the verdict reached all {len(times)} survivors {spread:.2f} s later: "
            f"{spread / gi:.1f} gossip rounds (epidemic bound {bound_rounds:.1f})",
            f"  detection per observer: min {times[0]:.2f} s, median "
            f"{statistics.median(times):.2f} s, max {times[-1]:.2f} s",
            f"  formula: probe interval {cfg.probe_interval:g} s + probe timeout "
            f"{cfg.probe_timeout:g} s + suspicion timeout {low:g} s (n={n})",
            f"    = {formula:.2f} s, the soonest a verdict can come (the victim probed at once);",
            f"    the observers' verdicts came {times[0] - formula:+.2f} to "
            f"{times[-1] - formula:+.2f} s from it ({within}/{len(times)} at or before it)",
            *self._measured(),
        ]
        per_observer = [f"{name} {t:6.2f}" for name, t in sorted(self.detection.items())]
        for i in range(0, len(per_observer), 6):
            lines.append("    " + "   ".join(per_observer[i : i + 6]))
        return "\n".join(lines)

    def _measured(self) -> list[str]:
        if self.first_suspected is None:
            return []
        suspicion = self.first_dead - self.first_suspected
        return [
            f"  measured: {self.first_suspected:.2f} s to the first suspicion (until someone "
            f"probed it, plus the probe",
            f"    round: a probe fails at the end of its {self.config.probe_interval:g} s "
            f"interval, not at the timeout) + {suspicion:.2f} s of suspicion",
        ]

    def _complete(self, share: float) -> float:
        return self.complete[max(0, math.ceil(share * len(self.complete)) - 1)]

    def _rounds(self, share: float) -> float:
        return (self._complete(share) - self.joins_done) / self.config.gossip_interval

    def _stragglers(self, bound_rounds: float) -> list[str]:
        cfg = self.config
        late = self.joins_done + 3 * bound_rounds * cfg.gossip_interval
        count = sum(1 for t in self.complete if t > late)
        if not count:
            return []
        limit = retransmit_limit(cfg.retransmit_mult, self.options.nodes)
        return [
            f"  {count} node(s) missed every copy of some announcement (each node passes one",
            f"    on {limit} times) and caught up by push/pull anti-entropy (every "
            f"{cfg.push_pull_interval:g} s, scaled for n)",
        ]


def _complete_times(cluster: Cluster, start: float) -> tuple[float, ...]:
    """Per node, when it had first heard of every node (sorted, seconds after ``start``)."""
    first = cluster.history.first
    times = []
    for observer in cluster.nodes:
        heard = [first(observer.name, subject.name, FactKind.ALIVE) for subject in cluster.nodes]
        times.append(max(t if t is not None else math.inf for t in heard) - start)
    return tuple(sorted(times))


def _seen(cluster: Cluster, victim: str, states: tuple[NodeState, ...]) -> int:
    """How many running nodes see ``victim`` in one of ``states``."""
    count = 0
    for sim in cluster.running():
        member = sim.memberlist.member(victim)
        count += member is not None and member.state in states
    return count


@attrs.define
class _Frames:
    """Redraws the table every ``every`` simulated seconds while the demo goes on."""

    cluster: Cluster
    display: Display
    header: str
    every: float
    pause: float  # wall seconds per frame
    phase: str = "joining"

    async def run(self) -> None:
        while True:
            if self.show() and self.pause:
                time.sleep(self.pause)  # blocks on purpose: the mock clock stands still
            await trio.sleep(self.every)

    def show(self) -> bool:
        """Draw a frame; True if anyone's view changed since the last one."""
        return self.display.frame(self.cluster.nodes, trio.current_time(), self.phase,
                                  self.header)  # fmt: skip

    def milestone(self, text: str) -> None:
        self.display.milestone(self.cluster.nodes, trio.current_time(), self.phase, text)


async def demo(options: DemoOptions, display: Display) -> DemoReport:
    if options.real:
        # Local timers; LAN's retransmits (a node missing every copy of a join announcement
        # is less likely) and a short push/pull (which repairs it), to stay within seconds.
        config = Config.local(name="demo", retransmit_mult=4, push_pull_interval=5.0)
        where = "UDP + TCP on 127.0.0.1, real time, Config.local timers"
    else:
        config = Config.lan(name="demo")
        where = f"simulated network, seed {options.seed}, loss {options.loss:.0%}"
    spec = ClusterSpec(nodes=options.nodes, seed=options.seed, config=config,
                       link=LinkConfig(loss=options.loss))  # fmt: skip
    header = f"trio-gossip demo: {options.nodes} nodes ({where})"
    display.text(header)
    n = options.nodes
    poll = config.gossip_interval / 2
    async with open_cluster(spec, real=options.real) as cluster:
        pause = FRAME_PAUSE if display.tty and not options.real else 0.0
        frames = _Frames(cluster, display, header, max(config.gossip_interval, 0.2), pause)
        start = display.origin = trio.current_time()
        cluster.nursery.start_soon(frames.run)

        await cluster.join()
        joins_done = trio.current_time() - start
        frames.milestone("every join() has returned")
        await cluster.wait_converged(timeout=join_timeout(config, n), poll=poll)
        frames.phase = "converged"
        frames.milestone(f"every node sees all {n}")
        complete = _complete_times(cluster, start)
        # Right after a join every node walks its probe list in about the join order, so the
        # first probe of any one node comes late; one full round reshuffles them (steady
        # state). Real time cannot wait that long.
        calm = 2 if options.real else n
        await trio.sleep(calm * config.probe_interval)

        victim = cluster.rng.choice(cluster.nodes[1:]).name
        frames.phase = "failure"
        await cluster.kill(victim)
        killed_at = trio.current_time()
        frames.milestone(f"{victim} killed")
        # However long it takes (no confirmations, the longest suspicion, a slow first probe).
        _, high = suspicion_window(config, n)
        limit = n * config.probe_interval + high + join_timeout(config, n)
        suspect_or_dead = (NodeState.SUSPECT, NodeState.DEAD)
        await cluster.wait_until(lambda: _seen(cluster, victim, suspect_or_dead) > 0,
                                 timeout=limit, poll=poll)  # fmt: skip
        frames.milestone(f"{victim} suspected")
        await cluster.wait_until(lambda: _seen(cluster, victim, (NodeState.DEAD,)) > 0,
                                 timeout=limit, poll=poll)  # fmt: skip
        frames.milestone(f"{victim} declared dead")
        detection = await cluster.wait_detected(victim, timeout=limit, poll=poll)
        frames.phase = "agreed"
        frames.milestone(f"every survivor has {victim} dead")
        frames.show()

        suspected = cluster.history.first_times(victim, FactKind.SUSPECT, since=killed_at)
        return DemoReport(
            options=options,
            config=config,
            joins_done=joins_done,
            complete=complete,
            victim=victim,
            first_suspected=min(suspected.values()) - killed_at if suspected else None,
            first_dead=min(detection.values()),
            detection=detection,
        )


def run(options: DemoOptions, out: TextIO | None = None) -> int:
    """Run the demo, writing to ``out`` (default: stdout); the exit status."""
    out = out if out is not None else sys.stdout
    display = Display(out, tty=out.isatty())
    main = partial(demo, options, display)
    # The nodes log lost probes and the like as warnings; here they would only garble the
    # table (Python prints records of an unconfigured logger to stderr).
    quiet = logging.NullHandler()
    logger = logging.getLogger("trio_gossip")
    logger.addHandler(quiet)
    try:
        report = trio.run(main) if options.real else run_simulation(main, seed=options.seed)
    except trio.TooSlowError:
        display.text("the cluster did not get there in time (see the last lines above)")
        return 1
    finally:
        logger.removeHandler(quiet)
    display.text(report.render())
    return 0
