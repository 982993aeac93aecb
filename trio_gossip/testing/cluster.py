"""A simulated cluster for the user's own tests: nodes, faults, and waiting helpers whose
deadlines come from the config's formula bounds (trio_gossip.core.membership.bounds)."""

from __future__ import annotations

import hashlib
import random
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from functools import partial

import attrs
import immutables
import trio

from trio_gossip.apps.sim.history import Fact, History
from trio_gossip.apps.sim.observe import NodeStatus, SimNode, sample_suspicions
from trio_gossip.core.config import Config
from trio_gossip.core.membership.bounds import (
    anti_entropy_time,
    detection_formula,
    join_timeout,
)
from trio_gossip.core.membership.form import Formation
from trio_gossip.core.membership.member import Member
from trio_gossip.core.ring import InstanceState
from trio_gossip.shell.kv.clock import sim_clock
from trio_gossip.shell.memberlist import Memberlist
from trio_gossip.testing import faults as ft
from trio_gossip.testing.node import DelegateFactory, Kind, NodeHandle, new_sim, run_node
from trio_gossip.testing.views import (
    GossipTimeoutError,
    membership_view,
    ring_view,
    timeout_message,
)
from trio_gossip.transport.memory import LinkConfig, MemoryNetwork
from trio_gossip.wire.errors import JoinError
from trio_gossip.wire.messages import NodeState

_NO_WAIT = 1e-9  # a leave bound that marks the node left without waiting for the news
_KINDS = ("plain", "kv", "ring")
# The lifecycler's heartbeat (dskit ring/lifecycler.go, HeartbeatPeriod, default 5 s).
HEARTBEAT_PERIOD = 5.0


