"""Token lists kept packed (wire/dskit/tokens.py) against the plain way of reading them.

The plain way is protobuf's own: ring.proto field 6 as ``repeated uint32`` (dskit_ring_pb2),
ints in tuples. Whatever bytes a sender writes (shortest varints or not, one packed record or
several, unpacked, with unknown fields), ``decode_desc`` must read the same ring as that, raise
where that raises, and write back what gogo's Marshal writes for it.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import replace

import pytest
from google.protobuf.message import DecodeError
from hypothesis import given, settings
from hypothesis import strategies as st

from trio_gossip.core.dskit.merge import merge, normalize
from trio_gossip.wire.dskit import (
    Desc,
    DskitDecodeError,
    InstanceDesc,
    decode_desc,
    encode_desc,
    encode_ring_value,
)
from trio_gossip.wire.dskit.proto import dskit_ring_pb2
from trio_gossip.wire.dskit.ring_desc import decode_ring_value
from trio_gossip.wire.dskit.snappy import snappy_decode, snappy_decode_buffer
from trio_gossip.wire.dskit.tokens import EMPTY_TOKENS, Tokens, as_tokens, check_packed, runs_parse

UINT32 = st.integers(0, 2**32 - 1)
SMALL = st.integers(0, 300)  # repeats and every varint length from one byte up
TOKEN_LISTS = st.lists(st.one_of(UINT32, SMALL), max_size=40)


def _varint(n: int, extra: int = 0) -> bytes:
    """``n`` as a varint, with ``extra`` needless zero groups at the end (longer, still valid)."""
    groups = []
    while True:
        groups.append(n & 0x7F)
        n >>= 7
        if not n:
            break
    groups += [0] * min(extra, 10 - len(groups))  # ten bytes at most, or it is no varint
    return bytes([g | 0x80 for g in groups[:-1]] + [groups[-1]])


def _field(number: int, wire_type: int, payload: bytes) -> bytes:
    head = _varint(number << 3 | wire_type)
    return head + (_varint(len(payload)) + payload if wire_type == 2 else payload)


def _plain(desc_bytes: bytes) -> dict[str, tuple[object, ...]]:
    """The ring as protobuf reads it with tokens as ints: the reference."""
    msg = dskit_ring_pb2.Desc.FromString(desc_bytes)
    out: dict[str, tuple[object, ...]] = {}
    for e in msg.ingesters:
        v = e.value
        out[e.key.decode("utf-8", "surrogateescape")] = (
            v.addr.decode("utf-8", "surrogateescape"), v.timestamp, v.state, tuple(v.tokens),
            v.zone.decode("utf-8", "surrogateescape"), v.registered_timestamp,
            v.id.decode("utf-8", "surrogateescape"), v.read_only_updated_timestamp, v.read_only,
            tuple({x.key: x.value for x in v.versions}.items()),
        )  # fmt: skip
    return out


def _ours(desc: Desc) -> dict[str, tuple[object, ...]]:
    return {
        key: (
            i.addr,
            i.timestamp,
            int(i.state),
            tuple(i.tokens),
            i.zone,
            i.registered_timestamp,
            i.id,
            i.read_only_updated_timestamp,
            i.read_only,
            i.versions,
        )
        for key, i in desc.instances.items()
    }


def _plain_encode(desc: Desc) -> bytes:
    """gogo's Marshal by way of dskit_ring.proto with tokens as ints."""
    msg = dskit_ring_pb2.Desc()
    for key, inst in desc.instances.items():
        entry = msg.ingesters.add(key=key.encode())
        v = entry.value
        v.SetInParent()
        v.addr = inst.addr.encode()
        v.timestamp = inst.timestamp
        v.state = inst.state
        v.tokens.extend(inst.tokens)
        v.zone = inst.zone.encode()
        v.registered_timestamp = inst.registered_timestamp
        v.id = inst.id.encode()
        v.read_only_updated_timestamp = inst.read_only_updated_timestamp
        v.read_only = inst.read_only
        for k, val in inst.versions:
            v.versions.add(key=k, value=val)
    return msg.SerializeToString()


@given(TOKEN_LISTS)
def test_tokens_hold_their_ints(ints: list[int]) -> None:
    tokens = Tokens(ints)
    assert tokens.ints() == ints
    assert list(tokens) == ints
    assert len(tokens) == len(ints)
    assert bool(tokens) == bool(ints)
    assert tokens == tuple(ints)
    assert tuple(ints) == tokens
    assert hash(tokens) == hash(tuple(ints))
    assert tokens[1:3] == tuple(ints[1:3])
    if ints:
        assert tokens[-1] == ints[-1]
    assert as_tokens(tuple(ints)) == tokens
    # The packed run is the payload protobuf writes for field 6.
    record = dskit_ring_pb2.InstanceDesc(tokens=ints).SerializeToString()
    assert record == (_field(6, 2, tokens.packed) if ints else b"")


