"""dskit's KV wire mode against dskit itself: a trio_gossip node on dskit's TCP transport with
the dskit message format (KeyValuePair protobuf) and dskit's ring codec (``ringDesc``) joins
five Go dskit nodes running ring.BasicLifecycler (tests/peers/dskit), reads their ring exactly
as they hold it, and registers an instance with 128 tokens and a zone; every Go node
then shows it ACTIVE with its tokens, zone and address, and its heartbeat advancing. On the
ring the Python node received, lookups answer as Go's (Get RF 3 zone-aware,
GetReplicationSetForOperation, ShuffleShard, ShuffleShardWithLookback: the oracle of
tests/test_dskit_lookup.py). A Go instance that leaves is LEFT on the Python side, and the
Python instance, registered and heartbeated by the dskit lifecycler
(shell/ring/dskit_lifecycler.py), is LEFT on every Go node when the lifecycler stops."""

from __future__ import annotations

import random
import time
from contextlib import AsyncExitStack
from typing import Any

import pytest
import trio
from dskit_cluster import DskitCluster
from test_dskit_lookup import _compare

from trio_gossip import Config, open_memberlist
from trio_gossip.core.dskit.kv_format import DSKIT_FORMAT
from trio_gossip.core.dskit.ring import RingConfig
from trio_gossip.core.dskit.ring_value import DskitRingCodec
from trio_gossip.shell.kv.store import KVStore
from trio_gossip.shell.ring.dskit_lifecycler import dskit_lifecycler
from trio_gossip.transport.dskit import create_dskit_transport
from trio_gossip.wire.dskit import Desc, InstanceState

pytestmark = pytest.mark.interop

GO_NODES = 5
GOSSIP_INTERVAL = 0.1
PUSH_PULL_INTERVAL = 2.0
KEY = "ring"
TOKENS = 128
# A change spreads by gossip in a few intervals; push/pull every 2 s is the backstop.
BOUND = 2 * PUSH_PULL_INTERVAL + 8.0


def _shape(desc: Desc) -> dict[str, tuple[Any, ...]]:
    """What must agree (heartbeat timestamps move every second on every side)."""
    return {
        name: (int(i.state), i.tokens, i.zone, i.addr)
        for name, i in desc.instances.items()
        if i.state != InstanceState.LEFT
    }


async def _until(what: str, check: Any) -> None:
    with trio.fail_after(BOUND):
        while not await check():
            await trio.sleep(0.2)


async def test_a_python_instance_joins_a_dskit_ring() -> None:
    go = DskitCluster(
        "-nodes", str(GO_NODES), "-tokens", str(TOKENS), "-key", KEY,
        "-heartbeat-period", "1s",
        "-gossip-interval", f"{int(GOSSIP_INTERVAL * 1000)}ms",
        "-pushpull-interval", f"{int(PUSH_PULL_INTERVAL)}s",
    )  # fmt: skip
    try:
        await _scenario(go)
    finally:
        go.close()


async def _scenario(go: DskitCluster) -> None:
    transport = await create_dskit_transport("127.0.0.1", 0)
    config = Config.local(
        name="trio-dskit",
        bind_addr="127.0.0.1",
        bind_port=transport.local_address[1],
        gossip_interval=GOSSIP_INTERVAL,
        push_pull_interval=PUSH_PULL_INTERVAL,
    )
    store = KVStore([DskitRingCodec()], message_format=DSKIT_FORMAT)
    try:
        async with (
            open_memberlist(config, transport=transport, kv=store) as node,
            AsyncExitStack() as stack,
        ):
            assert await node.join([go.ready["nodes"][0]["addr"]]) == 1

            # 1. Our copy of the ring is Go's: every instance, its tokens, state and zone.
            async def same_ring_as_go() -> bool:
                ours = store.get(KEY)
                if ours is None:
                    return False
                theirs = _shape(await go.ring(0))
                return len(theirs) == GO_NODES and _shape(ours.desc) == theirs

            await _until("Go's ring on the Python side", same_ring_as_go)
            assert {i.zone for i in store.get(KEY).desc.instances.values()} == {
                "zone-a", "zone-b", "zone-c",
            }  # fmt: skip

            # 2. Register an instance with the lifecycler (ring.BasicLifecycler's rules):
            # ACTIVE, 128 tokens no Go instance owns, a zone, heartbeating every second.
            lifecycler = dskit_lifecycler(store, KEY, "trio-0", "127.0.0.1:19500", zone="zone-b",
                                          tokens=TOKENS, heartbeat_period=1.0,
                                          rng=random.Random(7))  # fmt: skip
            me = await stack.enter_async_context(lifecycler)
            assert me.instance is not None
            tokens, registered = me.instance.tokens, me.instance.timestamp
            assert len(tokens) == TOKENS
            go_tokens = {t for i in store.get(KEY).desc.instances.values() if i.id != "trio-0"
                         for t in i.tokens}  # fmt: skip
            assert not go_tokens & set(tokens)

            async def every_go_node_has_it() -> bool:
                for i in range(GO_NODES):
                    got = (await go.ring(i)).instances.get("trio-0")
                    if got is None or (got.state, got.tokens, got.zone, got.addr) != (
                        InstanceState.ACTIVE, tokens, "zone-b", "127.0.0.1:19500",
                    ):  # fmt: skip
                        return False
                return True

            await _until("trio-0 ACTIVE on every Go node", every_go_node_has_it)

            # 3. Its heartbeats (newer timestamps, dskit's whole-second clock) reach them too.
            async def heartbeat_everywhere() -> bool:
                for i in range(GO_NODES):
                    got = (await go.ring(i)).instances.get("trio-0")
                    if got is None or got.timestamp <= registered:
                        return False
                return True

            await _until("a heartbeat on every Go node", heartbeat_everywhere)

            # 4. Lookups on the ring we received answer as dskit's ring.Ring on the same ring.
            ours = store.get(KEY).desc
            assert _shape(ours) == _shape(await go.ring(0))
            assert len(ours.instances) == GO_NODES + 1
            _compare(ours, RingConfig(replication_factor=3, zone_awareness_enabled=True),
                     int(time.time()), seed=14)  # fmt: skip

            # 5. A Go instance leaves: LEFT here (a tombstone readers do not see).
            await trio.to_thread.run_sync(go._command, {"cmd": "leave", "node": 4})

            async def instance_4_left() -> bool:
                raw = store.replica.entries[KEY].value.desc.instances.get("instance-4")
                return raw is not None and raw.state == InstanceState.LEFT

            await _until("instance-4 LEFT on the Python side", instance_4_left)
            assert "instance-4" not in store.get(KEY).desc.instances

            # 6. The lifecycler stops: LEAVING, then unregistered: LEFT on every Go node.
            await stack.aclose()

            async def trio_0_left_everywhere() -> bool:
                for i in range(GO_NODES - 1):
                    got = (await go.ring(i)).instances.get("trio-0")
                    if got is None or got.state != InstanceState.LEFT or got.tokens:
                        return False
                return True

            await _until("trio-0 LEFT on every Go node", trio_0_left_everywhere)
            stats = store.statistics()
            assert stats.received_broadcasts > 0
            assert stats.received_broadcasts_invalid == 0
    finally:
        await transport.aclose()

