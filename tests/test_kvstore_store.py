"""The KV store's rules on fake nodes: CAS, deltas, forwarding, push/pull, labels, deletes, GC."""

from __future__ import annotations

import random
from functools import partial

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st
from kv_support import (
    FakeClock,
    fake_cluster,
    fake_node,
    gossip_until_quiet,
    lww_put,
    pump,
    ring_store,
    settle,
)

from trio_gossip import Config, GossipError
from trio_gossip.core.kv import LWW_CODEC, LWWMap
from trio_gossip.core.ring import RING_CODEC, InstanceDesc, InstanceState, Ring, random_tokens
from trio_gossip.shell.kv.store import KeyDeletedError
from trio_gossip.shell.ring.lifecycler import lifecycler


def instance(name: str, rng: random.Random, tokens: int = 128) -> InstanceDesc:
    return InstanceDesc(id=name, addr=f"10.0.0.1:{len(name)}", state=InstanceState.ACTIVE,
                        tokens=random_tokens(tokens, rng))  # fmt: skip


def adding(desc: InstanceDesc, clock: FakeClock):  # type: ignore[no-untyped-def]
    def fn(ring: Ring | None) -> Ring:
        return (ring or Ring()).put(desc, now=clock()).heartbeat(desc.id, now=clock())

    return fn


async def test_cas_get_list_and_tombstones_hidden() -> None:
    clock = FakeClock()
    rng = random.Random(0)
    async with fake_cluster(1, clock=clock) as (kv,):
        assert kv.get("ring") is None
        await kv.cas("ring", adding(instance("a", rng), clock), codec="ring")
        ring = await kv.cas("ring", adding(instance("b", rng), clock))
        assert sorted(ring.instances) == ["a", "b"]
        # What the CAS function leaves out becomes a tombstone (dskit's "remove instance").
        ring = await kv.cas("ring", lambda r: Ring.of([r.instances["a"]], r.heartbeats))
        assert sorted(ring.instances) == ["a"]
        stored = kv._state.entries["ring"].value
        assert stored.instances["b"].state is InstanceState.LEFT
        assert kv.list() == ["ring"]
        assert kv.list("x") == []
        assert kv.statistics().cas_successes == 3


async def test_cas_returning_none_sends_nothing() -> None:
    clock = FakeClock()
    async with fake_cluster(1, clock=clock) as (kv,):
        await kv.cas("ring", adding(instance("a", random.Random(1)), clock), codec="ring")
        before = kv.statistics()
        assert await kv.cas("ring", lambda r: None) is kv.get("ring")
        assert kv.statistics().changes_applied == before.changes_applied
        assert kv.statistics().local_queue == before.local_queue


async def test_only_the_change_is_gossiped() -> None:
    clock = FakeClock()
    rng = random.Random(2)
    async with fake_cluster(2, clock=clock) as kvs:
        for i in range(20):
            await kvs[0].cas("ring", adding(instance(f"i{i}", rng), clock), codec="ring")
        await gossip_until_quiet(kvs)
        assert kvs[1].get("ring") == kvs[0].get("ring")
        full = len(kvs[0].local_state(False))
        clock.t += 5
        await kvs[0].cas("ring", lambda r: r.heartbeat("i3", now=clock()))
        (message,) = kvs[0].get_broadcasts(3, 100_000)
        assert len(message) < 100 < full / 100  # a heartbeat, not 20 x 128 tokens


async def test_received_change_is_forwarded_once_and_stale_news_dies() -> None:
    clock = FakeClock()
    rng = random.Random(3)
    async with fake_cluster(3, clock=clock) as kvs:
        a, b, c = kvs
        await a.cas("ring", adding(instance("x", rng), clock), codec="ring")
        (first,) = a.get_broadcasts(3, 100_000)
        while a.get_broadcasts(3, 100_000):
            pass
        clock.t += 1
        await a.cas("ring", lambda r: r.heartbeat("x", now=clock()))
        (second,) = a.get_broadcasts(3, 100_000)
        b.notify_msg(second)
        b.notify_msg(first)
        await settle()
        # The older heartbeat in `first` changed nothing; only its record was news.
        assert b.get("ring").heartbeat_at("x") == clock()
        b.notify_msg(first)
        b.notify_msg(second)
        await settle()
        assert b.statistics().changes_applied == 2  # duplicates are no-ops
        forwarded = b.get_broadcasts(3, 100_000)
        assert len(forwarded) == 2
        for message in forwarded:
            c.notify_msg(message)
        await settle()
        assert c.get("ring") == a.get("ring")
        assert await gossip_until_quiet(kvs) < 20


