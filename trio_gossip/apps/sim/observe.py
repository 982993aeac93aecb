"""How the harness learns what each node knows: its events, and its running suspicions.

Joins, metadata updates, deaths and leaves arrive through the node's event hook, synchronously
and exactly. Suspicion raises no event in memberlist, so a sampler reads each node's member
table every ``sample_interval``; it records a suspicion with its own start time, so the time
is exact, but one that begins and is refuted between two samples goes unseen.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import trio

from trio_gossip.apps.sim.history import FactKind, History
from trio_gossip.core.config import Config
from trio_gossip.core.membership.member import EventKind, MemberEvent
from trio_gossip.core.membership.suspicion import Suspicion
from trio_gossip.shell.memberlist import Memberlist
from trio_gossip.shell.node.delegate import Delegate
from trio_gossip.transport.base import Transport

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


# The node's optional hooks (BaseDelegate's) besides notify_event, which we wrap.
_PASSED_ON = ("notify_alive", "notify_merge", "notify_conflict", "ack_payload",
              "notify_ping_complete")  # fmt: skip


class RecordingDelegate:
    """Records the node's membership events into the history, then passes everything on to
    an optional inner delegate.

    The node looks optional hooks up by name and skips a missing (or None) one, so each is
    copied from the inner delegate, None when it has none: a notify_alive of ours would put
    a call on every alive message, and ``__getattr__`` (for hooks added later) raises per
    lookup.
    """

    def __init__(self, sim: SimNode, history: History, inner: Delegate | None) -> None:
        self._sim = sim
        self._history = history
        self._inner = inner
        for name in _PASSED_ON:
            setattr(self, name, getattr(inner, name, None))
        # Without an inner delegate we never have user broadcasts: say so, so that an idle
        # node's gossip loop parks instead of waking every gossip_interval.
        self.sends_broadcasts = inner is not None and bool(getattr(inner, "sends_broadcasts", True))

    def notify_event(self, event: MemberEvent) -> None:
        if self._sim.status != NodeStatus.KILLED:
            member = event.member
            self._history.record(trio.current_time(), self._sim.name, member.name,
                                 _FACT_OF_EVENT[event.kind], member.incarnation)  # fmt: skip
        hook = getattr(self._inner, "notify_event", None)
        if hook is not None:
            hook(event)

    def node_meta(self, limit: int) -> bytes:
        return self._inner.node_meta(limit) if self._inner is not None else b""

    def notify_msg(self, message: bytes) -> None:
        if self._inner is not None:
            self._inner.notify_msg(message)

    def get_broadcasts(self, overhead: int, limit: int) -> list[bytes]:
        return self._inner.get_broadcasts(overhead, limit) if self._inner is not None else []

    def local_state(self, join: bool) -> bytes:
        return self._inner.local_state(join) if self._inner is not None else b""

    def merge_remote_state(self, buf: bytes, join: bool) -> None:
        if self._inner is not None:
            self._inner.merge_remote_state(buf, join)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or self._inner is None:
            raise AttributeError(name)
        return getattr(self._inner, name)


def _suspicions(node: Memberlist) -> Mapping[str, Suspicion]:
    # The node has no public view of its running suspicions; this is the one place the
    # harness reads its internals (the latest immutable snapshot, so reading is safe).
    return node._rt.state.suspicions


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
