"""Hooks for the layers above membership (the KV store, Serf-like apps), one small typed
``Protocol`` per role as memberlist splits them (delegate.go, event_delegate.go,
alive_delegate.go, merge_delegate.go, conflict_delegate.go, ping_delegate.go).

``Delegates`` is the composite a node takes: one object per role, or None for a role nobody
plays. ``Delegates.of(d)`` gives every role to one object that implements them all, such as a
``BaseDelegate`` subclass (no-ops for what it does not override). Every hook is called
synchronously by the node's writer or a stream handler: it must not block. A hook may raise
``DecodeError`` for bad remote bytes (the node counts it and carries on); any other exception
is a bug and ends the node.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, cast

import attrs

from trio_gossip.core.engine.state import Hooks
from trio_gossip.core.membership.member import Member, MemberEvent


class MetaDelegate(Protocol):
    def node_meta(self, limit: int) -> bytes:
        """Metadata for our alive messages (at most ``limit`` bytes, i.e. 512)."""
        ...


class MessageDelegate(Protocol):
    def notify_msg(self, message: bytes) -> None:
        """A user message arrived (best-effort packet or reliable stream)."""
        ...


class BroadcastDelegate(Protocol):
    def get_broadcasts(self, overhead: int, limit: int) -> list[bytes]:
        """User broadcasts to fill the rest of a packet: each costs ``len + overhead`` bytes."""
        ...


class WakingBroadcastDelegate(BroadcastDelegate, Protocol):
    def set_gossip_waker(self, wake: Callable[[], None]) -> None:
        """Optional: the node hands over ``wake``, to call whenever a broadcast is queued;
        then its gossip timer sleeps while neither its queue nor ours holds anything (an
        idle node wakes once a probe interval instead of every gossip interval)."""
        ...


class StateDelegate(Protocol):
    def local_state(self, join: bool) -> bytes:
        """Opaque user state sent with every push/pull (carried unchanged, e.g. Serf's)."""
        ...

    def merge_remote_state(self, buf: bytes, join: bool) -> None:
        """The peer's opaque user state from a push/pull (only called when non-empty)."""
        ...


class EventDelegate(Protocol):
    def notify_event(self, event: MemberEvent) -> None:
        """A member joined, was updated, left or failed."""
        ...


class AliveDelegate(Protocol):
    def notify_alive(self, member: Member) -> bool:
        """Return False to drop this alive (ours included)."""
        ...


class MergeDelegate(Protocol):
    def notify_merge(self, peers: Sequence[Member]) -> bool:
        """Return False to refuse a join push/pull (both sides ask)."""
        ...


class ConflictDelegate(Protocol):
    def notify_conflict(self, existing: Member, other: Member) -> None:
        """A known name was announced from another address."""
        ...


class PingDelegate(Protocol):
    def ack_payload(self) -> bytes | None:
        """Payload for our acks (Serf sends its coordinate here)."""
        ...

    def notify_ping_complete(self, member: Member, rtt: float, payload: bytes | None) -> None:
        """A direct UDP probe of ``member`` was acked after ``rtt`` seconds."""
        ...


class Delegate(
    MetaDelegate, MessageDelegate, BroadcastDelegate, StateDelegate, EventDelegate,
    AliveDelegate, MergeDelegate, ConflictDelegate, PingDelegate, Protocol,
):  # fmt: skip
    """Every role in one object (what ``BaseDelegate`` implements)."""


class BaseDelegate:
    """Every role as a no-op; subclass and override what you need."""

    def node_meta(self, limit: int) -> bytes:
        return b""

    def notify_msg(self, message: bytes) -> None:
        return None

    def get_broadcasts(self, overhead: int, limit: int) -> list[bytes]:
        return []

    def local_state(self, join: bool) -> bytes:
        return b""

    def merge_remote_state(self, buf: bytes, join: bool) -> None:
        return None

    def notify_event(self, event: MemberEvent) -> None:
        return None

    def notify_alive(self, member: Member) -> bool:
        return True

    def notify_merge(self, peers: Sequence[Member]) -> bool:
        return True

    def notify_conflict(self, existing: Member, other: Member) -> None:
        return None

    def ack_payload(self) -> bytes | None:
        return None

    def notify_ping_complete(self, member: Member, rtt: float, payload: bytes | None) -> None:
        return None


@attrs.frozen
class Delegates:
    """The roles a node's application plays; None where nobody plays one."""

    meta: MetaDelegate | None = None
    messages: MessageDelegate | None = None
    broadcasts: BroadcastDelegate | None = None
    state: StateDelegate | None = None
    events: EventDelegate | None = None
    alive: AliveDelegate | None = None
    merge: MergeDelegate | None = None
    conflict: ConflictDelegate | None = None
    ping: PingDelegate | None = None

    @classmethod
    def of(cls, delegate: Delegate | Delegates | None) -> Delegates:
        if delegate is None:
            return cls()
        if isinstance(delegate, Delegates):
            return delegate
        d = delegate
        return cls(d, d, d, d, d, d, d, d, d)

    def waking_broadcasts(self) -> WakingBroadcastDelegate | None:
        """The broadcasts role, if it takes a gossip waker."""
        role = self.broadcasts
        if role is not None and callable(getattr(role, "set_gossip_waker", None)):
            return cast(WakingBroadcastDelegate, role)
        return None

    def hooks(self) -> Hooks:
        """What the engine asks while it decides."""
        return Hooks(
            alive_filter=self.alive.notify_alive if self.alive is not None else None,
            merge_veto=self.merge.notify_merge if self.merge is not None else None,
            ack_payload=self.ping.ack_payload if self.ping is not None else None,
            broadcasts=self.broadcasts.get_broadcasts if self.broadcasts is not None else None,
            broadcasts_wake=self.waking_broadcasts() is not None,
        )
