"""One node of a test cluster: its handle and the task that runs it."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Literal

import attrs
import trio

from trio_gossip.apps.sim.history import History
from trio_gossip.apps.sim.observe import NodeStatus, SimNode, recording_delegates
from trio_gossip.core.config import Config
from trio_gossip.core.kv import LWW_CODEC
from trio_gossip.core.ring import RING_CODEC, Ring
from trio_gossip.shell.kv.clock import sim_clock
from trio_gossip.shell.kv.store import KVStore
from trio_gossip.shell.memberlist import Memberlist, open_memberlist
from trio_gossip.shell.node.delegate import Delegate
from trio_gossip.shell.ring.lifecycler import Lifecycler, lifecycler
from trio_gossip.transport.base import Address, Transport

Kind = Literal["plain", "kv", "ring"]
RING_KEY = "ring"


@attrs.define(eq=False)
class NodeHandle:
    """A test's handle on one node. ``memberlist`` always; ``kv`` for "kv" and "ring"
    clusters; ``lifecycler`` for "ring" clusters. A restart swaps them for new ones."""

    name: str
    address: Address
    _sim: SimNode
    kv: KVStore | None = None
    lifecycler: Lifecycler | None = None
    clock_offset: float = 0.0
    # The wall clock gains clock_drift seconds a second (negative: loses) since drift_since.
    clock_drift: float = 0.0
    drift_since: float = 0.0
    restarts: int = 0

    @property
    def running(self) -> bool:
        return self._sim.running

    @property
    def memberlist(self) -> Memberlist:
        return self._sim.memberlist

    def now(self) -> float:
        """This node's wall clock: the simulated epoch plus its skew and its drift so far."""
        now = sim_clock()
        return now + self.clock_offset + self.clock_drift * (now - self.drift_since)

    def ring(self) -> Ring:
        """The ring this node holds (empty if it has none yet or runs no KV store)."""
        value = self.kv.get(RING_KEY) if self.kv is not None else None
        return value if isinstance(value, Ring) else Ring()


async def run_node(
    handle: NodeHandle,
    history: History,
    *,
    kind: Kind,
    delegate: Delegate | None,
    seed_text: str,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the node until its cancel scope is cancelled (a kill) or the cluster closes."""
    sim = handle._sim
    rng = random.Random(seed_text)
    with trio.CancelScope() as scope:
        sim.scope = scope
        kv = None
        if kind != "plain":
            kv = KVStore([RING_CODEC, LWW_CODEC], rng=random.Random(rng.getrandbits(64)),
                         clock=handle.now)  # fmt: skip
        handle.kv = kv
        recorder = recording_delegates(sim, history, delegate)
        try:
            async with open_memberlist(sim.config, transport=sim.transport, delegate=recorder,
                                       rng=rng, kv=kv) as node:  # fmt: skip
                sim.node = node
                sim.status = NodeStatus.RUNNING
                task_status.started()
                if kind != "ring" or kv is None:
                    await trio.sleep_forever()
                async with lifecycler(kv, instance_id=handle.name, addr=sim.host,
                                      rng=random.Random(rng.getrandbits(64))) as lc:  # fmt: skip
                    handle.lifecycler = lc
                    await trio.sleep_forever()
        finally:
            sim.node = None
            handle.lifecycler = None


def new_sim(index: int, name: str, transport: Transport, config: Config) -> SimNode:
    # The SimNode's own generator is unused here: run_node seeds the node's.
    return SimNode(index, name, transport, attrs.evolve(config, name=name), random.Random(0))


DelegateFactory = Callable[[str], Delegate | None]
