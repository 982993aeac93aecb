"""The Delegate hooks: push/pull user state, user broadcasts, events, vetoes, conflicts."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import trio
import trio.testing
from node_support import base_config, converged, convergence_bound, start_cluster, wait_for

from trio_gossip import BaseDelegate, EventKind, JoinError, Member, MemberEvent, open_memberlist
from trio_gossip.transport.memory import MemoryNetwork


class Recording(BaseDelegate):
    def __init__(self, name: str) -> None:
        self.name = name
        self.merged: list[tuple[bytes, bool]] = []
        self.messages: list[bytes] = []
        self.events: list[MemberEvent] = []
        self.pending: list[bytes] = []
        self.conflicts: list[tuple[Member, Member]] = []
        self.refuse_merge = False

    def node_meta(self, limit: int) -> bytes:
        return f"meta-{self.name}".encode()

    def local_state(self, join: bool) -> bytes:
        return f"opaque state of {self.name}".encode()

    def merge_remote_state(self, buf: bytes, join: bool) -> None:
        self.merged.append((buf, join))

    def notify_msg(self, message: bytes) -> None:
        self.messages.append(message)

    def get_broadcasts(self, overhead: int, limit: int) -> list[bytes]:
        taken = [m for m in self.pending if len(m) + overhead <= limit]
        self.pending = [m for m in self.pending if m not in taken]
        return taken

    def notify_event(self, event: MemberEvent) -> None:
        self.events.append(event)

    def notify_merge(self, peers: Sequence[Member]) -> bool:
        return not self.refuse_merge

    def notify_conflict(self, existing: Member, other: Member) -> None:
        self.conflicts.append((existing, other))


async def test_user_state_meta_broadcasts_and_events(
    autojump_clock: trio.testing.MockClock,
) -> None:
    net = MemoryNetwork(seed=41)
    config = base_config()
    delegates = [Recording("a"), Recording("b")]
    async with start_cluster(net, 2, config, delegates=delegates) as (_, b):
        # The join push/pull carried each side's opaque state, unchanged, with Join set.
        assert delegates[0].merged == [(b"opaque state of b", True)]
        assert delegates[1].merged == [(b"opaque state of a", True)]
        assert b.member("n0").meta == b"meta-a"  # type: ignore[union-attr]
        # A user broadcast rides along after memberlist's own, framed as a user message.
        delegates[0].pending.append(b"hello via gossip")
        await wait_for(lambda: b"hello via gossip" in delegates[1].messages, 2.0)
        assert [(e.kind, e.member.name) for e in delegates[1].events] == [
            (EventKind.JOINED, "n1"), (EventKind.JOINED, "n0")]  # fmt: skip


async def test_merge_veto_refuses_join(autojump_clock: trio.testing.MockClock) -> None:
    net = MemoryNetwork(seed=42)
    guard = Recording("a")
    guard.refuse_merge = True
    # A merge veto on the joining side fails the join: nothing of the reply is merged.
    async with (
        start_cluster(net, 1) as (a,),
        open_memberlist(base_config(name="y"), transport=net.add_node(), delegate=guard) as y,
    ):
        with pytest.raises(JoinError, match="refused"):
            await y.join([a.local_member.address])
        assert y.num_members() == 1


async def test_conflict_hook_sees_address_clash(autojump_clock: trio.testing.MockClock) -> None:
    net = MemoryNetwork(seed=43)
    config = base_config()
    delegates = [Recording("a"), Recording("b")]
    async with start_cluster(net, 2, config, delegates=delegates) as nodes:
        await wait_for(lambda: converged(nodes), convergence_bound(config, 2))
        # A second process calling itself n1 from another address.
        async with open_memberlist(base_config(name="n1"), transport=net.add_node()) as twin:
            await twin.join([nodes[0].local_member.address])
            await wait_for(lambda: bool(delegates[0].conflicts), 2.0)
            existing, other = delegates[0].conflicts[0]
            assert existing.address == nodes[1].local_member.address
            assert other.address == twin.local_member.address