class GossipCluster:
    """Handles to every node, fault controls and waiting helpers. Open it with
    ``open_cluster``; index it by node name (``cluster["node-03"]``)."""

    def __init__(self, nursery: trio.Nursery, *, nodes: int, seed: int, kind: Kind,
                 config: Config, delegates: DelegateFactory | None) -> None:  # fmt: skip
        self.seed = seed
        self.kind = kind
        self.config = config
        self.history = History()
        self._delegates = delegates
        self._nursery = nursery
        self._net = MemoryNetwork(seed=_derive(seed, "network"))
        self._rng = random.Random(f"trio-gossip-testing/{seed}/harness")
        width = max(2, len(str(nodes - 1)))
        self.names = [f"node-{i:0{width}d}" for i in range(nodes)]
        self.nodes: dict[str, NodeHandle] = {}
        self._sims: list[SimNode] = []  # the suspicion sampler's list, updated on restarts
        # is_converged's memory: the running set it last checked, the member table of each
        # node that passed for that set, and the node that failed last.
        self._converged_for: frozenset[str] = frozenset()
        self._passed: dict[str, immutables.Map[str, Member]] = {}
        self._laggard: NodeHandle | None = None

    def __getitem__(self, name: str) -> NodeHandle:
        try:
            return self.nodes[name]
        except KeyError:
            raise KeyError(f"no node {name!r} in this cluster ({', '.join(self.names)})") from None

    def running(self) -> list[NodeHandle]:
        return [h for h in self.nodes.values() if h.running]

    # ---- life cycle ------------------------------------------------------------------------

    async def _start(self, name: str) -> None:
        handle = self.nodes.get(name)
        index = self.names.index(name)
        address = handle.address if handle is not None else None
        transport = self._net.add_node(address)
        sim = new_sim(index, name, transport, self.config)
        if index < len(self._sims):
            self._sims[index] = sim
        else:
            self._sims.append(sim)
        if handle is None:
            handle = NodeHandle(name, transport.local_address, sim)
            self.nodes[name] = handle
        else:
            handle._sim = sim
            handle.restarts += 1
        delegate = self._delegates(name) if self._delegates is not None else None
        seed_text = f"trio-gossip-testing/{self.seed}/node/{index}/{handle.restarts}"
        await self._nursery.start(partial(run_node, handle, self.history, kind=self.kind,
                                          delegate=delegate, seed_text=seed_text))  # fmt: skip

    async def _join(self, name: str, targets: list[str]) -> None:
        node = self[name].memberlist
        for _ in range(10):
            live = [t for t in targets if t != name and self[t].running]
            if not live:
                return
            target = live[self._rng.randrange(len(live))]
            try:
                await node.join([self[target].address])
            except JoinError:
                await trio.sleep(self.config.probe_interval)
            else:
                return
        raise JoinError(f"{name} could not join any of {targets} in 10 tries")

    async def _form_at_once(self) -> None:
        """Every node holds every node, as converged joins leave them (Memberlist.form)."""
        members = [self[name].memberlist.local_member for name in self.names]
        self._note(f"formed {len(members)} nodes at once")
        # One table and one shuffle for all (O(n) per node, not n insertions and n draws).
        formation = Formation.of(members, random.Random(f"trio-gossip-testing/{self.seed}/form"))
        for name in self.names:
            await self[name].memberlist.form(formation)

    async def _form(self) -> None:
        first = self.names[0]
        async with trio.open_nursery() as nursery:
            for name in self.names[1:]:
                nursery.start_soon(self._join, name, [first])
                await trio.sleep(0.01)  # node 0 takes at most 128 push/pulls at once

    # ---- faults ----------------------------------------------------------------------------

    async def kill(self, name: str) -> None:
        """kill -9: the node's network goes silent, then its tasks stop, with no leave."""
        handle = self[name]
        sim = handle._sim
        self._note(f"kill {name}")
        self._net.kill(sim.host)
        sim.status = NodeStatus.KILLED
        if sim.node is not None and not sim.stopping:
            sim.stopping = True
            await sim.node.leave(timeout=_NO_WAIT)
        if sim.scope is not None:
            sim.scope.cancel()

    async def restart(self, name: str) -> None:
        """Start a killed node again under the same name and address; it rejoins a live
        node (its incarnation starts over, as a restarted memberlist process's does)."""
        if self[name].running:
            raise RuntimeError(f"{name} is running: kill it before restarting it")
        self._note(f"restart {name}")
        await self._start(name)
        self._nursery.start_soon(self._join, name, [n for n in self.names if n != name])

    async def join(self, name: str, target: str) -> None:
        """``name`` joins ``target`` (a push/pull): how two sides find each other again
        after a partition, since memberlist does not reconnect dead members by itself
        (Serf's reconnect loop does, memberlist leaves it to the application)."""
        self._note(f"join {name} -> {target}")
        await self[name].memberlist.join([self[target].address])

    def pause(self, name: str) -> None:
        """Freeze the node's network (a stopped VM): sends block, arrivals are held."""
        self._note(f"pause {name}")
        self._net.pause(self[name]._sim.host)

    def resume(self, name: str) -> None:
        self._note(f"resume {name}")
        self._net.resume(self[name]._sim.host)

    def slow(self, name: str, delay: float) -> None:
        """Everything delivered to the node arrives ``delay`` seconds late (0 undoes it)."""
        self._note(f"slow {name} {delay}")
        self._net.slow(self[name]._sim.host, delay)

    def partition(self, *groups: Iterable[str]) -> None:
        """Nodes in different groups cannot reach each other; unnamed nodes reach everyone."""
        named = [list(group) for group in groups]
        self._note("partition " + " | ".join(",".join(g) for g in named))
        self._net.partition(*([self[n]._sim.host for n in group] for group in named))

    def heal(self) -> None:
        self._note("heal")
        self._net.heal()

    def set_link(self, src: str, dst: str, *, loss: float = 0.0, latency: float = 0.0005,
                 corrupt: float = 0.0, both_ways: bool = True) -> None:  # fmt: skip
        """Loss, latency and corruption on the link from ``src`` to ``dst`` (and back)."""
        link = LinkConfig(loss=loss, latency=latency, corrupt=corrupt)
        self._note(f"link {src}->{dst} {link}")
        a, b = self[src]._sim.host, self[dst]._sim.host
        if both_ways:
            self._net.set_link_both(a, b, link)
        else:
            self._net.set_link(a, b, link)

    def set_loss(self, loss: float) -> None:
        """Packet loss on every link (streams stay reliable, as TCP would)."""
        self._note(f"loss {loss}")
        self._net.set_default_link(attrs.evolve(self._net.default_link, loss=loss))

    def set_corruption(self, rate: float) -> None:
        """One random bit flipped in this share of datagrams on every link (streams stay
        intact, as TCP's checksum would keep them): what memberlist's CRC is there to catch."""
        self._note(f"corrupt {rate}")
        self._net.set_default_link(attrs.evolve(self._net.default_link, corrupt=rate))

    def skew(self, name: str, offset: float) -> None:
        """Set the node's wall clock ``offset`` seconds off. Its KV versions and ring
        heartbeats are stamped with it; memberlist itself only measures intervals on its
        own monotonic clock (memberlist state.go), so membership is unaffected by design."""
        self._note(f"skew {name} {offset:+}")
        self[name].clock_offset = offset

    def drift(self, name: str, rate: float) -> None:
        """From now on the node's wall clock gains ``rate`` seconds a second (negative:
        loses); what it drifted so far is kept as skew. Real clocks drift by parts per
        million; a test may use far more to reach a bound within a short run. Only the wall
        clock drifts: memberlist's timers measure intervals (see `skew`)."""
        if not -1.0 < rate <= 10.0:
            raise ValueError(f"drift: rate must be in (-1, 10] seconds a second, got {rate}")
        self._note(f"drift {name} {rate:+}")
        handle = self[name]
        now = sim_clock()
        handle.clock_offset += handle.clock_drift * (now - handle.drift_since)
        handle.clock_drift, handle.drift_since = rate, now

    async def apply(self, fault: ft.Fault) -> None:
        match fault:
            case ft.Kill(node=name):
                await self.kill(name)
            case ft.Restart(node=name):
                if not self[name].running:
                    await self.restart(name)
            case ft.Pause(node=name):
                self.pause(name)
            case ft.Resume(node=name):
                self.resume(name)
            case ft.Slow(node=name, delay=delay):
                self.slow(name, delay)
            case ft.Partition(groups=groups):
                self.partition(*groups)
            case ft.Heal():
                self.heal()
            case ft.SetLoss(loss=loss):
                self.set_loss(loss)
            case ft.Skew(node=name, offset=offset):
                self.skew(name, offset)
            case ft.Drift(node=name, rate=rate):
                self.drift(name, rate)

    async def run_schedule(
        self, schedule: Iterable[ft.Fault], *, check: Callable[[GossipCluster], None] | None = None
    ) -> None:
        """Apply each fault at its time (seconds after now); returns after the last one.
        ``check(cluster)``, if given, runs after every fault: the user's invariant."""
        start = trio.current_time()
        for fault in sorted(schedule, key=lambda f: f.at):
            await trio.sleep_until(start + fault.at)
            await self.apply(fault)
            if check is not None:
                check(self)

    async def repair(self) -> None:
        """Undo every network fault (heal, resume, no loss, no slowness, no skew), then have
        each running node join the first running one: memberlist does not reconnect members
        it declared dead by itself (Serf's reconnect loop does that, above memberlist)."""
        self._note("repair")
        self._net.heal()
        self._net.set_default_link(attrs.evolve(self._net.default_link, loss=0.0, corrupt=0.0))
        for handle in self.nodes.values():
            host = handle._sim.host
            self._net.resume(host)
            self._net.slow(host, 0.0)
            handle.clock_offset, handle.clock_drift = 0.0, 0.0
        running = [h.name for h in self.running()]
        async with trio.open_nursery() as nursery:
            for name in running[1:]:
                nursery.start_soon(self._join, name, running[:1])

    # ---- waiting helpers -------------------------------------------------------------------

    def is_converged(self) -> bool:
        """Every running node lists exactly the running nodes, all alive."""
        # converged() polls this every gossip interval, and listing every node's members (n
        # lists of n) was a quarter of a 300-node join's CPU. The answer is the same as that
        # listing's, found cheaper: the node that failed the last poll is asked first (while
        # the cluster converges it usually still lags), and a node whose member table is the
        # very (immutable) table that already passed for this running set is not re-read.
        running = self.running()
        expected = frozenset(h.name for h in running)
        if expected != self._converged_for:
            self._converged_for = expected
            self._passed.clear()
        passed = self._passed
        laggard = self._laggard
        if laggard is not None and laggard.running:
            running.remove(laggard)
            running.insert(0, laggard)
        for handle in running:
            node = handle.memberlist
            members = node.snapshot.membership.members
            if passed.get(handle.name) is members:
                continue
            if not _lists_exactly_alive(node, expected):
                self._laggard = handle
                return False
            passed[handle.name] = members
        return True

    def is_detected(self, name: str) -> bool:
        """Every running node holds ``name`` as dead or left (or has forgotten it)."""
        for handle in self.running():
            member = handle.memberlist.member(name)
            if member is not None and member.state in (NodeState.ALIVE, NodeState.SUSPECT):
                return False
        return True

    def is_ring_settled(self) -> bool:
        """Every running node holds one ring, in which each running node is ACTIVE."""
        shapes = set()
        expected = {h.name for h in self.running()}
        for handle in self.running():
            ring = handle.ring()
            live = {d.id: d for d in ring.live()}
            if not expected <= live.keys():
                return False
            if any(live[n].state is not InstanceState.ACTIVE for n in expected):
                return False
            shapes.add(tuple((d.id, d.state, d.tokens) for d in ring.live()))
        return len(shapes) <= 1

    def convergence_bound(self) -> float:
        """bounds.join_timeout for the running count: gossip, then two anti-entropy rounds."""
        return join_timeout(self.config, max(2, len(self.running())))

    def detection_bound(self) -> float:
        """The unconfirmed detection formula (the longest suspicion), then the time for the
        verdict to reach everyone: an anti-entropy round."""
        n = max(2, len(self.nodes))
        return detection_formula(self.config, n, confirmed=False) + anti_entropy_time(
            self.config, n)  # fmt: skip

    def ring_bound(self) -> float:
        """Membership convergence, then two heartbeats' worth of ring gossip."""
        return self.convergence_bound() + 2 * HEARTBEAT_PERIOD

    async def converged(self, *, timeout: float | None = None) -> float:
        """Wait until ``is_converged``; the simulated seconds it took. The deadline is
        ``convergence_bound()`` unless given."""
        deadline = self.convergence_bound() if timeout is None else timeout
        return await self._wait(self.is_converged, deadline,
                                "the running nodes did not all list each other as alive",
                                self._membership_lines)  # fmt: skip

    async def detected(self, name: str, *, timeout: float | None = None) -> float:
        """Wait until every running node holds ``name`` as dead or left."""
        if self[name].running:
            raise RuntimeError(f"{name} is running: kill it (or partition it) first")
        deadline = self.detection_bound() if timeout is None else timeout
        return await self._wait(lambda: self.is_detected(name), deadline,
                                f"{name} was not detected as dead by every running node",
                                self._membership_lines)  # fmt: skip

    async def ring_settled(self, *, timeout: float | None = None) -> float:
        """Wait until ``is_ring_settled`` (a "ring" cluster)."""
        if self.kind != "ring":
            raise RuntimeError(f"ring_settled needs kind='ring', this cluster is {self.kind!r}")
        deadline = self.ring_bound() if timeout is None else timeout
        return await self._wait(self.is_ring_settled, deadline,
                                "the running nodes' rings did not agree with each running "
                                "node ACTIVE", self._ring_lines)  # fmt: skip

    async def _wait(self, done: Callable[[], bool], deadline: float, what: str,
                    lines: Callable[[], list[str]]) -> float:  # fmt: skip
        start = trio.current_time()
        poll = self.config.gossip_interval or self.config.probe_interval
        with trio.move_on_after(deadline):
            while not done():
                await trio.sleep(poll)
            return trio.current_time() - start
        notes = [f"t={n.time:.2f} {n.what}" for n in self.history.notes]
        raise GossipTimeoutError(timeout_message(what, deadline, lines(), notes))

    def _membership_lines(self) -> list[str]:
        expected = {h.name for h in self.running()}
        lines = [membership_view(h.name, h.memberlist, expected) for h in self.running()]
        down = [h.name for h in self.nodes.values() if not h.running]
        return [*lines, f"  (not running: {', '.join(down)})"] if down else lines

    def _ring_lines(self) -> list[str]:
        return [ring_view(h.name, h.ring()) for h in self.running()]

    # ---- history ---------------------------------------------------------------------------

    def facts(self) -> list[Fact]:
        """What each node learned and when, in order (observer, subject, kind, incarnation)."""
        return list(self.history.facts)

    def digest(self) -> str:
        """A SHA-256 of the whole history (facts and faults): equal for two runs of a seed."""
        return hashlib.sha256(repr(self.history.trace()).encode()).hexdigest()

    def _note(self, what: str) -> None:
        self.history.note(trio.current_time(), what)

    async def _shutdown(self) -> None:
        self.history.enabled = False
        for handle in self.nodes.values():
            sim = handle._sim
            if sim.running:
                self._net.kill(sim.host)
                sim.status = NodeStatus.KILLED
            if sim.scope is not None:
                sim.scope.cancel()


