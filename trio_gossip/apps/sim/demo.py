"""``trio-gossip demo``: watch a cluster form, lose a node, and agree that it died.

By default 50 nodes run on the simulated network under Trio's mock clock, so the whole story
(join, convergence, a kill, suspicion, the dead verdict) takes a few seconds of wall time and
replays exactly from ``--seed``. ``--real`` runs the same story on UDP + TCP sockets on
127.0.0.1 in real time, with Config.local's fast timers (10 to 25 s of wall time).
What it shows along the way (a live table, or progress lines) is ``display.py``'s job, the
closing summary ``demo_report.py``'s.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from functools import partial
from typing import TextIO

import attrs
import trio

from trio_gossip.apps.demo_options import DemoOptions
from trio_gossip.apps.sim.cluster import Cluster, ClusterSpec, open_cluster
from trio_gossip.apps.sim.demo_report import DemoReport
from trio_gossip.apps.sim.display import Display
from trio_gossip.apps.sim.history import FactKind
from trio_gossip.apps.sim.runner import run_simulation
from trio_gossip.apps.sim.table import legend
from trio_gossip.core.config import Config
from trio_gossip.core.membership.bounds import join_timeout, suspicion_window
from trio_gossip.transport.memory import LinkConfig
from trio_gossip.wire.messages import NodeState

FRAME_PAUSE = 0.04  # wall seconds per frame on a terminal, so simulated time can be watched


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
    """Every ``tick`` simulated seconds: a live frame on a terminal, elsewhere a progress line
    once ``every`` simulated seconds have passed (set per phase)."""

    cluster: Cluster
    display: Display
    tick: float
    every: float
    pause: float  # wall seconds per changed frame
    phase: str = "joining"

    async def run(self) -> None:
        while True:
            if self.show() and self.pause:
                time.sleep(self.pause)  # blocks on purpose: the mock clock stands still
            self.display.progress(self.cluster.nodes, trio.current_time(), self.phase,
                                  self.every)  # fmt: skip
            await trio.sleep(self.tick)

    def show(self) -> bool:
        """Draw a live frame; True if anyone's view changed since the last one."""
        return self.display.frame(self.cluster.nodes, trio.current_time(), self.phase)

    def milestone(self, text: str, *, table: bool = False) -> None:
        self.display.milestone(self.cluster.nodes, trio.current_time(), self.phase, text,
                               table=table)  # fmt: skip


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
    display.text(legend("real" if options.real else "simulated"))
    display.start()
    n = options.nodes
    poll = config.gossip_interval / 2
    async with open_cluster(spec, real=options.real) as cluster:
        pause = FRAME_PAUSE if display.tty and not options.real else 0.0
        tick = max(config.gossip_interval, 0.2)
        # Progress lines while the joins spread: about every gossip round (less often for
        # big clusters, whose rounds take longer to compute).
        every = config.gossip_interval * max(1, n // 100)
        frames = _Frames(cluster, display, tick, every, pause)
        start = display.origin = trio.current_time()
        cluster.nursery.start_soon(frames.run)

        await cluster.join()
        joins_done = trio.current_time() - start
        frames.milestone("every join() has returned", table=True)
        await cluster.wait_converged(timeout=join_timeout(config, n), poll=poll)
        # Right after a join every node walks its probe list in about the join order, so the
        # first probe of any one node comes late; one full round reshuffles them (steady
        # state). Real time cannot wait that long.
        calm = 2 if options.real else n
        quiet = calm * config.probe_interval
        frames.phase = "converged"
        frames.every = max(config.probe_interval, quiet / 10)  # ten lines over the calm
        frames.milestone(f"every node sees all {n}; {quiet:g} s of calm ({calm} probe rounds) "
                         "before a node is killed", table=True)  # fmt: skip
        complete = _complete_times(cluster, start)
        await trio.sleep(quiet)

        victim = cluster.rng.choice(cluster.nodes[1:]).name
        frames.phase = "failure"
        frames.every = config.probe_interval
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
        frames.milestone(f"every survivor has {victim} dead", table=True)

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
        display.close()
        display.text("the cluster did not get there in time (see the last lines above)")
        return 1
    finally:
        display.close()
        logger.removeHandler(quiet)
    display.text(report.render())
    return 0
