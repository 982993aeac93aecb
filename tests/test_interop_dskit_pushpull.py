"""Push/pull both ways with Go dskit (tests/peers/dskit): a Go process heartbeating 200 instances
and a trio_gossip node (dskit's transport, message format and ring codec) holding 200 of its own
reconcile to one ring of 400 on every side through the join's push/pull (dskit's LocalState /
MergeRemoteState records, well past one gossip packet); with periodic push/pull off, the
heartbeats that follow still reach every side by gossip alone."""

from __future__ import annotations

import random
import time

import pytest
import trio
from dskit_cluster import DskitCluster

from trio_gossip import Config, open_memberlist
from trio_gossip.core.dskit.kv_format import DSKIT_FORMAT
from trio_gossip.core.dskit.ring_value import DskitRing, DskitRingCodec
from trio_gossip.shell.kv.store import KVStore
from trio_gossip.transport.dskit import create_dskit_transport
from trio_gossip.wire.dskit import Desc, InstanceDesc, InstanceState

pytestmark = pytest.mark.interop

KEY = "ring"
EACH = 200
TOKENS = 16
GOSSIP_INTERVAL = 0.1
BOUND = 15.0


def _ours(now: int) -> dict[str, InstanceDesc]:
    rng = random.Random(4)
    return {
        f"py-{i:03d}": InstanceDesc(
            addr=f"127.0.0.3:{21000 + i}",
            timestamp=now,
            state=InstanceState.ACTIVE,
            tokens=tuple(sorted(rng.sample(range(1 << 32), TOKENS))),
            zone=f"zone-{i % 3}",
            registered_timestamp=now,
            id=f"py-{i:03d}",
        )
        for i in range(EACH)
    }


async def test_push_pull_both_ways_then_gossip_alone() -> None:
    go = DskitCluster(
        "-nodes", "1", "-extra-instances", str(EACH), "-tokens", str(TOKENS), "-key", KEY,
        "-heartbeat-period", "1s", "-gossip-interval", f"{int(GOSSIP_INTERVAL * 1000)}ms",
        "-pushpull-interval", "0",
    )  # fmt: skip
    transport = await create_dskit_transport("127.0.0.1", 0)
    config = Config.local(name="trio-pp", bind_addr="127.0.0.1",
                          bind_port=transport.local_address[1], gossip_interval=GOSSIP_INTERVAL,
                          push_pull_interval=0.0)  # fmt: skip
    store = KVStore([DskitRingCodec()], message_format=DSKIT_FORMAT)
    try:
        async with open_memberlist(config, transport=transport, kv=store) as node:
            now = int(time.time())
            mine = _ours(now)
            await store.cas(KEY, lambda _: DskitRing(Desc(mine)))
            assert await node.join([go.ready["nodes"][0]["addr"]]) == 1
            total = EACH + 1 + EACH  # Go's extras, Go's own lifecycler instance, ours

            async def one_ring() -> bool:
                theirs = await go.ring(0)
                ours = store.get(KEY)
                return (
                    ours is not None
                    and len(theirs.instances) == total
                    and set(ours.desc.instances) == set(theirs.instances)
                    and all(theirs.instances[k].tokens == v.tokens for k, v in mine.items())
                )

            with trio.fail_after(BOUND):
                while not await one_ring():
                    await trio.sleep(0.2)

            # Push/pull is off on both sides: the next heartbeats travel by gossip alone.
            seen = {k: v.timestamp for k, v in store.get(KEY).desc.instances.items()
                    if k.startswith("extra-")}  # fmt: skip
            await trio.sleep(1.1)
            beat = int(time.time())

            def heartbeat(ring: DskitRing) -> DskitRing:
                out = dict(ring.desc.instances)
                for k in mine:
                    out[k] = InstanceDesc(**{**_fields(out[k]), "timestamp": beat})
                return DskitRing(Desc(out))

            await store.cas(KEY, heartbeat)

            async def heartbeats_crossed() -> bool:
                theirs = await go.ring(0)
                ours = store.get(KEY).desc.instances
                return all(theirs.instances[k].timestamp >= beat for k in mine) and all(
                    ours[k].timestamp > seen[k] for k in seen
                )

            with trio.fail_after(BOUND):
                while not await heartbeats_crossed():
                    await trio.sleep(0.2)
            assert store.statistics().received_broadcasts_invalid == 0
    finally:
        await transport.aclose()
        go.close()


def _fields(inst: InstanceDesc) -> dict[str, object]:
    return {f: getattr(inst, f) for f in InstanceDesc.__dataclass_fields__}