@asynccontextmanager
async def open_cluster(
    nodes: int = 5,
    *,
    seed: int = 0,
    kind: Kind = "plain",
    config: Config | None = None,
    delegates: DelegateFactory | None = None,
    join: bool = True,
    formed: bool = False,
) -> AsyncIterator[GossipCluster]:
    """Start ``nodes`` nodes named node-00.. on a simulated network seeded from ``seed``:
    plain memberlist nodes, KV stores ("kv") or KV stores with a ring lifecycler ("ring");
    ``delegates(name)`` may give a node a delegate of its own. With ``join`` (the default)
    every node joins node-00 before the block starts; the cluster has not converged yet
    (``await cluster.converged()``). With ``formed`` every node instead starts holding every
    node, as those joins leave them once converged but without their traffic (n^2 member
    insertions: a minute of CPU at 1,000 nodes): for tests of what comes after formation.
    ``config`` is every node's template (each gets its own name); the default is
    ``default_config()``. Run it on simulated time: under the pytest
    plugin's ``gossip`` fixture, or with ``trio_gossip.testing.run``."""
    if nodes < 1:
        raise ValueError(f"nodes must be at least 1, got {nodes}")
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS}, got {kind!r}")
    template = config if config is not None else default_config()
    async with trio.open_nursery() as nursery:
        cluster = GossipCluster(nursery, nodes=nodes, seed=seed, kind=kind, config=template,
                                delegates=delegates)  # fmt: skip
        for name in cluster.names:
            await cluster._start(name)
        nursery.start_soon(sample_suspicions, cluster._sims, cluster.history, 0.1)
        if formed:
            await cluster._form_at_once()
        elif join:
            await cluster._form()
        try:
            yield cluster
        finally:
            with trio.CancelScope(shield=True):
                await cluster._shutdown()
            nursery.cancel_scope.cancel()


def default_config() -> Config:
    """memberlist's LAN profile without LZW compression. Compression changes the bytes of a
    packet, never what it says or which messages ride it (memberlist net.go compresses the
    finished compound), and in pure Python it is half the CPU of a simulated cluster; pass
    ``config=Config.lan(name="test")`` to simulate the compressed bytes too."""
    return Config.lan(name="test", enable_compression=False)


def _lists_exactly_alive(node: Memberlist, expected: frozenset[str]) -> bool:
    """Whether the members ``node`` lists as alive are exactly ``expected``. A node whose live
    count (alive + suspect) is short of them cannot be; one whose count matches lists nothing
    else once each of them is alive in its table; only a surplus needs the full listing."""
    live = node.num_members()
    want = len(expected)
    if live < want:
        return False
    for name in expected:
        member = node.member(name)
        if member is None or member.state != NodeState.ALIVE:
            return False
    if live == want:
        return True
    return {m.name for m in node.members() if m.state == NodeState.ALIVE} == expected


def _derive(seed: int, purpose: str) -> int:
    return random.Random(f"trio-gossip-testing/{seed}/{purpose}").getrandbits(63)


__all__ = ["GossipCluster", "default_config", "open_cluster"]