@given(TOKEN_LISTS, st.data())
def test_longer_varints_read_as_protobuf_reads_them(ints: list[int], data: st.DataObject) -> None:
    extras = [data.draw(st.integers(0, 5)) for _ in ints]
    big = [data.draw(st.sampled_from([0, 0, 0, 1 << 32, 5 << 33])) for _ in ints]
    packed = b"".join(_varint(i + b, e) for i, b, e in zip(ints, big, extras, strict=True))
    tokens = Tokens.from_packed(packed)
    as_read = list(dskit_ring_pb2.InstanceDesc.FromString(_field(6, 2, packed)).tokens)
    assert tokens.ints() == as_read == ints  # cut to 32 bits, as protobuf and gogo do
    assert tokens == Tokens(ints)
    shortest = Tokens(ints).packed
    assert tokens.shortest() == shortest
    strictly_sorted = all(a < b for a, b in itertools.pairwise(ints))
    assert tokens.normal == (strictly_sorted and packed == shortest)
    norm = tokens.normalized()
    assert norm.ints() == sorted(set(ints))
    assert norm.packed == Tokens(sorted(set(ints))).packed
    assert norm.normal


def _instance(rng: random.Random, key: str) -> InstanceDesc:
    count = rng.randrange(9)
    tokens = [rng.choice([rng.randrange(2**32), rng.randrange(50)]) for _ in range(count)]
    return InstanceDesc(
        addr=f"10.0.0.{rng.randrange(256)}:9095",
        timestamp=rng.choice([0, 100, 101]),
        state=rng.choice([0, 1, 2, 3, 4, 7]),
        tokens=tokens,
        zone=rng.choice(["", "z1", "z2"]),
        registered_timestamp=rng.choice([0, 50]),
        id=rng.choice([key, "", "other"]),
        read_only_updated_timestamp=rng.choice([0, 7]),
        read_only=rng.random() < 0.2,
        versions=((1, 2), (3, 0)) if rng.random() < 0.2 else (),
    )


def _instance_bytes(inst: InstanceDesc, rng: random.Random, form: str) -> bytes:
    ints = list(inst.tokens)
    if form == "split" and len(ints) > 1:
        cut = rng.randrange(1, len(ints))
        tokens = _field(6, 2, Tokens(ints[:cut]).packed) + _field(6, 2, Tokens(ints[cut:]).packed)
    elif form == "unpacked":
        tokens = b"".join(_field(6, 0, _varint(t)) for t in ints)
    elif form == "long" and ints:
        tokens = _field(6, 2, b"".join(_varint(t, rng.randrange(3)) for t in ints))
    else:
        tokens = _field(6, 2, Tokens(ints).packed) if ints else b""
    body = encode_desc(Desc({"k": replace(inst, tokens=())}))
    value = dskit_ring_pb2.Desc.FromString(body).ingesters[0].value.SerializeToString()
    unknown = _field(4, 0, b"\x01") if form == "unknown" else b""
    return value + tokens + unknown


@pytest.mark.parametrize("form", ["packed", "split", "unpacked", "long", "unknown"])
@pytest.mark.parametrize("seed", range(30))
def test_rings_decode_as_protobuf_reads_them(form: str, seed: int) -> None:
    rng = random.Random(seed)
    keys = rng.sample(["a", "b", "c", "d", "e"], rng.randrange(6))
    insts = {k: _instance(rng, k) for k in keys}
    data = b"".join(
        _field(1, 2, _field(1, 2, k.encode()) + _field(2, 2, _instance_bytes(i, rng, form)))
        for k, i in insts.items()
    )
    desc = decode_desc(data)
    assert _ours(desc) == _plain(data)
    # Written back as gogo writes the ring it read: field 6 packed, shortest varints.
    assert encode_desc(desc) == _plain_encode(desc)
    assert encode_desc(normalize(desc)) == _plain_encode(normalize(desc))


@pytest.mark.parametrize(
    "tokens",
    [
        b"\x85",  # the last varint cut short
        b"\x01\x85",
        b"\x80" * 10 + b"\x01",  # eleven bytes: no varint is that long
        b"\x01" + b"\xff" * 12 + b"\x01",
    ],
)
def test_bad_token_runs_raise_as_protobuf_does(tokens: bytes) -> None:
    data = _field(1, 2, _field(1, 2, b"k") + _field(2, 2, _field(6, 2, tokens)))
    with pytest.raises(Exception):  # noqa: B017, PT011 (protobuf's own DecodeError)
        dskit_ring_pb2.Desc.FromString(data)
    with pytest.raises(DskitDecodeError):
        decode_desc(data)


# Runs as the decoder hands them to runs_parse: each ends on a varint's last byte. Bytes with
# the high bit come often, so that rows of ten and more (no varint) are common.
RUN_BYTES = st.lists(st.sampled_from([0x80, 0xFF, 0x8F, 0x00, 0x01, 0x7F]), max_size=30)
RUNS = st.lists(
    st.tuples(RUN_BYTES, st.integers(0, 0x7F)).map(lambda r: bytes([*r[0], r[1]])), max_size=150
)


