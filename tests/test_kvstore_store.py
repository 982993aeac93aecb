"""The KV store's rules: CAS, deltas, forwarding, push/pull, labels, deletes, GC.

The rules are tested on engines stepped by hand (`EngineKV`: no task, gossip moved message
by message); what needs the running node (streams, concurrency, shutdown, the facade) runs
on real nodes on the in-memory network.
"""

from __future__ import annotations

import random
from functools import partial

import attrs
import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st
from kv_support import (
    EngineKV,
    FakeClock,
    gossip_until_quiet,
    kv_cluster,
    lww_put,
    pump,
    ring_store,
)

from trio_gossip import Config, GossipError, open_memberlist
from trio_gossip.core.kv import LWW_CODEC, LWWMap
from trio_gossip.core.kv.replica import KeyDeletedError, combine
from trio_gossip.core.ring import RING_CODEC, InstanceDesc, InstanceState, Ring, random_tokens
from trio_gossip.shell.ring.lifecycler import lifecycler
from trio_gossip.transport.memory import MemoryNetwork


def instance(name: str, rng: random.Random, tokens: int = 128) -> InstanceDesc:
    return InstanceDesc(id=name, addr=f"10.0.0.1:{len(name)}", state=InstanceState.ACTIVE,
                        tokens=random_tokens(tokens, rng))  # fmt: skip


def adding(desc: InstanceDesc, clock: FakeClock):  # type: ignore[no-untyped-def]
    def fn(ring: Ring | None) -> Ring:
        return (ring or Ring()).put(desc, now=clock()).heartbeat(desc.id, now=clock())

    return fn


def engines(n: int, clock: FakeClock, **settings: object) -> list[EngineKV]:
    return [EngineKV(f"k{i}", clock, **settings) for i in range(n)]  # type: ignore[arg-type]


def test_cas_get_list_and_tombstones_hidden() -> None:
    clock = FakeClock()
    rng = random.Random(0)
    kv = EngineKV("k", clock)
    assert kv.get("ring") is None
    kv.cas("ring", adding(instance("a", rng), clock), codec="ring")
    ring = kv.cas("ring", adding(instance("b", rng), clock))
    assert sorted(ring.instances) == ["a", "b"]
    # What the CAS function leaves out becomes a tombstone (dskit's "remove instance").
    ring = kv.cas("ring", lambda r: Ring.of([r.instances["a"]], r.heartbeats))
    assert sorted(ring.instances) == ["a"]
    stored = kv.replica.entries["ring"].value
    assert stored.instances["b"].state is InstanceState.LEFT
    assert kv.counters.cas_successes == 3


def test_cas_returning_none_sends_nothing() -> None:
    clock = FakeClock()
    kv = EngineKV("k", clock)
    kv.cas("ring", adding(instance("a", random.Random(1)), clock), codec="ring")
    before = (kv.counters.changes_applied, kv.local_queue)
    assert kv.cas("ring", lambda r: None) is kv.get("ring")
    assert (kv.counters.changes_applied, kv.local_queue) == before


def test_only_the_change_is_gossiped() -> None:
    clock = FakeClock()
    rng = random.Random(2)
    a, b = engines(2, clock)
    for i in range(20):
        a.cas("ring", adding(instance(f"i{i}", rng), clock), codec="ring")
    gossip_until_quiet([a, b])
    assert b.get("ring") == a.get("ring")
    full = len(a.local_state())
    clock.t += 5
    a.cas("ring", lambda r: r.heartbeat("i3", now=clock()))
    (message,) = a.broadcasts()
    assert len(message) < 100 < full / 100  # a heartbeat, not 20 x 128 tokens


def test_received_change_is_forwarded_once_and_stale_news_dies() -> None:
    clock = FakeClock()
    rng = random.Random(3)
    a, b, c = engines(3, clock)
    a.cas("ring", adding(instance("x", rng), clock), codec="ring")
    (first,) = a.broadcasts()
    while a.broadcasts():
        pass
    clock.t += 1
    a.cas("ring", lambda r: r.heartbeat("x", now=clock()))
    (second,) = a.broadcasts()
    b.deliver(second)
    b.deliver(first)
    # The older heartbeat in `first` changed nothing; only its record was news.
    assert b.get("ring").heartbeat_at("x") == clock()
    b.deliver(first)
    b.deliver(second)
    assert b.counters.changes_applied == 2  # duplicates are no-ops
    assert b.counters.received_broadcasts_duplicate == 2
    forwarded = b.broadcasts()
    assert len(forwarded) == 2
    for message in forwarded:
        c.deliver(message)
    assert c.get("ring") == a.get("ring")
    assert gossip_until_quiet([a, b, c]) < 20


