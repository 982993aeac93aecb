"""dskit's TCP transport against dskit itself: a trio_gossip node on DskitTransport joins a
cluster of real dskit memberlist KV nodes (tests/peers/dskit, grafana/dskit's TCPTransport),
every dskit node counts it as a member and accepts its framed packets (no receive errors,
MD5 included), and its graceful leave takes it out of every dskit node's count."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import trio
from dskit_cluster import DskitCluster

from trio_gossip import Config, open_memberlist
from trio_gossip.transport.dskit import create_dskit_transport

pytestmark = pytest.mark.interop

GO_NODES = 3
# Short memberlist timers on both sides: a join is one push/pull, then gossip every 100 ms.
GOSSIP_INTERVAL = 0.1
PUSH_PULL_INTERVAL = 2.0
# Joining and leaving spread by gossip; push/pull is the backstop: two rounds plus slack.
BOUND = 2 * PUSH_PULL_INTERVAL + 5.0


@pytest.fixture
def cluster() -> Iterator[DskitCluster]:
    go = DskitCluster(
        "-nodes", str(GO_NODES), "-tokens", "16",
        "-gossip-interval", f"{int(GOSSIP_INTERVAL * 1000)}ms",
        "-pushpull-interval", f"{int(PUSH_PULL_INTERVAL)}s",
    )  # fmt: skip
    try:
        yield go
    finally:
        go.close()


async def _until(what: str, check: Callable[[], Any]) -> None:
    with trio.fail_after(BOUND):
        while not await check():
            await trio.sleep(0.2)


async def test_a_node_on_dskits_transport_joins_and_leaves_a_dskit_cluster(
    cluster: DskitCluster,
) -> None:
    transport = await create_dskit_transport("127.0.0.1", 0)
    config = Config.local(
        name="trio-dskit",
        bind_addr="127.0.0.1",
        bind_port=transport.local_address[1],
        gossip_interval=GOSSIP_INTERVAL,
        push_pull_interval=PUSH_PULL_INTERVAL,
    )
    seed = cluster.ready["nodes"][0]["addr"]
    go_names = {n["name"] for n in cluster.ready["nodes"]}
    try:
        async with open_memberlist(config, transport=transport) as node:
            assert await node.join([seed]) == 1

            async def everyone_sees_everyone() -> bool:
                ours = {m.name for m in node.members()}
                counts = await cluster.members_everywhere()
                return ours == go_names | {"trio-dskit"} and counts == [GO_NODES + 1] * GO_NODES

            await _until("4 members in every view", everyone_sees_everyone)
            # Probes and gossip went both ways as dskit packets, and dskit took every one of
            # ours: framing, sender address and MD5 as its handleConnection checks them.
            await trio.sleep(10 * GOSSIP_INTERVAL)
            for i in range(GO_NODES):
                seen = await cluster.metrics(i)
                assert seen["memberlist_tcp_transport_packets_received_errors_total"] == 0
                assert seen["memberlist_tcp_transport_unknown_connections_total"] == 0
            received = sum(
                [
                    (await cluster.metrics(i))["memberlist_tcp_transport_packets_received_total"]
                    for i in range(GO_NODES)
                ]
            )
            assert received > 0
            stats = transport.statistics()
            assert stats.packets_received > 0
            assert stats.streams_accepted + stats.streams_opened > 0  # the join's push/pull
            assert stats.receive_errors == 0

        async def we_are_gone() -> bool:
            return await cluster.members_everywhere() == [GO_NODES] * GO_NODES

        await _until("the leave in every dskit view", we_are_gone)
    finally:
        await transport.aclose()
