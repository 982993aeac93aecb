"""Hooks for the layers above membership (the KV store, Serf-like apps).

``Delegate`` is memberlist's Delegate interface; ``BaseDelegate`` implements it with no-ops and
adds the optional hooks (events, alive filter, merge veto, conflicts, ping payloads). Every hook
is called synchronously from the node's tasks: it must not block. A hook may raise
``DecodeError`` for bad remote bytes (the node counts it and carries on); any other exception
is a bug and ends the node.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from trio_gossip.core.membership.member import Member, MemberEvent


@runtime_checkable
class Delegate(Protocol):
    """memberlist's Delegate: metadata, user messages, user broadcasts and push/pull state."""

    def node_meta(self, limit: int) -> bytes:
        """Metadata for our alive messages (at most ``limit`` bytes, i.e. 512)."""
        ...

    def notify_msg(self, message: bytes) -> None:
        """A user message arrived (best-effort packet or reliable stream)."""
        ...

    def get_broadcasts(self, overhead: int, limit: int) -> list[bytes]:
        """User broadcasts to fill the rest of a packet: each costs ``len + overhead`` bytes."""
        ...

    def local_state(self, join: bool) -> bytes:
        """Opaque user state sent with every push/pull (carried unchanged, e.g. Serf's)."""
        ...

    def merge_remote_state(self, buf: bytes, join: bool) -> None:
        """The peer's opaque user state from a push/pull (only called when non-empty)."""
        ...


class BaseDelegate:
    """A do-nothing Delegate with every optional hook; subclass and override what you need."""

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

    # ---- optional hooks (looked up with getattr, so plain Delegates need not define them) ----

    def notify_event(self, event: MemberEvent) -> None:
        """EventDelegate: a member joined, was updated, left or failed."""
        return

    def notify_alive(self, member: Member) -> bool:
        """AliveDelegate: return False to drop this alive (ours included)."""
        return True

    def notify_merge(self, peers: Sequence[Member]) -> bool:
        """MergeDelegate: return False to refuse a join push/pull (both sides ask)."""
        return True

    def notify_conflict(self, existing: Member, other: Member) -> None:
        """ConflictDelegate: a known name was announced from another address."""
        return

    def ack_payload(self) -> bytes | None:
        """PingDelegate: payload for our acks (Serf sends its coordinate here)."""
        return None

    def notify_ping_complete(self, member: Member, rtt: float, payload: bytes | None) -> None:
        """PingDelegate: a direct UDP probe of ``member`` was acked after ``rtt`` seconds."""
        return
