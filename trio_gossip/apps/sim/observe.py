"""How the harness learns what each node knows: its events, and its running suspicions.

Joins, metadata updates, deaths and leaves arrive through the node's event hook, synchronously
and exactly. Suspicion raises no event in memberlist, so a sampler reads each node's member
table every ``sample_interval``; it records a suspicion with its own start time, so the time
is exact, but one that begins and is refuted between two samples goes unseen.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable, Mapping, Sequence

import attrs
import trio

from trio_gossip.apps.sim.history import FactKind, History
from trio_gossip.core.config import Config
from trio_gossip.core.membership.member import EventKind, MemberEvent
from trio_gossip.core.membership.suspicion import Suspicion
from trio_gossip.shell.memberlist import Memberlist
from trio_gossip.shell.node.delegate import Delegate, Delegates, EventDelegate
from trio_gossip.transport.base import KeepsTime, Transport

_FACT_OF_EVENT = {
    EventKind.JOINED: FactKind.ALIVE,
    EventKind.UPDATED: FactKind.UPDATED,
    EventKind.FAILED: FactKind.DEAD,
    EventKind.LEFT: FactKind.LEFT,
}


class NodeStatus(enum.Enum):
    STARTING = "starting"
    RUNNING = "running"
    KILLED = "killed"
    LEFT = "left"


@attrs.define(eq=False)
class SimNode:
    """One simulated node: its name, host and transport, and its Memberlist while it runs."""

    index: int
    name: str
    transport: Transport
    config: Config
    rng: random.Random
    status: NodeStatus = NodeStatus.STARTING
    node: Memberlist | None = None
    scope: trio.CancelScope | None = None
    joined_at: float | None = None  # when its join() returned
    stopped_at: float | None = None  # when it was killed or left
    stopping: bool = False

    @property
    def host(self) -> str:
        return self.transport.local_address[0]

    @property
    def running(self) -> bool:
        return self.status == NodeStatus.RUNNING

    @property
    def memberlist(self) -> Memberlist:
        if self.node is None:
            raise RuntimeError(f"{self.name} is not running")
        return self.node


class EventRecorder:
    """Records a node's membership events into the history, then passes them on to the
    application's own event delegate, if it has one."""

    def __init__(self, sim: SimNode, history: History, inner: EventDelegate | None) -> None:
        self._sim = sim
        self._history = history
        self._inner = inner
        self._clock: Callable[[], float] | None = None

    def notify_event(self, event: MemberEvent) -> None:
        if self._history.enabled and self._sim.status != NodeStatus.KILLED:
            member = event.member
            clock = self._clock
            if clock is None:
                # The network's time: an event of a step an alarm took happened at the alarm's.
                transport = self._sim.transport
                clock = transport.now if isinstance(transport, KeepsTime) else trio.current_time
                self._clock = clock
            self._history.record(clock(), self._sim.name, member.name,
                                 _FACT_OF_EVENT[event.kind], member.incarnation)  # fmt: skip
        if self._inner is not None:
            self._inner.notify_event(event)


def recording_delegates(sim: SimNode, history: History,
                        inner: Delegate | Delegates | None) -> Delegates:  # fmt: skip
    """The application's delegate roles with the event role wrapped to record. Roles the
    application does not play stay unplayed: without user broadcasts, an idle node's gossip
    timer sleeps instead of waking every gossip_interval."""
    roles = Delegates.of(inner)
    return attrs.evolve(roles, events=EventRecorder(sim, history, roles.events))


def _suspicions(node: Memberlist) -> Mapping[str, Suspicion]:
    # Suspicion raises no event: read the node's latest immutable snapshot.
    return node.snapshot.membership.suspicions


async def sample_suspicions(nodes: Sequence[SimNode], history: History, interval: float) -> None:
    """Every ``interval``, record the suspicions each running node holds (with their start)."""
    last: dict[str, Mapping[str, Suspicion]] = {}
    while True:
        await trio.sleep(interval)
        for sim in nodes:
            if not sim.running or sim.node is None:
                continue
            suspicions = _suspicions(sim.node)
            if suspicions is last.get(sim.name) or not suspicions:
                last[sim.name] = suspicions
                continue
            last[sim.name] = suspicions
            for subject in suspicions:
                member = sim.node.member(subject)
                incarnation = member.incarnation if member is not None else 0
                history.record(suspicions[subject].start, sim.name, subject,
                               FactKind.SUSPECT, incarnation)  # fmt: skip
