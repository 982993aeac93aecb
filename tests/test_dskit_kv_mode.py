"""dskit's KV wire mode on our engine: the dskit message format (KeyValuePair protobuf, the
length-prefixed push/pull state) and dskit's ring codec, in pure tests and between two nodes
on the simulated network. Against Go dskit itself: tests/test_interop_dskit_ring.py."""

from __future__ import annotations

import random

import pytest
import trio
import trio.testing

from trio_gossip import Config, open_memberlist
from trio_gossip.apps.agent import dskit_ring_options
from trio_gossip.core.dskit import ring_page
from trio_gossip.core.dskit.kv_format import DSKIT_FORMAT
from trio_gossip.core.dskit.merge import merge
from trio_gossip.core.dskit.ring_value import DSKIT_RING_CODEC, DskitRing, DskitRingCodec
from trio_gossip.core.kv.format import MSGPACK_FORMAT
from trio_gossip.core.kv.message import KeyValuePair
from trio_gossip.shell.kv.store import KVStore
from trio_gossip.shell.ring.dskit_lifecycler import dskit_lifecycler
from trio_gossip.transport.memory import MemoryNetwork
from trio_gossip.wire.dskit import (
    RING_CODEC_ID,
    Desc,
    InstanceDesc,
    InstanceState,
    decode_kv_pair,
    encode_kv_pair,
    encode_push_pull_state,
)
from trio_gossip.wire.dskit import KeyValuePair as WirePair
from trio_gossip.wire.errors import ConfigError, DecodeError

LIMIT = 1 << 20


def _inst(ts: int, tokens: tuple[int, ...] = (1, 2), state: int = InstanceState.ACTIVE,
          zone: str = "z") -> InstanceDesc:  # fmt: skip
    return InstanceDesc(addr="10.0.0.1:9095", timestamp=ts, state=state, tokens=tokens, zone=zone)


# ----- the message format -------------------------------------------------------------------


def test_a_pair_is_dskits_keyvaluepair_with_milliseconds() -> None:
    pair = KeyValuePair("ring", RING_CODEC_ID, b"\x01\x02", False, 1700000000.123)
    data = DSKIT_FORMAT.encode_pair(pair, max_size=LIMIT)
    assert data == encode_kv_pair(
        WirePair(key="ring", value=b"\x01\x02", codec=RING_CODEC_ID,
                 update_time_millis=1700000000123)
    )  # fmt: skip
    assert decode_kv_pair(data).update_time_millis == 1700000000123
    assert DSKIT_FORMAT.decode_pair(data, max_size=LIMIT) == pair
    assert DSKIT_FORMAT.is_message(data)


@pytest.mark.parametrize(
    "bad",
    [
        b"\x0a\xff\x01",  # a key length past the end
        b"\xff\xff\xff",  # not protobuf
        encode_kv_pair(WirePair(key="", value=b"x", codec=RING_CODEC_ID)),
        encode_kv_pair(WirePair(key="ring", value=b"x", codec="")),
    ],
    ids=["lying-length", "garbage", "empty-key", "empty-codec"],
)
def test_a_bad_pair_is_a_decode_error(bad: bytes) -> None:
    with pytest.raises(DecodeError):
        DSKIT_FORMAT.decode_pair(bad, max_size=LIMIT)


def test_sizes_past_the_limit_are_refused_both_ways() -> None:
    pair = KeyValuePair("k", "c", b"x" * 100)
    with pytest.raises(ValueError, match="limit"):
        DSKIT_FORMAT.encode_pair(pair, max_size=50)
    with pytest.raises(DecodeError, match="limit"):
        DSKIT_FORMAT.decode_pair(DSKIT_FORMAT.encode_pair(pair, max_size=LIMIT), max_size=50)


