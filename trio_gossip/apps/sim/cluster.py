"""A simulated cluster: N nodes on one MemoryNetwork in one nursery, driven by a scenario.

    async with open_cluster(ClusterSpec(nodes=50, seed=7)) as cluster:
        await cluster.join()
        await cluster.wait_converged(timeout=60)
        await cluster.run_scenario([Kill(at=1.0, node="node-03")])
        ...

Run it with ``run_simulation`` (sim/runner.py) so the mock clock makes simulated minutes cheap
and the same seed replays the same history. Everything random comes from the seed: the
network's generator, one generator per node, and the harness's own (join targets, victims).
"""

from __future__ import annotations

import math
import random
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Literal

import attrs
import trio

from trio_gossip.apps.sim import scenario as sc
from trio_gossip.apps.sim.history import FactKind, History
from trio_gossip.apps.sim.observe import (
    NodeStatus,
    SimNode,
    recording_delegates,
    sample_suspicions,
)
from trio_gossip.core.config import Config
from trio_gossip.core.membership.bounds import join_timeout
from trio_gossip.core.membership.form import Formation
from trio_gossip.shell.memberlist import open_memberlist
from trio_gossip.shell.node.delegate import Delegate
from trio_gossip.transport.base import Transport
from trio_gossip.transport.memory import LinkConfig, MemoryNetwork
from trio_gossip.transport.net import create_net_transport
from trio_gossip.wire.errors import JoinError
from trio_gossip.wire.messages import NodeState

JOIN_ATTEMPTS = 10
LOOPBACK = "127.0.0.1"
# A leave with this bound marks the node left at once without waiting for the news to spread:
# the way to stop a node without the graceful leave its ``async with`` exit would do.
_NO_WAIT = 1e-9


@attrs.frozen(kw_only=True)
class ClusterSpec:
    """How to build a simulated cluster.

    ``join="seed"``: every node joins node 0. ``"staggered"``: each node joins a random node
    started before it. Joins start ``join_spacing`` apart (node 0 cannot take more than 128
    push/pulls at once). ``config`` is every node's template; names are filled in.
    """

    nodes: int = attrs.field(default=10, validator=attrs.validators.ge(1))
    seed: int = 0
    config: Config = attrs.field(factory=lambda: Config.lan(name="sim"))
    link: LinkConfig = attrs.field(factory=LinkConfig)
    join: Literal["seed", "staggered"] = attrs.field(
        default="seed", validator=attrs.validators.in_(("seed", "staggered"))
    )
    join_spacing: float = attrs.field(default=0.01, validator=attrs.validators.ge(0))
    sample_interval: float = attrs.field(default=0.1, validator=attrs.validators.gt(0))

    def name(self, index: int) -> str:
        width = max(2, len(str(self.nodes - 1)))
        return f"node-{index:0{width}d}"