def test_push_pull_state_carries_every_key() -> None:
    clock = FakeClock()
    a, b = engines(2, clock)
    a.cas("ring", adding(instance("x", random.Random(4)), clock), codec="ring")
    a.cas("cfg", lww_put("limit", b"10", clock()), codec="lww")
    a.delete("cfg")
    b.merge_state(combine(a.local_state(), b""))
    assert b.get("ring") == a.get("ring")
    assert "cfg" not in b.replica.entries  # a deletion of a key b never had is not a key
    assert b.counters.state_pushes == 1
    assert b.gossip_queue == 1  # what it learned, it gossips on


def test_cluster_label_is_checked_on_every_message() -> None:
    clock = FakeClock()
    prod = [EngineKV(f"p{i}", clock, cluster_label="prod") for i in range(2)]
    dev = EngineKV("dev", clock, cluster_label="dev")
    unlabelled = EngineKV("u", clock)
    prod[0].cas("ring", adding(instance("x", random.Random(5)), clock), codec="ring")
    (message,) = prod[0].broadcasts()
    for other in (prod[1], dev, unlabelled):
        other.deliver(message)
    dev.merge_state(combine(prod[0].local_state(), b""))
    assert prod[1].get("ring") == prod[0].get("ring")
    assert dev.get("ring") is None
    assert unlabelled.get("ring") is None
    assert dev.counters.received_broadcasts_invalid == 2
    assert unlabelled.counters.received_broadcasts_invalid == 1


def test_label_verification_can_be_disabled() -> None:
    clock = FakeClock()
    a = EngineKV("a", clock, cluster_label="a")
    b = EngineKV("b", clock, cluster_label="b", cluster_label_verification_disabled=True)
    a.cas("ring", adding(instance("x", random.Random(6)), clock), codec="ring")
    pump([a, b])
    assert b.get("ring") == a.get("ring")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_garbage_is_counted_never_raised(data: bytes) -> None:
    kv = EngineKV("k", FakeClock())
    kv.deliver(b"kv" + data)
    kv.deliver(b"kv\x01\x01" + data)
    kv.merge_state(combine(b"kv\x01\x02" + data, b""))
    counters = kv.counters
    # Each input was refused and counted, or was well-formed and merged.
    assert counters.received_broadcasts_invalid + counters.changes_applied \
        + counters.state_pushes >= 3


def test_codec_mismatch_is_refused() -> None:
    clock = FakeClock()
    a, b = engines(2, clock)
    a.cas("k", lww_put("x", b"1", clock()), codec="lww")
    b.cas("k", adding(instance("x", random.Random(7)), clock), codec="ring")
    pump([a, b])
    assert isinstance(a.get("k"), LWWMap)
    assert isinstance(b.get("k"), Ring)
    assert a.counters.received_broadcasts_invalid == 1
    with pytest.raises(GossipError):
        a.cas("k", lambda v: v, codec="ring")


def test_deleted_keys_vanish_everywhere_then_are_forgotten() -> None:
    clock = FakeClock()
    a, b = engines(2, clock, obsolete_entries_timeout=30.0)
    a.cas("k", lww_put("x", b"1", clock()), codec="lww")
    gossip_until_quiet([a, b])
    assert a.delete("k") is True
    assert a.delete("k") is False
    gossip_until_quiet([a, b])
    assert a.get("k") is None
    assert b.get("k") is None
    with pytest.raises(KeyDeletedError):
        b.cas("k", lww_put("y", b"2", clock()))
    clock.t += 31
    for kv in (a, b):
        kv.sweep()
        assert "k" not in kv.replica.entries
    a.cas("k", lww_put("z", b"3", clock()), codec="lww")  # a new life
    assert a.get("k").get("z") == b"3"


def test_tombstones_are_swept_and_never_resurrected() -> None:
    clock = FakeClock()
    rng = random.Random(8)
    a, b = engines(2, clock, left_instances_timeout=300.0)
    a.cas("ring", adding(instance("x", rng), clock), codec="ring")
    a.cas("ring", adding(instance("y", rng), clock))
    gossip_until_quiet([a, b])
    stale = a.local_state()  # a copy from before the removal
    clock.t += 1
    a.cas("ring", lambda r: r.remove("y", now=clock()))
    gossip_until_quiet([a, b])
    assert "y" not in b.get("ring").instances
    assert b.replica.entries["ring"].value.instances["y"].is_tombstone
    clock.t += 301
    for kv in (a, b):
        kv.sweep()
        assert "y" not in kv.replica.entries["ring"].value.instances
    b.merge_state(combine(stale, b""))  # a node that slept through it all
    assert "y" not in b.replica.entries["ring"].value.instances
    assert b.gossip_queue == 0