def test_a_state_keeps_the_records_before_a_bad_one_as_dskit_does() -> None:
    pairs = [KeyValuePair("a", "c", b"1", False, 1.0), KeyValuePair("b", "c", b"2", True, 2.0)]
    state = DSKIT_FORMAT.encode_state(pairs, max_size=LIMIT)
    assert DSKIT_FORMAT.decode_state(state, max_size=LIMIT) == tuple(pairs)
    cut = state + b"\x00\x00\x00\x09abc"  # a record that claims 9 bytes and has 3
    assert DSKIT_FORMAT.decode_state(cut, max_size=LIMIT) == tuple(pairs)
    with pytest.raises(DecodeError):
        DSKIT_FORMAT.decode_state(b"\x00\x00\x00\x09abc", max_size=LIMIT)
    no_key = encode_push_pull_state([WirePair(key="", value=b"x", codec="c")])
    assert DSKIT_FORMAT.decode_state(no_key + state, max_size=LIMIT) == tuple(pairs)


def test_the_push_pull_state_is_the_kv_alone() -> None:
    assert DSKIT_FORMAT.split(b"\x00\x00\x00\x01x") == (b"\x00\x00\x00\x01x", b"")
    assert DSKIT_FORMAT.combine(b"kv", b"app") == b"kv"
    # Our own format keeps the application's state beside the KV's.
    assert MSGPACK_FORMAT.split(MSGPACK_FORMAT.combine(b"kv\x01\x02", b"app")) == (
        b"kv\x01\x02", b"app",
    )  # fmt: skip


# ----- the ring value -----------------------------------------------------------------------


def test_the_ring_value_merges_exactly_as_dskit() -> None:
    a = Desc({"i1": _inst(10), "i2": _inst(10, (5, 6))})
    b = Desc({"i1": _inst(12, (3, 4)), "i3": _inst(9, (7,))})
    ours = DskitRing(a).merge(DskitRing(b))
    theirs = merge(a, b, local_cas=False, now=0)
    assert ours.value.desc == theirs.desc
    assert ours.change is not None
    assert ours.change.desc == theirs.change
    assert DskitRing(a).merge(DskitRing(a)).change is None
    assert ours.value.merge_content() == {"i1", "i2", "i3"}


def test_a_local_cas_stamps_its_tombstones_with_dskits_now() -> None:
    """The store passes horizon = now - left_timeout; dskit stamps a removed instance LEFT at
    now (whole seconds)."""
    ring = DskitRing(Desc({"i1": _inst(10), "i2": _inst(10, (5, 6))}), left_timeout=300.0)
    result = ring.merge(DskitRing(Desc({"i1": _inst(10)})), local_cas=True, horizon=1000.7)
    gone = result.value.desc.instances["i2"]
    assert (gone.state, gone.tokens, gone.timestamp) == (InstanceState.LEFT, (), 1300)
    kept, removed = result.value.remove_tombstones(1301.0)
    assert removed == 1
    assert set(kept.desc.instances) == {"i1"}
    with pytest.raises(ValueError, match="horizon"):
        ring.merge(ring, local_cas=True)


def test_the_codec_is_dskits_and_normalizes_what_it_reads() -> None:
    ring = DskitRing(Desc({"i1": _inst(10, (9, 3, 3))}))
    decoded = DSKIT_RING_CODEC.decode(DSKIT_RING_CODEC.encode(ring))
    assert DSKIT_RING_CODEC.id == "ringDesc"
    assert decoded.desc.instances["i1"].tokens == (3, 9)
    assert DskitRingCodec(left_timeout=60.0).decode(b"").desc.instances == {}
    with pytest.raises(DecodeError):
        DSKIT_RING_CODEC.decode(b"\xff\xff not snappy")


# ----- two nodes ----------------------------------------------------------------------------