class Cluster:
    """The running nodes, the network and the history. Create it with ``open_cluster``."""

    def __init__(self, spec: ClusterSpec, net: MemoryNetwork | None, nursery: trio.Nursery
                 ) -> None:  # fmt: skip
        self.spec = spec
        self._net = net
        self.nursery = nursery
        self.history = History()
        self.rng = random.Random(f"trio-gossip-sim/{spec.seed}/harness")
        self.nodes: list[SimNode] = []
        self.by_name: dict[str, SimNode] = {}
        self.join_failures = 0
        self._joins_done = trio.Event()
        # Called with (simulated s, joined, complete views) about once a simulated second
        # while joins start and waits poll: from those tasks, never a task of its own, which
        # would change the seeded scheduler's batches and so the history.
        self.on_progress: Callable[[float, int, int], None] | None = None
        self._progress_at = -math.inf

    def __getitem__(self, name: str) -> SimNode:
        return self.by_name[name]

    @property
    def config(self) -> Config:
        return self.spec.config

    @property
    def net(self) -> MemoryNetwork:
        """The simulated network (pause, slow, partition... need it; real sockets have none)."""
        if self._net is None:
            raise RuntimeError("this cluster runs on real sockets, not a simulated network")
        return self._net

    def running(self) -> list[SimNode]:
        return [sim for sim in self.nodes if sim.running]

    def live_names(self) -> list[str]:
        return [sim.name for sim in self.nodes if sim.running]

    # ---- joining -------------------------------------------------------------------------

    def start_joins(self) -> None:
        """Start every node's join in the background (see ClusterSpec.join)."""
        self.nursery.start_soon(self._join_all)

    async def join(self) -> float:
        """Join everyone and wait until every join() has returned; the time that took."""
        start = trio.current_time()
        self.start_joins()
        await self.wait_joined()
        return trio.current_time() - start

    async def wait_joined(self) -> None:
        await self._joins_done.wait()

    async def form(self, *, timeout: float | None = None, poll: float | None = None) -> float:
        """Join everyone, then wait until every view is complete (by default within
        ``bounds.join_timeout``); the simulated time it was."""
        await self.join()
        if timeout is None:
            timeout = join_timeout(self.config, len(self.nodes))
        return await self.wait_converged(timeout=timeout, poll=poll)

    async def form_at_once(self, *, events: bool = False) -> None:
        """Every node holds every node at once, as converged joins leave them, without the
        joins' traffic (Memberlist.form): for studies of a cluster at rest, at sizes whose
        joins would take too long. No join events unless ``events`` (n^2 of them)."""
        local = [sim.memberlist.local_member for sim in self.nodes]
        formation = Formation.of(local, random.Random(f"trio-gossip-sim/{self.spec.seed}/form"))
        for sim in self.nodes:
            await sim.memberlist.form(formation, events=events)
            sim.joined_at = trio.current_time()
        self._joins_done.set()

    async def _join_all(self) -> None:
        spacing = self.spec.join_spacing
        first = self.nodes[0]
        first.joined_at = trio.current_time()
        async with trio.open_nursery() as nursery:
            for sim in self.nodes[1:]:
                if self.spec.join == "seed":
                    target = first
                else:
                    target = self.nodes[self.rng.randrange(sim.index)]
                nursery.start_soon(self._join_one, sim, target)
                self._report()
                if spacing:
                    await trio.sleep(spacing)
        self._joins_done.set()

    def _report(self) -> None:
        now = trio.current_time()
        if self.on_progress is None or now < self._progress_at + 1.0:
            return
        self._progress_at = now
        running = self.running()
        joined = sum(sim.joined_at is not None for sim in running)
        complete = sum(sim.memberlist.num_members() == len(running) for sim in running)
        self.on_progress(now, joined, complete)

    async def _join_one(self, sim: SimNode, target: SimNode) -> None:
        retry = self.config.probe_interval
        for _ in range(JOIN_ATTEMPTS):
            if not sim.running:
                return
            try:
                await sim.memberlist.join([target.transport.local_address])
            except JoinError:
                self.join_failures += 1
                await trio.sleep(retry)
            else:
                sim.joined_at = trio.current_time()
                return
        raise JoinError(f"{sim.name} could not join {target.name} in {JOIN_ATTEMPTS} tries")

    # ---- what the nodes know ---------------------------------------------------------------

    def quiet(self) -> bool:
        """No running node has a broadcast queued: a join's or a start's news has had all
        its sends."""
        return all(sim.memberlist.statistics().queued_broadcasts == 0 for sim in self.running())

    def converged(self, *, all_alive: bool = False) -> bool:
        """Every running node lists exactly the running nodes as members (alive or suspect;
        only alive with ``all_alive``)."""
        running = self.running()
        n = len(running)
        if any(sim.memberlist.num_members() != n for sim in running):
            return False  # the cheap test first: counts are O(1)
        names = {sim.name for sim in running}
        for sim in running:
            members = sim.memberlist.members()
            if {m.name for m in members} != names:
                return False
            if all_alive and any(m.state != NodeState.ALIVE for m in members):
                return False
        return True

    async def wait_until(
        self, predicate: Callable[[], bool], *, timeout: float, poll: float | None = None
    ) -> float:
        """Check ``predicate`` every ``poll`` seconds (default: one gossip interval); the
        simulated time at which it first held. Raises trio.TooSlowError after ``timeout``."""
        step = poll if poll is not None else self._default_poll()
        with trio.fail_after(timeout):
            while not predicate():
                self._report()
                await trio.sleep(step)
        return trio.current_time()

    async def wait_converged(
        self, *, timeout: float, poll: float | None = None, all_alive: bool = False
    ) -> float:
        return await self.wait_until(
            lambda: self.converged(all_alive=all_alive), timeout=timeout, poll=poll
        )

    def _default_poll(self) -> float:
        return self.config.gossip_interval or self.config.probe_interval

    def detection_times(self, name: str, kind: FactKind = FactKind.DEAD) -> dict[str, float]:
        """For a stopped node: per node still running, seconds from the stop to the first time
        it saw the node as ``kind`` (DEAD for a kill, LEFT for a leave)."""
        stopped = self[name].stopped_at
        if stopped is None:
            raise ValueError(f"{name} was not stopped")
        times = self.history.first_times(name, kind, observers=self.live_names(), since=stopped)
        return {observer: t - stopped for observer, t in times.items()}

    async def wait_detected(
        self,
        name: str,
        kind: FactKind = FactKind.DEAD,
        *,
        timeout: float,
        poll: float | None = None,
    ) -> dict[str, float]:
        """Wait until every running node has seen the stopped node ``name`` as ``kind``;
        then ``detection_times``. Raises trio.TooSlowError after ``timeout``."""
        await self.wait_until(
            lambda: len(self.detection_times(name, kind)) == len(self.live_names()),
            timeout=timeout, poll=poll,
        )  # fmt: skip
        return self.detection_times(name, kind)

    def reach_times(self, subject: str, incarnation: int, since: float) -> dict[str, float]:
        """Seconds after ``since`` at which each node first knew ``subject`` at
        ``incarnation`` or later (via a metadata update or a (re)join)."""
        times: dict[str, float] = {}
        for kind in (FactKind.UPDATED, FactKind.ALIVE):
            found = self.history.first_times(subject, kind, min_incarnation=incarnation)
            for observer, t in found.items():
                times[observer] = min(times.get(observer, math.inf), t - since)
        return times

    # ---- doing things to nodes -------------------------------------------------------------

    async def run_scenario(self, steps: Iterable[sc.Step]) -> None:
        """Apply each step at its time (seconds after now); returns after the last one."""
        start = trio.current_time()
        for step in sorted(steps, key=lambda s: s.at):
            await trio.sleep_until(start + step.at)
            await self.apply(step)

    async def apply(self, step: sc.Step) -> None:
        self.history.note(trio.current_time(), _describe(step))
        match step:
            case sc.Kill(node=name):
                await self.kill(name)
            case sc.Leave(node=name):
                self.nursery.start_soon(self._stop, self._mark_left(name), True)
            case sc.Pause(node=name):
                self.net.pause(self[name].host)
            case sc.Resume(node=name):
                self.net.resume(self[name].host)
            case sc.Slow(node=name, delay=delay):
                self.net.slow(self[name].host, delay)
            case sc.Partition(groups=groups):
                self.net.partition(*([self[n].host for n in group] for group in groups))
            case sc.Heal():
                self.net.heal()
            case sc.SetLoss(loss=loss):
                self.set_loss(loss)
            case sc.UpdateMeta(node=name, meta=meta):
                self.nursery.start_soon(self._update_meta, name, meta)

    async def kill(self, name: str) -> None:
        """Silence the node's network first (so nothing it says afterwards gets out), then
        stop it without waiting for its leave."""
        sim = self[name]
        if self._net is not None:
            self._net.kill(sim.host)
        else:
            await sim.transport.aclose()
        sim.status = NodeStatus.KILLED
        sim.stopped_at = trio.current_time()
        await self._stop(sim, False)

    async def leave(self, name: str) -> None:
        """A graceful leave, bounded by the node's leave_timeout, then stop it."""
        await self._stop(self._mark_left(name), True)

    def _mark_left(self, name: str) -> SimNode:
        sim = self[name]
        sim.status = NodeStatus.LEFT
        sim.stopped_at = trio.current_time()
        return sim

    async def _stop(self, sim: SimNode, graceful: bool) -> None:
        if sim.stopping or sim.node is None or sim.scope is None:
            return  # once only: a second leave would wait on a state task that is gone
        sim.stopping = True
        await sim.node.leave(timeout=sim.config.leave_timeout if graceful else _NO_WAIT)
        sim.scope.cancel()

    async def _update_meta(self, name: str, meta: bytes) -> None:
        await self[name].memberlist.update_metadata(meta)

    def set_loss(self, loss: float) -> None:
        self.net.set_default_link(attrs.evolve(self.net.default_link, loss=loss))

    # ---- life cycle ------------------------------------------------------------------------

    async def _run_node(self, sim: SimNode, delegate: Delegate | None,
                        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
                        ) -> None:  # fmt: skip
        with trio.CancelScope() as scope:
            sim.scope = scope
            recorder = recording_delegates(sim, self.history, delegate)
            try:
                async with open_memberlist(sim.config, transport=sim.transport,
                                           delegate=recorder, rng=sim.rng) as node:  # fmt: skip
                    sim.node = node
                    sim.status = NodeStatus.RUNNING
                    task_status.started()
                    await trio.sleep_forever()
            finally:
                sim.node = None

    async def _shutdown(self) -> None:
        """Stop every node at once, without 50 graceful leaves to wait for."""
        self.history.enabled = False
        for sim in self.running():
            if self._net is not None:
                self._net.kill(sim.host)  # real sockets close after the nodes have stopped
            sim.status = NodeStatus.KILLED
        with trio.move_on_after(self.config.leave_timeout):
            for sim in self.nodes:
                await self._stop(sim, False)


