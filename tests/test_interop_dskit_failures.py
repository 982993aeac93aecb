"""Leaving and failing with Go dskit (tests/peers/dskit), on the Python side's ring (dskit's
transport, message format and ring codec): a Go instance that leaves is LEFT here and forgotten
once dskit's left timeout has passed; a Python instance that leaves is LEFT on the Go side and
forgotten there too; after kill -9 of a Go process its instance turns unhealthy here by dskit's
heartbeat rule (ring/model.go IsHeartbeatHealthy) once the heartbeat timeout has passed."""

from __future__ import annotations

import time

import pytest
import trio
from dskit_cluster import DskitCluster

from trio_gossip import Config, KVSettings, open_memberlist
from trio_gossip.core.dskit.kv_format import DSKIT_FORMAT
from trio_gossip.core.dskit.ring import is_heartbeat_healthy
from trio_gossip.core.dskit.ring_value import DskitRing, DskitRingCodec
from trio_gossip.shell.kv.store import KVStore
from trio_gossip.transport.dskit import create_dskit_transport
from trio_gossip.wire.dskit import Desc, InstanceDesc, InstanceState

pytestmark = pytest.mark.interop

KEY = "ring"
LEFT_TIMEOUT = 3.0  # seconds a LEFT tombstone is kept, the same on both sides
HEARTBEAT_TIMEOUT = 3.0
GOSSIP = ("-gossip-interval", "100ms", "-pushpull-interval", "2s")
# Spreading takes well under a second on loopback; the rest is one-second timestamps and the
# next merge (a heartbeat, every second) that drops an expired tombstone.
SLACK = 4.0


async def _until(what: str, bound: float, check: object) -> float:
    start = time.monotonic()
    with trio.fail_after(bound):
        while not check():  # type: ignore[operator]
            await trio.sleep(0.1)
    return time.monotonic() - start


async def test_leaves_both_ways_and_a_killed_process() -> None:
    common = ("-tokens", "16", "-key", KEY, "-heartbeat-period", "1s",
              "-left-timeout", f"{int(LEFT_TIMEOUT)}s", *GOSSIP)  # fmt: skip
    go = DskitCluster("-nodes", "3", *common)
    other = DskitCluster("-nodes", "1", "-prefix", "b-", "-join", go.ready["nodes"][0]["addr"],
                         *common)  # fmt: skip
    transport = await create_dskit_transport("127.0.0.1", 0)
    config = Config.local(name="trio-f", bind_addr="127.0.0.1",
                          bind_port=transport.local_address[1], gossip_interval=0.1,
                          push_pull_interval=2.0)  # fmt: skip
    store = KVStore([DskitRingCodec(left_timeout=LEFT_TIMEOUT)],
                    KVSettings(left_instances_timeout=LEFT_TIMEOUT),
                    message_format=DSKIT_FORMAT)  # fmt: skip

    def raw(name: str) -> InstanceDesc | None:
        entry = store.replica.entries.get(KEY)
        return None if entry is None else entry.value.desc.instances.get(name)

    go_rings: dict[int, Desc] = {}

    async def refresh() -> None:
        for i in range(3):
            go_rings[i] = await go.ring(i)

    try:
        async with open_memberlist(config, transport=transport, kv=store) as node:
            assert await node.join([go.ready["nodes"][0]["addr"]]) == 1
            await _until("all 4 Go instances here", 10.0, lambda: all(
                raw(n) is not None for n in
                ("instance-0", "instance-1", "instance-2", "b-instance-0")))  # fmt: skip

            # A Go instance leaves: LEFT here, then forgotten after the left timeout.
            await trio.to_thread.run_sync(go._command, {"cmd": "leave", "node": 2})
            await _until("instance-2 LEFT here", SLACK, lambda: (
                (r := raw("instance-2")) is not None and r.state == InstanceState.LEFT))
            left_at = raw("instance-2").timestamp  # type: ignore[union-attr]
            await _until("instance-2 forgotten here", LEFT_TIMEOUT + SLACK,
                         lambda: raw("instance-2") is None)  # fmt: skip
            assert time.time() >= left_at + LEFT_TIMEOUT  # not before dskit would

            # Ours registers, then leaves: LEFT on the Go side, then forgotten there.
            now = int(time.time())
            mine = InstanceDesc(addr="127.0.0.1:19600", timestamp=now, tokens=(5, 50, 500),
                                zone="zone-a", registered_timestamp=now, id="trio-0")  # fmt: skip
            await store.cas(KEY, lambda r: DskitRing(Desc({**r.desc.instances, "trio-0": mine})))

            async def on_go(pred: object) -> bool:
                await refresh()
                return all(pred(go_rings[i].instances.get("trio-0")) for i in range(2))  # type: ignore[operator]

            with trio.fail_after(SLACK):
                while not await on_go(lambda r: r is not None and r.state == 0):
                    await trio.sleep(0.1)
            await store.cas(KEY, lambda r: DskitRing(Desc(
                {k: v for k, v in r.desc.instances.items() if k != "trio-0"})))  # fmt: skip
            with trio.fail_after(SLACK):
                while not await on_go(lambda r: r is not None and r.state == InstanceState.LEFT):
                    await trio.sleep(0.1)
            with trio.fail_after(LEFT_TIMEOUT + SLACK):
                while not await on_go(lambda r: r is None):
                    await trio.sleep(0.2)

            # kill -9 of the other Go process: its instance stops heartbeating and turns
            # unhealthy here once the heartbeat timeout has passed, not before.
            other.proc.kill()
            other.proc.wait()
            killed_at = time.time()
            last = raw("b-instance-0")
            assert last is not None
            assert is_heartbeat_healthy(last, HEARTBEAT_TIMEOUT, killed_at)  # healthy until then
            await _until("b-instance-0 unhealthy here", HEARTBEAT_TIMEOUT + SLACK, lambda: (
                not is_heartbeat_healthy(raw("b-instance-0"), HEARTBEAT_TIMEOUT, time.time())))  # type: ignore[arg-type]
            final = raw("b-instance-0")
            assert final is not None
            # A heartbeat already in flight at the kill may still land; none stamped after it.
            assert last.timestamp <= final.timestamp <= killed_at
            assert time.time() > final.timestamp + HEARTBEAT_TIMEOUT
    finally:
        await transport.aclose()
        other.close()
        go.close()
