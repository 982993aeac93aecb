"""memberlist's guards: cidrs_allowed (CIDRsAllowed) and require_node_names (RequireNodeNames),
on the simulated network and on real sockets."""

from __future__ import annotations

import attrs
import pytest
import trio
import trio.testing
from node_support import base_config, convergence_bound, sees, start_cluster, wait_for

from trio_gossip import ConfigError, JoinError, open_memberlist
from trio_gossip.core.membership import rules
from trio_gossip.core.membership.state import AddressRefused, MembershipState
from trio_gossip.transport.memory import MemoryNetwork
from trio_gossip.wire.messages import Alive, NodeState

VSN = bytes((1, 5, 2, 0, 0, 0))


def test_cidrs_parse_like_memberlist_and_refuse_garbage_by_field() -> None:
    config = base_config(cidrs_allowed=["10.0.0.0/8", " 192.168.1.7 ", "fd00::/8"])
    assert [str(n) for n in config.cidrs_allowed] == ["10.0.0.0/8", "192.168.1.7/32", "fd00::/8"]
    assert config.ip_allowed(bytes((10, 9, 8, 7)))
    assert config.ip_allowed("192.168.1.7")
    assert not config.ip_allowed("192.168.1.8")
    assert config.ip_allowed("::ffff:10.1.1.1")  # a v4 peer seen on a dual-stack socket
    assert not config.ip_allowed(b"\x01\x02")  # not an address at all
    assert base_config().ip_allowed("203.0.113.9")  # empty: everyone
    assert base_config(cidrs_allowed="10.0.0.0/8,10.1.0.0/16").cidrs_allowed[1].prefixlen == 16
    with pytest.raises(ConfigError, match=r"^cidrs_allowed: invalid cidr: '10\.0\.0/33'$"):
        base_config(cidrs_allowed=["10.0.0/33"])
    with pytest.raises(ConfigError, match=r"^cidrs_allowed: expected CIDR strings, got int$"):
        base_config(cidrs_allowed=[10])


def test_the_alive_rule_refuses_new_members_and_moves_outside_the_cidrs() -> None:
    config = base_config(cidrs_allowed=["10.0.0.0/24"])
    state = MembershipState("me")
    outside = Alive(1, "x", bytes((10, 0, 1, 5)), 7946, b"", VSN)
    t = rules.alive(state, outside, 0.0, config)
    assert t.state is state
    assert t.effects == (AddressRefused("x", outside.addr),)
    inside = attrs.evolve(outside, addr=bytes((10, 0, 0, 5)))
    state = rules.alive(state, inside, 0.0, config).state
    assert state.members["x"].state == NodeState.ALIVE
    # A newer alive moving the known member out of the allowed networks is refused too...
    moved = attrs.evolve(outside, incarnation=2)
    assert rules.alive(state, moved, 1.0, config).effects == (AddressRefused("x", moved.addr),)
    # ...while one at its old address goes through.
    assert rules.alive(state, attrs.evolve(inside, incarnation=2), 1.0, config).effects


async def test_a_node_outside_the_cidrs_cannot_join_or_be_gossiped_in(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The guarded node drops the outsider's packets and streams (its join gets no reply),
    and ignores the alive a third node gossips about it; counted in cidr_refusals."""
    net = MemoryNetwork(seed=71)
    config = base_config(tcp_timeout=2.0)
    guarded_config = attrs.evolve(config, name="guarded", cidrs_allowed=["10.0.0.1/32",
                                                                         "10.0.0.2/32"])
    async with (
        open_memberlist(guarded_config, transport=net.add_node(("10.0.0.1", 7946))) as guarded,
        open_memberlist(attrs.evolve(config, name="inside"),
                        transport=net.add_node(("10.0.0.2", 7946))) as inside,
        open_memberlist(attrs.evolve(config, name="outside"),
                        transport=net.add_node(("10.0.0.3", 7946))) as outside,
    ):  # fmt: skip
        with pytest.raises(JoinError, match="closed the push/pull without replying"):
            await outside.join([guarded.local_member.address])
        assert await inside.join([guarded.local_member.address]) == 1
        assert await outside.join([inside.local_member.address]) == 1
        await wait_for(lambda: sees(inside, "outside", NodeState.ALIVE), 5.0)
        # Push/pull and gossip from `inside` carry the outsider's alive to `guarded` for a
        # while; it never becomes a member there.
        await trio.sleep(3 * convergence_bound(config, 3))
        assert guarded.member("outside") is None
        assert guarded.num_members() == 2
        stats = guarded.statistics()
        assert stats.cidr_refusals >= 2  # its stream, its packets or the gossip about it
        assert any("outside cidrs_allowed" in r for r in stats.bad_input_reasons)


async def test_cidrs_on_real_sockets_refuse_a_loopback_peer() -> None:
    """The same guard on UDP and TCP sockets: a peer from 127.0.0.1 is not in 127.0.0.2/32."""
    guarded_config = base_config(name="guarded", bind_addr="127.0.0.1", bind_port=0,
                                 cidrs_allowed=["127.0.0.2/32"], tcp_timeout=2.0)  # fmt: skip
    peer_config = base_config(name="peer", bind_addr="127.0.0.1", bind_port=0, tcp_timeout=2.0)
    async with open_memberlist(guarded_config) as guarded, open_memberlist(peer_config) as peer:
        with pytest.raises(JoinError):
            await peer.join([guarded.local_member.address])
        with trio.fail_after(5):
            while guarded.statistics().cidr_refusals < 1:
                await trio.sleep(0.01)
        assert guarded.num_members() == 1


async def test_require_node_names_wants_name_slash_address_and_checks_the_name(
    autojump_clock: trio.testing.MockClock,
) -> None:
    net = MemoryNetwork(seed=72)
    config = base_config(require_node_names=True)
    async with start_cluster(net, 2, config, join=False) as (n0, n1):
        host, port = n0.local_member.address
        with pytest.raises(JoinError, match=r"node names are required by configuration "
                                            r"\(require_node_names\)"):  # fmt: skip
            await n1.join([f"{host}:{port}"])
        with pytest.raises(JoinError, match="answered without node 'n7' in its state"):
            await n1.join([f"n7/{host}:{port}"])
        assert n1.num_members() == 1  # a wrong name merges nothing
        assert await n1.join([f"n0/{host}:{port}"]) == 1
        await wait_for(lambda: n0.num_members() == 2 and n1.num_members() == 2, 5.0)


async def test_a_named_join_checks_the_name_even_when_names_are_optional(
    autojump_clock: trio.testing.MockClock,
) -> None:
    net = MemoryNetwork(seed=73)
    async with start_cluster(net, 2, base_config(), join=False) as (n0, n1):
        host, port = n0.local_member.address
        with pytest.raises(JoinError, match="answered without node 'other'"):
            await n1.join([f"other/{host}:{port}"])
        assert await n1.join([f"{host}:{port}"]) == 1  # no name: no check, as memberlist