@given(RUNS)
def test_runs_parse_as_protobuf_parses_them(runs: list[bytes]) -> None:
    try:
        check_packed(b"".join(runs))
    except DecodeError:
        parses = False
    else:
        parses = True
    assert runs_parse(runs) == parses


@pytest.mark.parametrize("bad", [0, 63, 64, 130, 199])
def test_a_bad_run_anywhere_in_a_large_ring_raises(bad: int) -> None:
    # runs_parse looks at the runs a few at a time: a bad one in any group, or one at a group's
    # edge, is seen. Ten bytes with the high bit then a last byte: an 11-byte varint.
    runs = [Tokens([n, n + 1]).packed for n in range(200)]
    runs[bad] = Tokens([5]).packed + b"\x80" * 10 + b"\x01"
    data = b"".join(
        _field(1, 2, _field(1, 2, f"i{n}".encode()) + _field(2, 2, _field(6, 2, run)))
        for n, run in enumerate(runs)
    )
    with pytest.raises(Exception):  # noqa: B017, PT011 (protobuf's own DecodeError)
        dskit_ring_pb2.Desc.FromString(data)
    with pytest.raises(DskitDecodeError):
        decode_desc(data)
    runs[bad] = Tokens([5]).packed + b"\x80" * 9 + b"\x01"  # ten bytes: still a varint
    assert runs_parse(runs)


@settings(max_examples=30)
@given(st.lists(st.lists(UINT32, max_size=20), max_size=6))
def test_a_value_decodes_the_same_from_a_view_of_the_snappy_buffer(lists: list[list[int]]) -> None:
    ring = Desc({f"i{n}": InstanceDesc(timestamp=n, tokens=t) for n, t in enumerate(lists)})
    value = encode_ring_value(ring)
    view = snappy_decode_buffer(value)
    assert bytes(view) == snappy_decode(value)
    assert decode_desc(view) == decode_desc(snappy_decode(value)) == decode_ring_value(value)
    assert decode_ring_value(value) == ring


@settings(max_examples=50)
@given(st.lists(st.lists(UINT32, max_size=20), min_size=1, max_size=6), st.integers(0, 2))
def test_a_decoded_heartbeat_merges_as_the_record_it_carries(
    lists: list[list[int]], bump: int
) -> None:
    ring = normalize(
        Desc({f"i{n}": InstanceDesc(timestamp=100, tokens=t) for n, t in enumerate(lists)})
    )
    beat = Desc({"i0": replace(ring.instances["i0"], timestamp=100 + bump)})
    decoded = decode_desc(encode_desc(beat))
    assert decoded == beat
    ours = merge(ring, decoded, local_cas=False, now=0)
    again = merge(ring, beat, local_cas=False, now=0)
    assert ours == again
    assert encode_ring_value(ours.desc) == encode_ring_value(again.desc)


def test_empty_and_left() -> None:
    assert Tokens() == EMPTY_TOKENS == ()
    assert not EMPTY_TOKENS
    assert InstanceDesc().tokens is EMPTY_TOKENS
    assert InstanceDesc(tokens=[3, 1]).tokens == (3, 1)
    with pytest.raises(ValueError):  # noqa: PT011 (protobuf's message)
        Tokens([2**32])


@pytest.mark.parametrize(
    "records",
    [
        [b""],  # one empty packed record: no tokens
        [b"", b""],
        [b"", Tokens([7, 3]).packed, b""],  # empty records around a list
    ],
)
def test_empty_token_records_read_as_protobuf_reads_them(records: list[bytes]) -> None:
    value = b"".join(_field(6, 2, r) for r in records) + _field(7, 2, b"z")
    data = _field(1, 2, _field(1, 2, b"k") + _field(2, 2, value))
    desc = decode_desc(data)
    assert _ours(desc) == _plain(data)
    assert encode_desc(desc) == _plain_encode(desc)


def test_entries_without_a_value_and_repeated_keys_read_as_protobuf_reads_them() -> None:
    first = _field(2, 2, _field(6, 2, Tokens([5, 1]).packed) + _field(7, 2, b"z"))
    data = (
        _field(1, 2, _field(1, 2, b"a"))  # a key and no value: Go's zero InstanceDesc
        + _field(1, 2, _field(1, 2, b"b") + first)
        + _field(1, 2, _field(1, 2, b"b") + _field(2, 2, _field(2, 0, _varint(7))))  # last wins
        + _field(1, 2, _field(2, 2, b""))  # no key either
    )
    desc = decode_desc(data)
    assert _ours(desc) == _plain(data)
    assert list(desc.instances) == ["a", "b", ""]
    assert desc.instances["b"].timestamp == 7
    assert desc.instances["b"].tokens == ()
