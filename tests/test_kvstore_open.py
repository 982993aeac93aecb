"""``open_kv``: a node with its store in one block, on the simulated network."""

from __future__ import annotations

import random

import trio
import trio.testing

import trio_gossip
from trio_gossip import Config
from trio_gossip.core.kv import LWW_CODEC, LWWMap
from trio_gossip.transport.memory import MemoryNetwork


async def test_open_kv_replicates_between_two_nodes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    net = MemoryNetwork(seed=81)
    settings = trio_gossip.KVSettings(cluster_label="test")
    async with (
        trio_gossip.open_kv(Config.lan(name="a"), codecs=[LWW_CODEC], settings=settings,
                               transport=net.add_node(), rng=random.Random(1)) as a,
        trio_gossip.open_kv(Config.lan(name="b"), codecs=[LWW_CODEC], settings=settings,
                               transport=net.add_node(), rng=random.Random(2)) as b,
    ):  # fmt: skip
        await b.node.join([a.node.local_member.address])
        with b.watch_key("limits") as watch:
            assert await watch.__anext__() is None
            await a.cas("limits", lambda m: (m or LWWMap()).put("rps", b"100", now=a.now(),
                                                                writer="a"))  # fmt: skip
            with trio.fail_after(2 * a.node.config.gossip_interval + 1.0):
                value = await watch.__anext__()
        assert value.get("rps") == b"100"
        assert a.statistics().received_broadcasts_invalid == 0
