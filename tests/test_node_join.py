"""Join: address syntax, encrypted and labelled clusters, refused joins."""

from __future__ import annotations

import attrs
import pytest
import trio
import trio.testing
from node_support import base_config, converged, convergence_bound, start_cluster, wait_for

from trio_gossip import JoinError, open_memberlist
from trio_gossip.shell.node.pushpull import parse_join_address
from trio_gossip.transport.memory import MemoryNetwork


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("10.0.0.1", ("10.0.0.1", 7946)),
        ("10.0.0.1:8000", ("10.0.0.1", 8000)),
        ("node-a/10.0.0.1:8000", ("10.0.0.1", 8000)),
        ("[fd00::1]:8000", ("fd00::1", 8000)),
        ("[fd00::1]", ("fd00::1", 7946)),
        ("fd00::1", ("fd00::1", 7946)),
        (("10.0.0.2", 9000), ("10.0.0.2", 9000)),
    ],
)
def test_join_address_syntax(spec: str | tuple[str, int], expected: tuple[str, int]) -> None:
    assert parse_join_address(spec, 7946) == expected


KEY = bytes(range(16))


async def test_encrypted_labelled_cluster(autojump_clock: trio.testing.MockClock) -> None:
    net = MemoryNetwork(seed=31)
    config = base_config(secret_keys=(KEY,), label="prod")
    async with start_cluster(net, 3, config) as nodes:
        await wait_for(lambda: converged(nodes), convergence_bound(config, 3))
        addr = nodes[0].local_member.address
        # A node with another key (or another label, or none) cannot join...
        for other in (
            attrs.evolve(config, name="x", secret_keys=(bytes(16),)),
            attrs.evolve(config, name="y", label="staging"),
            attrs.evolve(config, name="z", secret_keys=()),
        ):
            async with open_memberlist(other, transport=net.add_node()) as stranger:
                with pytest.raises(JoinError):
                    await stranger.join([addr])
        # ...and none of it upset the cluster.
        assert all(node.num_members() == 3 for node in nodes)
        assert nodes[0].statistics().bad_streams >= 3


async def test_join_counts_successes_and_fails_only_if_none(
    autojump_clock: trio.testing.MockClock,
) -> None:
    net = MemoryNetwork(seed=32)
    config = base_config(tcp_timeout=2.0)
    async with start_cluster(net, 3, config, join=False) as (a, b, c):
        unused = net.add_node().local_address  # nobody serves there
        assert await c.join([a.local_member.address, unused, b.local_member.address]) == 2
        with pytest.raises(JoinError, match=r"refused|timed out|closed"):
            await c.join([unused])
        with pytest.raises(JoinError):
            await c.join([])


async def test_join_refused_on_delegate_version_mismatch(
    autojump_clock: trio.testing.MockClock,
) -> None:
    net = MemoryNetwork(seed=33)
    serf_like = base_config(delegate_protocol_min=2, delegate_protocol_max=5,
                            delegate_protocol_version=4)  # fmt: skip
    async with (
        start_cluster(net, 1, serf_like) as (a,),
        open_memberlist(base_config(name="plain"), transport=net.add_node()) as p,
    ):
        with pytest.raises(JoinError, match="delegate protocol version"):
            await p.join([a.local_member.address])
        assert p.num_members() == 1