@asynccontextmanager
async def open_cluster(
    spec: ClusterSpec,
    *,
    real: bool = False,
    delegates: Callable[[int], Delegate | None] | None = None,
) -> AsyncIterator[Cluster]:
    """Start ``spec.nodes`` nodes (not yet joined: call ``join()``); stop them all on exit.

    ``real``: UDP + TCP sockets on 127.0.0.1 instead of the simulated network (run it with
    ``trio.run`` and real time; ``spec.link`` and the network steps do not apply).
    ``delegates(i)`` may give node i a delegate of its own (the harness wraps it to record
    events).
    """
    net = None if real else MemoryNetwork(seed=_derive(spec.seed, "network"),
                                          default_link=spec.link)  # fmt: skip
    transports: list[Transport] = []
    try:
        async with trio.open_nursery() as nursery:
            cluster = Cluster(spec, net, nursery)
            for i in range(spec.nodes):
                name = spec.name(i)
                if net is not None:
                    transport: Transport = net.add_node()
                else:
                    transport = await create_net_transport(LOOPBACK, 0)
                    transports.append(transport)
                sim = SimNode(i, name, transport, attrs.evolve(spec.config, name=name),
                              random.Random(f"trio-gossip-sim/{spec.seed}/node/{i}"))  # fmt: skip
                cluster.nodes.append(sim)
                cluster.by_name[name] = sim
                await nursery.start(cluster._run_node, sim, delegates(i) if delegates else None)
            nursery.start_soon(sample_suspicions, cluster.nodes, cluster.history,
                               spec.sample_interval)  # fmt: skip
            try:
                yield cluster
            finally:
                with trio.CancelScope(shield=True):
                    await cluster._shutdown()
                nursery.cancel_scope.cancel()
    finally:
        with trio.CancelScope(shield=True):
            for transport in transports:
                await transport.aclose()


def _derive(seed: int, purpose: str) -> int:
    return random.Random(f"trio-gossip-sim/{seed}/{purpose}").getrandbits(63)


def _describe(step: sc.Step) -> str:
    fields = attrs.asdict(step, recurse=False)
    fields.pop("at")
    args = ", ".join(f"{k}={v!r}" for k, v in fields.items())
    return f"{type(step).__name__}({args})"
