"""A KV store sharing a node with another delegate: each side gets only its own bytes."""

from __future__ import annotations

import pytest
from kv_support import FakeClock, fake_cluster, lww_put, settle

from trio_gossip import BaseDelegate, DecodeError
from trio_gossip.core.membership.member import EventKind, Member, MemberEvent
from trio_gossip.shell.kv.compose import with_kv
from trio_gossip.wire.messages import NodeState


class Inner(BaseDelegate):
    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.states: list[bytes] = []
        self.events: list[MemberEvent] = []
        self.queued = [b"\x01serf-intent"]

    def node_meta(self, limit: int) -> bytes:
        return b"tags"

    def notify_msg(self, message: bytes) -> None:
        self.messages.append(message)

    def get_broadcasts(self, overhead: int, limit: int) -> list[bytes]:
        out, self.queued = self.queued, []
        return out

    def local_state(self, join: bool) -> bytes:
        return b"\x05serf-state"

    def merge_remote_state(self, buf: bytes, join: bool) -> None:
        self.states.append(buf)

    def notify_event(self, event: MemberEvent) -> None:
        self.events.append(event)


async def test_messages_broadcasts_and_state_are_routed() -> None:
    clock = FakeClock()
    async with fake_cluster(2, clock=clock) as (a, b):
        inner_a, inner_b = Inner(), Inner()
        da, db = with_kv(inner_a, a), with_kv(inner_b, b)
        assert da.node_meta(512) == b"tags"
        await a.cas("k", lww_put("x", b"1", clock()), codec="lww")
        parts = da.get_broadcasts(3, 1400)
        assert parts[0] == b"\x01serf-intent"
        assert len(parts) == 2
        for part in parts:
            db.notify_msg(part)
        db.merge_remote_state(da.local_state(False), False)
        await settle()
        assert inner_b.messages == [b"\x01serf-intent"]
        assert inner_b.states == [b"\x05serf-state"]
        assert b.get("k") == a.get("k")
        # Optional hooks are the inner delegate's.
        member = Member("m", b"\x0a\x00\x00\x01", 1, b"", 1, NodeState.ALIVE, 0.0)
        db.notify_event(MemberEvent(EventKind.JOINED, member))
        assert inner_b.events[0].member is member
        assert getattr(db, "ack_payload", None) is not None
        with pytest.raises(DecodeError):
            db.merge_remote_state(b"KC\x00\x00\x10\x00short", False)


async def test_plain_inner_state_passes_through_when_the_store_is_empty() -> None:
    async with fake_cluster(1) as (kv,):
        inner = Inner()
        combined = with_kv(inner, kv)
        assert combined.local_state(True) == b"\x05serf-state"
        combined.merge_remote_state(b"\x05serf-state", True)
        assert inner.states == [b"\x05serf-state"]
