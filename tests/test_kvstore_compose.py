"""A KV store sharing a node with another delegate (an agent's Serf delegate): each side gets
only its own bytes, on real nodes of the in-memory network."""

from __future__ import annotations

import random

import attrs
import pytest
import trio
import trio.testing
from kv_support import FakeClock, lww_put, ring_store

from trio_gossip import BaseDelegate, Config, DecodeError, open_memberlist
from trio_gossip.core.kv.replica import combine, split
from trio_gossip.core.membership.member import MemberEvent
from trio_gossip.transport.memory import MemoryNetwork


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


async def test_messages_broadcasts_and_state_are_routed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    clock = FakeClock()
    net = MemoryNetwork()
    config = Config.lan(name="t")
    a, b = ring_store(clock), ring_store(clock)
    inner_a, inner_b = Inner(), Inner()
    async with (
        open_memberlist(attrs.evolve(config, name="a"), transport=net.add_node(),
                        delegate=inner_a, kv=a, rng=random.Random(1)) as node_a,
        open_memberlist(attrs.evolve(config, name="b"), transport=net.add_node(),
                        delegate=inner_b, kv=b, rng=random.Random(2)) as node_b,
    ):  # fmt: skip
        await a.cas("k", lww_put("x", b"1", clock()), codec="lww")
        await node_b.join([node_a.local_member.address])  # the push/pull carries both states
        assert b.get("k") == a.get("k")
        assert b"\x05serf-state" in inner_b.states
        assert b"\x05serf-state" in inner_a.states
        await trio.sleep(2.0)  # gossip: the inner broadcasts reach the other side
        assert b"\x01serf-intent" in inner_b.messages
        assert b"\x01serf-intent" in inner_a.messages
        # Only the inner delegate's bytes ever reach it: no KV message among them.
        assert all(m[:1] == b"\x01" for m in inner_a.messages + inner_b.messages)
        assert node_b.member("a").meta == b"tags"
        assert {e.member.name for e in inner_b.events} >= {"a", "b"}


def test_combined_state_round_trips_and_refuses_truncation() -> None:
    assert split(combine(b"kv-state", b"\x05serf")) == (b"kv-state", b"\x05serf")
    assert combine(b"", b"\x05serf") == b"\x05serf"  # nothing of ours: theirs unchanged
    assert split(b"\x05serf") == (b"", b"\x05serf")
    with pytest.raises(DecodeError):
        split(b"KC\x00\x00\x10\x00short")
