"""Scenario 1: trio_gossip and Go memberlist v0.7.0 in one cluster, joined from either side.

Every view (each Go node's node map, each trio node's records) must agree on the members,
their states, incarnations and metadata, and metadata updates must spread both ways.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from interop.go_peer import GoPeer, Timing, go_peers
from interop.trio_side import Inbox, run, wait_views

from trio_gossip import Memberlist, open_memberlist

pytestmark = pytest.mark.interop

# Faster probes, and push/pull every 2 s: in a cluster this small, a join announced only by
# gossip (retransmitted twice in the local profile) can miss a node until the next push/pull.
TIMING = Timing(profile="local", probe_interval=0.5, push_pull_interval=2.0)


def convergence_bound(n: int) -> float:
    """Joining is one push/pull; the news then spreads by gossip, retransmitted
    retransmit_mult x ceil(log10(n + 1)) times to gossip_nodes peers every gossip interval.
    That may miss a node in a small cluster; the periodic push/pull (every node, every
    push_pull_interval, with a random peer) is the backstop: two of its rounds plus slack."""
    return 2 * TIMING.config(name="x").push_pull_interval + 5.0


def own_view(go: GoPeer, trios: list[Memberlist]) -> dict[str, dict[str, Any]]:
    """What each member says about itself: the truth every other view must reach."""
    truth: dict[str, dict[str, Any]] = {}
    for name in go.names:
        me = go.members(name)[name]
        truth[name] = {"state": "alive", "incarnation": me["incarnation"], "meta": me["meta"]}
    for node in trios:
        me = node.local_member
        truth[me.name] = {"state": "alive", "incarnation": me.incarnation, "meta": me.meta.hex()}
    return truth


async def test_trio_node_joins_a_go_cluster(tmp_path: Path) -> None:
    with go_peers(tmp_path) as peers:
        go = await run(lambda: peers.start(count=5, meta="go-meta-{i}", timing=TIMING))
        config = TIMING.config(name="py-1", bind_addr="127.0.0.1", bind_port=0)
        inbox = Inbox(meta=b"py-meta-1")
        async with open_memberlist(config, delegate=inbox) as node:
            assert await node.join([go.address("go-2")]) == 1
            truth = await run(own_view, go, [node])
            await wait_views([go], [node], truth, convergence_bound(6), "6 agreeing views")

            # Metadata from trio to Go: a new incarnation carries it.
            inbox.meta = b"py-meta-2"
            assert await node.update_metadata(timeout=5.0)
            truth = await run(own_view, go, [node])
            assert truth["py-1"]["meta"] == b"py-meta-2".hex()
            await wait_views([go], [node], truth, convergence_bound(6), "py-1's new metadata")

            # And from Go to trio.
            await run(go.update_meta, "go-3", b"go-meta-new")
            truth = await run(own_view, go, [node])
            assert truth["go-3"]["meta"] == b"go-meta-new".hex()
            await wait_views([go], [node], truth, convergence_bound(6), "go-3's new metadata")
            assert not await run(go.log_count, "go-0", "[ERR]"), await run(go.logs, "go-0")


async def test_go_cluster_joins_a_trio_cluster(tmp_path: Path) -> None:
    with go_peers(tmp_path) as peers:
        c1 = TIMING.config(name="py-1", bind_addr="127.0.0.1", bind_port=0, meta=b"one")
        c2 = TIMING.config(name="py-2", bind_addr="127.0.0.1", bind_port=0, meta=b"two")
        async with open_memberlist(c1) as n1, open_memberlist(c2) as n2:
            await n2.join([f"127.0.0.1:{n1.local_member.port}"])
            seed = f"127.0.0.1:{n2.local_member.port}"
            go = await run(lambda: peers.start(count=5, join=[seed], meta="m{i}", timing=TIMING))
            assert go.join_errors == {}
            truth = await run(own_view, go, [n1, n2])
            await wait_views([go], [n1, n2], truth, convergence_bound(7), "7 agreeing views")
            for observer in go.names:
                for event in go.events_of("join", observer):
                    assert event["member"]["state"] == "alive"
