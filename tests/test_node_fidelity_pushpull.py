"""Fidelity of push/pull and join against memberlist's pushPullNode,
mergeRemoteState and resolveAddr."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import trio
import trio.testing
from fidelity_support import ScriptedPeer
from node_support import base_config, sees, start_cluster

from trio_gossip import BaseDelegate, JoinError, Member, open_memberlist
from trio_gossip.core.membership.member import ip_bytes
from trio_gossip.shell.node.pushpull import parse_join_address
from trio_gossip.transport.memory import MemoryNetwork
from trio_gossip.wire.messages import Message, NodeState, PushNodeState, PushPull


class MergeLog(BaseDelegate):
    def __init__(self) -> None:
        self.vetoes: list[list[str]] = []
        self.merged: list[tuple[bytes, bool]] = []

    def notify_merge(self, peers: Sequence[Member]) -> bool:
        self.vetoes.append([p.name for p in peers])
        return True

    def merge_remote_state(self, buf: bytes, join: bool) -> None:
        self.merged.append((buf, join))


async def test_versions_are_checked_before_the_merge_delegate(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """mergeRemoteState runs verifyProtocol first: a join refused for its versions never
    reaches NotifyMerge, on either side."""
    net = MemoryNetwork(seed=121)
    serf_like = base_config(delegate_protocol_min=2, delegate_protocol_max=5,
                            delegate_protocol_version=4)  # fmt: skip
    responder, initiator = MergeLog(), MergeLog()
    async with (
        start_cluster(net, 1, serf_like, delegates=[responder]) as (a,),
        open_memberlist(
            base_config(name="plain"), transport=net.add_node(), delegate=initiator
        ) as p,  # fmt: skip
    ):
        with pytest.raises(JoinError, match="delegate protocol version"):
            await p.join([a.local_member.address])
        await trio.sleep(1.0)  # the responder merges after it has replied
        assert responder.vetoes == []
        assert initiator.vetoes == []
        assert a.num_members() == 1


async def test_initiator_merges_with_its_own_join_flag(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """pushPullNode merges the reply with the Join value it sent, whatever the reply says."""
    net = MemoryNetwork(seed=122)
    log = MergeLog()
    peer = ScriptedPeer(net.add_node())
    host, port = peer.address
    me = PushNodeState("p", ip_bytes(host), port, None, 1, int(NodeState.ALIVE),
                       base_config().build_vsn())  # fmt: skip

    def reply(msg: Message) -> Message | None:
        return PushPull(False, (me,), b"peer state") if isinstance(msg, PushPull) else None

    peer.stream_script = reply
    async with (
        start_cluster(net, 1, delegates=[log]) as (a,),
        trio.open_nursery() as nursery,
    ):
        await nursery.start(peer.serve)
        assert await a.join([peer.address]) == 1
        assert sees(a, "p", NodeState.ALIVE)
        assert log.vetoes == [["p"]]
        assert log.merged == [(b"peer state", True)]
        nursery.cancel_scope.cancel()


def test_join_address_with_empty_node_name_is_refused() -> None:
    """resolveAddr: a leading "/" is an empty node name, an error rather than no name."""
    with pytest.raises(ValueError, match="empty node name"):
        parse_join_address("/10.0.0.1:8000", 7946)
    assert parse_join_address("n1/10.0.0.1:8000", 7946) == ("10.0.0.1", 8000)