async def test_push_pull_state_carries_every_key() -> None:
    clock = FakeClock()
    async with fake_cluster(2, clock=clock) as (a, b):
        await a.cas("ring", adding(instance("x", random.Random(4)), clock), codec="ring")
        await a.cas("cfg", lww_put("limit", b"10", clock()), codec="lww")
        await a.delete("cfg")
        b.merge_remote_state(a.local_state(False), False)
        await settle()
        assert b.get("ring") == a.get("ring")
        assert "cfg" not in b.list()  # a deletion of a key b never had is not a key
        assert b.statistics().state_pushes == 1
        assert b.statistics().gossip_queue == 1  # what it learned, it gossips on


async def test_cluster_label_is_checked_on_every_message() -> None:
    clock = FakeClock()
    prod = [ring_store(clock, cluster_label="prod") for _ in range(2)]
    dev = ring_store(clock, cluster_label="dev")
    unlabelled = ring_store(clock)
    async with fake_cluster(4, stores=[*prod, dev, unlabelled]) as kvs:
        await prod[0].cas("ring", adding(instance("x", random.Random(5)), clock), codec="ring")
        pump(kvs)
        dev.merge_remote_state(prod[0].local_state(False), False)
        await settle()
        assert prod[1].get("ring") == prod[0].get("ring")
        assert dev.get("ring") is None
        assert unlabelled.get("ring") is None
        assert dev.statistics().received_broadcasts_invalid == 2
        assert unlabelled.statistics().received_broadcasts_invalid == 1


async def test_label_verification_can_be_disabled() -> None:
    clock = FakeClock()
    stores = [
        ring_store(clock, cluster_label="a"),
        ring_store(clock, cluster_label="b", cluster_label_verification_disabled=True),
    ]
    async with fake_cluster(2, stores=stores) as (a, b):  # fmt: skip
        await a.cas("ring", adding(instance("x", random.Random(6)), clock), codec="ring")
        pump([a, b])
        await settle()
        assert b.get("ring") == a.get("ring")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_garbage_is_counted_never_raised(data: bytes) -> None:
    kv = ring_store(FakeClock())
    kv.notify_msg(data)
    kv.notify_msg(b"kv\x01\x01" + data)
    kv.merge_remote_state(b"kv\x01\x02" + data, False)
    stats = kv.statistics()
    # Each input was refused and counted, or was well-formed and queued for the merge task.
    assert stats.received_broadcasts_invalid + stats.merge_queue + stats.state_pushes >= 3


async def test_codec_mismatch_is_refused() -> None:
    clock = FakeClock()
    async with fake_cluster(2, clock=clock) as (a, b):
        await a.cas("k", lww_put("x", b"1", clock()), codec="lww")
        await b.cas("k", adding(instance("x", random.Random(7)), clock), codec="ring")
        pump([a, b])
        await settle()
        assert isinstance(a.get("k"), LWWMap)
        assert isinstance(b.get("k"), Ring)
        assert a.statistics().received_broadcasts_invalid == 1
        with pytest.raises(GossipError):
            await a.cas("k", lambda v: v, codec="ring")


async def test_deleted_keys_vanish_everywhere_then_are_forgotten() -> None:
    clock = FakeClock()
    async with fake_cluster(2, clock=clock, obsolete_entries_timeout=30.0) as (a, b):
        await a.cas("k", lww_put("x", b"1", clock()), codec="lww")
        await gossip_until_quiet([a, b])
        assert await a.delete("k") is True
        assert await a.delete("k") is False
        await gossip_until_quiet([a, b])
        assert a.get("k") is None
        assert b.get("k") is None
        assert b.list() == []
        with pytest.raises(KeyDeletedError):
            await b.cas("k", lww_put("y", b"2", clock()))
        clock.t += 31
        for kv in (a, b):
            kv._state.sweep()
            assert "k" not in kv._state.entries
        await a.cas("k", lww_put("z", b"3", clock()), codec="lww")  # a new life
        assert a.get("k").get("z") == b"3"


async def test_tombstones_are_swept_and_never_resurrected() -> None:
    clock = FakeClock()
    rng = random.Random(8)
    async with fake_cluster(2, clock=clock, left_instances_timeout=300.0) as (a, b):
        await a.cas("ring", adding(instance("x", rng), clock), codec="ring")
        await a.cas("ring", adding(instance("y", rng), clock))
        await gossip_until_quiet([a, b])
        stale = a.local_state(False)  # a copy from before the removal
        clock.t += 1
        await a.cas("ring", lambda r: r.remove("y", now=clock()))
        await gossip_until_quiet([a, b])
        assert "y" not in b.get("ring").instances
        assert b._state.entries["ring"].value.instances["y"].is_tombstone
        clock.t += 301
        for kv in (a, b):
            kv._state.sweep()
            assert "y" not in kv._state.entries["ring"].value.instances
        b.merge_remote_state(stale, False)  # a node that slept through it all
        await settle()
        assert "y" not in b._state.entries["ring"].value.instances
        assert b.statistics().gossip_queue == 0