async def test_two_nodes_in_dskit_mode_share_a_ring_and_drop_hostile_messages(
    autojump_clock: trio.testing.MockClock,
) -> None:
    net = MemoryNetwork(seed=14)
    stores = [KVStore([DskitRingCodec()], message_format=DSKIT_FORMAT, rng=random.Random(i))
              for i in range(2)]  # fmt: skip
    async with (
        open_memberlist(Config.lan(name="a"), transport=net.add_node(), kv=stores[0],
                        rng=random.Random(1)) as a,
        open_memberlist(Config.lan(name="b"), transport=net.add_node(), kv=stores[1],
                        rng=random.Random(2)) as b,
    ):  # fmt: skip
        await b.join([a.local_member.address])
        now = int(stores[0].now())
        await stores[0].cas("ring", lambda r: DskitRing(Desc({"i1": _inst(now)})))
        bound = 2 * a.config.gossip_interval + 1.0
        with trio.fail_after(bound):
            while stores[1].get("ring") is None:
                await trio.sleep(a.config.gossip_interval)
        assert stores[1].get("ring").desc.instances["i1"].tokens == (1, 2)

        # Hostile user messages: bad protobuf, an unknown codec, a value that is not snappy.
        for bad in (
            b"\x0a\xff\x01",
            encode_kv_pair(WirePair(key="ring", value=b"", codec="nope")),
            encode_kv_pair(WirePair(key="ring", value=b"\xff\xff\xff", codec=RING_CODEC_ID)),
        ):
            await a.send_best_effort("b", bad)
        with trio.fail_after(bound):
            while stores[1].statistics().received_broadcasts_invalid < 3:
                await trio.sleep(a.config.gossip_interval)

        # b still takes good news afterwards.
        await stores[0].cas("ring", lambda r: DskitRing(Desc({**r.desc.instances,
                                                              "i2": _inst(now, (8,))})))
        with trio.fail_after(bound):
            while "i2" not in stores[1].get("ring").desc.instances:
                await trio.sleep(a.config.gossip_interval)


# ----- the lifecycler -----------------------------------------------------------------------


async def test_the_lifecycler_registers_heartbeats_and_unregisters(
    autojump_clock: trio.testing.MockClock,
) -> None:
    epoch = 1_700_000_000.0
    store = KVStore([DskitRingCodec()], message_format=DSKIT_FORMAT,
                    clock=lambda: epoch + trio.current_time())  # fmt: skip
    net = MemoryNetwork(seed=3)
    async with open_memberlist(Config.lan(name="a"), transport=net.add_node(), kv=store):
        taken = {7, 8, 9}
        await store.cas("ring", lambda r: DskitRing(Desc({"go-0": _inst(int(epoch), (7, 8, 9))})))
        start = trio.current_time()
        async with dskit_lifecycler(store, "ring", "py-0", "10.0.0.9:9095", zone="z",
                                    tokens=16, heartbeat_period=5.0,
                                    rng=random.Random(1)) as me:  # fmt: skip
            first = me.instance
            assert first is not None
            assert (first.state, first.zone, len(first.tokens)) == (InstanceState.ACTIVE, "z", 16)
            assert not taken & set(first.tokens)
            assert first.timestamp == first.registered_timestamp == int(epoch + start)
            await trio.sleep(5.0 * 3 + 0.5)
            beat = me.instance
            assert beat is not None
            assert beat.timestamp == int(epoch + start + 15.0)  # three heartbeats, on time
            assert beat.tokens == first.tokens
        gone = store.replica.entries["ring"].value.desc.instances["py-0"]
        assert (gone.state, gone.tokens) == (InstanceState.LEFT, ())
        assert "py-0" not in store.get("ring").desc.instances


async def test_the_lifecycler_refuses_bad_settings(autojump_clock: trio.testing.MockClock) -> None:
    store = KVStore([DskitRingCodec()], message_format=DSKIT_FORMAT)
    for kwargs, field in (({"tokens": -1}, "tokens"), ({"heartbeat_period": 0}, "heartbeat")):
        with pytest.raises(ConfigError, match=field):
            async with dskit_lifecycler(store, "ring", "x", "1.2.3.4:5", **kwargs):  # type: ignore[arg-type]
                pass


def test_ring_command_options_share_the_pages_heartbeat_timeout() -> None:
    """The CLI's options module keeps its own copy (so --help stays light); they must agree."""
    assert dskit_ring_options.HEARTBEAT_TIMEOUT == ring_page.HEARTBEAT_TIMEOUT