def test_own_changes_are_handed_out_before_forwarded_ones() -> None:
    clock = FakeClock()
    rng = random.Random(10)
    a, b = engines(2, clock)
    a.cas("ring", adding(instance("x", rng), clock), codec="ring")
    pump([a, b])
    b.cas("cfg", lww_put("mine", b"1", clock()), codec="lww")
    first, second = b.broadcasts()
    assert b"mine" in first
    assert b"mine" not in second


def test_big_changes_are_queued_for_streams_not_packets() -> None:
    config = Config(name="t", udp_buffer_size=512)  # a 128-token record is ~600 bytes
    kv = EngineKV("t", FakeClock(), config=config)
    desc = instance("x", random.Random(9))
    kv.cas("ring", lambda r: Ring().put(desc, now=1.0), codec="ring")
    assert kv.broadcasts(512) == []
    assert kv.stream_queue == 1


async def test_big_changes_go_over_streams(autojump_clock: trio.testing.MockClock) -> None:
    config = Config.lan(name="t", udp_buffer_size=512)
    async with kv_cluster(3, config=config) as kvs:
        a = kvs[0]
        now = a.now()
        desc = instance("x", random.Random(9))
        await a.cas("ring", lambda r: Ring().put(desc, now=now), codec="ring")
        assert a.statistics().stream_queue == 1
        await trio.sleep(1.0)
        assert all(kv.get("ring") == a.get("ring") for kv in kvs)
        assert a.statistics().stream_sends >= 2


async def test_concurrent_cas_on_one_key_loses_nothing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    clock = FakeClock()
    async with kv_cluster(1, clock=clock) as (kv,):
        async with trio.open_nursery() as nursery:
            for i in range(100):
                nursery.start_soon(
                    partial(kv.cas, "k", lww_put(f"e{i}", b"v", clock()), codec="lww")
                )
        value = kv.get("k")
        assert sorted(value.entries) == sorted(f"e{i}" for i in range(100))
        assert kv.statistics().cas_attempts == 100  # run in the writer: never a conflict


async def test_not_running_and_running_twice(autojump_clock: trio.testing.MockClock) -> None:
    kv = ring_store(FakeClock())
    with pytest.raises(GossipError):
        await kv.cas("k", lambda v: v)
    async with kv_cluster(1, stores=[kv]):
        pass
    with pytest.raises(GossipError):
        await kv.cas("k", lambda v: v)
    with pytest.raises(GossipError):
        async with kv_cluster(1, stores=[kv]):
            pass


async def test_exit_waits_until_own_changes_went_out(
    autojump_clock: trio.testing.MockClock,
) -> None:
    clock = FakeClock()
    a, b = (ring_store(clock, broadcast_timeout_for_local_updates_on_shutdown=10.0)
            for _ in range(2))  # fmt: skip
    config = Config.lan(name="t")
    net = MemoryNetwork()
    async with open_memberlist(attrs.evolve(config, name="a"), transport=net.add_node(), kv=a):
        async with open_memberlist(attrs.evolve(config, name="b"), transport=net.add_node(),
                                   kv=b) as node:  # fmt: skip
            await node.join([a.node.local_member.address])
            await b.cas("k", lww_put("x", b"1", clock()), codec="lww")
            start = trio.current_time()
        finished_at = trio.current_time() - start
        assert b.statistics().local_queue == 0
        assert a.get("k") is not None
    # 4 transmissions (retransmit factor 4) at one per gossip round, polled every 0.25 s,
    # then the leave, bounded by leave_timeout.
    rounds = 4 * config.gossip_interval
    assert rounds - config.gossip_interval <= finished_at <= rounds + 0.5 + config.leave_timeout


async def test_typed_client_pins_the_codec(autojump_clock: trio.testing.MockClock) -> None:
    clock = FakeClock()
    async with kv_cluster(1, clock=clock) as (kv,):
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


async def test_cas_function_errors_come_back_to_the_caller(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with kv_cluster(1) as (kv,):
        with pytest.raises(ZeroDivisionError):
            await kv.cas("k", lambda v: 1 / 0, codec="lww")
        assert kv.statistics().cas_failures == 1
        await kv.cas("k", lww_put("x", b"1", kv.now()), codec="lww")  # the node lives on
        assert kv.get("k").get("x") == b"1"


async def test_the_callers_exception_comes_back_unwrapped(
    autojump_clock: trio.testing.MockClock,
) -> None:
    class BoomError(Exception):
        pass

    with pytest.raises(BoomError):
        async with kv_cluster(1) as (kv,), lifecycler(kv, instance_id="i", num_tokens=4):
            raise BoomError