async def test_big_changes_go_over_streams(autojump_clock: trio.testing.MockClock) -> None:
    config = Config(name="t", udp_buffer_size=512)  # a 128-token record is ~600 bytes
    async with fake_cluster(3, config=config) as kvs:
        a = kvs[0]
        now = a.now()
        desc = instance("x", random.Random(9))
        await a.cas("ring", lambda r: Ring().put(desc, now=now), codec="ring")
        assert a.get_broadcasts(3, 512) == []
        assert a.statistics().stream_queue == 1
        await trio.sleep(1.0)
        assert all(kv.get("ring") == a.get("ring") for kv in kvs)
        assert fake_node(a).reliable_sent
        assert a.statistics().stream_sends >= 2


async def test_own_changes_are_handed_out_before_forwarded_ones() -> None:
    clock = FakeClock()
    rng = random.Random(10)
    async with fake_cluster(2, clock=clock) as (a, b):
        await a.cas("ring", adding(instance("x", rng), clock), codec="ring")
        pump([a, b])
        await settle()
        await b.cas("cfg", lww_put("mine", b"1", clock()), codec="lww")
        first, second = b.get_broadcasts(3, 100_000)
        assert b"mine" in first
        assert b"mine" not in second


async def test_concurrent_cas_on_one_key_loses_nothing() -> None:
    clock = FakeClock()
    async with fake_cluster(1, clock=clock) as (kv,):
        async with trio.open_nursery() as nursery:
            for i in range(100):
                nursery.start_soon(
                    partial(kv.cas, "k", lww_put(f"e{i}", b"v", clock()), codec="lww")
                )
        value = kv.get("k")
        assert sorted(value.entries) == sorted(f"e{i}" for i in range(100))
        assert kv.statistics().cas_attempts == 100  # queued behind each other: no conflict


async def test_not_running_and_running_twice() -> None:
    kv = ring_store(FakeClock())
    with pytest.raises(GossipError):
        await kv.cas("k", lambda v: v)
    async with fake_cluster(1, stores=[kv]):
        pass
    with pytest.raises(GossipError):
        async with fake_cluster(1, stores=[kv]):
            pass


async def test_exit_waits_until_own_changes_went_out(
    autojump_clock: trio.testing.MockClock,
) -> None:
    clock = FakeClock()
    kvs = [ring_store(clock, broadcast_timeout_for_local_updates_on_shutdown=10.0)
           for _ in range(2)]  # fmt: skip
    finished_at = None
    async with trio.open_nursery() as nursery:

        async def gossip() -> None:
            while True:
                await trio.sleep(0.2)
                pump(kvs)

        async with fake_cluster(2, stores=kvs):
            await kvs[0].cas("k", lww_put("x", b"1", clock()), codec="lww")
            nursery.start_soon(gossip)
            start = trio.current_time()
        finished_at = trio.current_time() - start
        nursery.cancel_scope.cancel()
    # 4 transmissions at one per 0.2 s gossip round, polled every 0.25 s.
    assert 0.6 <= finished_at <= 1.5
    assert kvs[0].statistics().local_queue == 0


async def test_typed_client_pins_the_codec() -> None:
    clock = FakeClock()
    async with fake_cluster(1, clock=clock) as (kv,):
        maps = kv.client(LWW_CODEC)
        value = await maps.cas("cfg", lambda m: (m or LWWMap()).put("a", b"1", now=clock(),
                                                                    writer="w"))  # fmt: skip
        assert value is not None
        assert value.get("a") == b"1"
        assert maps.get("cfg") == value
        assert maps.list() == ["cfg"]
        with pytest.raises(GossipError):
            await kv.client(RING_CODEC).cas("cfg", lambda r: r)  # the key holds LWW maps
        assert await maps.delete("cfg") is True
        assert maps.get("cfg") is None


async def test_the_callers_exception_comes_back_unwrapped() -> None:
    class BoomError(Exception):
        pass

    with pytest.raises(BoomError):
        async with fake_cluster(1) as (kv,), lifecycler(kv, instance_id="i", num_tokens=4):
            raise BoomError
