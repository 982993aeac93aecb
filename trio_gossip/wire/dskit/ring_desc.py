"""dskit's ring value: ``ring.Desc`` and ``ring.InstanceDesc`` (grafana/dskit ring/ring.proto).

The objects are immutable; the rules that change them (merge, tombstones, lookups) live in
``trio_gossip.core.dskit``. On the wire a ring is a protobuf ``Desc`` and, as a KV value, that
protobuf inside one snappy block under codec ID ``ringDesc`` (ring/model.go GetCodec).

Decoding keeps the order of the map entries as they arrived, so a decoded ring re-encodes to the
same bytes; Go writes its maps in random order, so two Go encodings of one ring can differ. An
instance's tokens are kept as the packed varints they arrive as (tokens.py): the decoder reads
the ring through dskit_ring_packed.proto and makes no int per token, the encoder writes the runs
back as they are (in shortest varints, as gogo does).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum

from google.protobuf.unknown_fields import UnknownFieldSet

from trio_gossip.wire.dskit.errors import DskitDecodeError
from trio_gossip.wire.dskit.proto import dskit_ring_packed_pb2, dskit_ring_pb2
from trio_gossip.wire.dskit.snappy import (
    EMPTY_SNAPPY,
    MAX_VALUE_DECOMPRESSED_SIZE,
    snappy_decode_buffer,
    snappy_encode,
)
from trio_gossip.wire.dskit.tokens import (
    EMPTY_TOKENS,
    Tokens,
    as_tokens,
    runs_parse,
)

RING_CODEC_ID = "ringDesc"
"""The codec ID dskit registers for ring.Desc (ring/model.go GetCodec)."""


class InstanceState(IntEnum):
    """ring.proto InstanceState. A decoded state may also be an int this enum does not name."""

    ACTIVE = 0
    LEAVING = 1
    PENDING = 2
    JOINING = 3
    LEFT = 4


@dataclass(frozen=True, slots=True)
class InstanceDesc:
    """One instance of the ring, field for field as ring.proto InstanceDesc.

    Timestamps are Unix seconds. ``versions`` is dskit's map<uint64, uint64> as (key, value)
    pairs with unique keys, in the order they arrived. ``tokens`` may be given as any sequence
    of uint32s; it is always kept as ``Tokens`` (packed varints, see tokens.py).
    """

    addr: str = ""
    timestamp: int = 0
    state: int = InstanceState.ACTIVE
    tokens: Sequence[int] = EMPTY_TOKENS
    zone: str = ""
    registered_timestamp: int = 0
    id: str = ""
    read_only_updated_timestamp: int = 0
    read_only: bool = False
    versions: tuple[tuple[int, int], ...] = ()

    def __post_init__(self) -> None:
        if type(self.tokens) is not Tokens:
            object.__setattr__(self, "tokens", as_tokens(self.tokens))


@dataclass(frozen=True, slots=True, eq=False)
class Desc:
    """ring.Desc: instance ID -> InstanceDesc (dskit's ``Ingesters`` map), never mutated.

    ``instances`` is any read-only mapping (a dict from the decoder, a persistent map after a
    merge); two rings are equal when they hold the same instances, whatever their order.
    """

    instances: Mapping[str, InstanceDesc] = field(default_factory=dict)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Desc):
            return NotImplemented
        return dict(self.instances) == dict(other.instances)

    __hash__ = None  # type: ignore[assignment]  # a mapping inside: not hashable


def _text(raw: bytes) -> str:
    # gogo's Unmarshal copies string bytes without a UTF-8 check; keep them all.
    return raw.decode("utf-8", "surrogateescape")


def _raw(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


_PackedInstance = dskit_ring_packed_pb2.InstanceDesc
_PackedDesc = dskit_ring_packed_pb2.Desc
_VersionsEntry = dskit_ring_pb2.VersionsEntry
_STATES: tuple[InstanceState, ...] = tuple(InstanceState)
_STATE_OF: dict[int, int] = {int(s): s for s in InstanceState}  # .get(n, n): an unnamed n stays


def _state(state: int) -> int:
    return _STATES[state] if 0 <= state <= 4 else state


class _InstanceBuilder:
    """InstanceDesc's slots without its frozen ``__setattr__``: the decoder fills one with plain
    attribute stores, then makes it an InstanceDesc by setting its ``__class__``.

    A frozen dataclass stores each field in ``__init__`` through object.__setattr__, and a call
    per field to the slots' own setters (vars(InstanceDesc)[name].__set__) still builds an
    argument tuple each time; a store to a slot of a class without ``__setattr__`` is one
    specialized bytecode. Python lets ``__class__`` be set between classes with the same layout
    (same base, same ``__slots__``: checked below, and by Python, which raises TypeError on a
    mismatch); the object is then an InstanceDesc in every way (type, equality, hash, frozen),
    and nothing else ever sees it as a builder.
    """

    __slots__ = (
        "addr", "id", "read_only", "read_only_updated_timestamp", "registered_timestamp",
        "state", "timestamp", "tokens", "versions", "zone",
    )  # fmt: skip
    addr: str
    timestamp: int
    state: int
    tokens: Tokens
    zone: str
    registered_timestamp: int
    id: str
    read_only_updated_timestamp: int
    read_only: bool
    versions: tuple[tuple[int, int], ...]


# CPython lays slots out in sorted order; setting __class__ raises TypeError on any mismatch.
if sorted(vars(InstanceDesc)["__slots__"]) != list(_InstanceBuilder.__slots__):  # pragma: no cover
    raise RuntimeError("_InstanceBuilder must have the slots of InstanceDesc")

_SET_INSTANCES: Callable[[Desc, Mapping[str, InstanceDesc]], None] = vars(Desc)["instances"].__set__
_new = object.__new__
_decode = bytes.decode


def _instance_to_pb(inst: InstanceDesc, out: _PackedInstance) -> None:
    # Field by field as gogo's InstanceDesc.Marshal: zero values are left out. The tokens go out
    # as one packed run, the record a `repeated uint32` field makes, in shortest varints.
    out.SetInParent()  # gogo writes a map entry's value even when it is empty
    if inst.addr:
        out.addr = _raw(inst.addr)
    if inst.timestamp:
        out.timestamp = inst.timestamp
    if inst.state:
        out.state = inst.state
    packed = as_tokens(inst.tokens).shortest()
    if packed:
        out.tokens.append(packed)
    if inst.zone:
        out.zone = _raw(inst.zone)
    if inst.registered_timestamp:
        out.registered_timestamp = inst.registered_timestamp
    if inst.id:
        out.id = _raw(inst.id)
    if inst.read_only_updated_timestamp:
        out.read_only_updated_timestamp = inst.read_only_updated_timestamp
    if inst.read_only:
        out.read_only = True
    for key, value in inst.versions:
        out.versions.append(_VersionsEntry(key=key, value=value).SerializeToString())


def encode_instance(inst: InstanceDesc) -> bytes:
    """One InstanceDesc as gogo's InstanceDesc.Marshal writes it."""
    msg = _PackedInstance()
    _instance_to_pb(inst, msg)
    return msg.SerializeToString()


def encode_desc(desc: Desc) -> bytes:
    """The ring as gogo's Desc.Marshal writes it, with the map entries in ``desc``'s order."""
    # _instance_to_pb inlined: a call per instance, and one per string, cost more than the
    # protobuf stores themselves. A zone's bytes are made once, and an ID equal to its key
    # reuses the key's. Zero values are left out, as gogo does (and as proto3 would anyway).
    msg = _PackedDesc()
    add = msg.ingesters.add
    zones: dict[str, bytes] = {}
    for key, inst in desc.instances.items():
        entry = add()
        key_raw = key.encode("utf-8", "surrogateescape")
        entry.key = key_raw
        out = entry.value
        addr = inst.addr
        if addr:
            out.addr = addr.encode("utf-8", "surrogateescape")
        else:
            out.SetInParent()  # gogo writes a map entry's value even when it is empty
        if inst.timestamp:
            out.timestamp = inst.timestamp
        if inst.state:
            out.state = inst.state
        tokens = inst.tokens
        if type(tokens) is Tokens and tokens._normal:
            packed = tokens._packed
        else:
            packed = as_tokens(tokens).shortest()
        if packed:
            out.tokens.append(packed)
        zone = inst.zone
        if zone:
            zone_raw = zones.get(zone)
            if zone_raw is None:
                zone_raw = zones[zone] = zone.encode("utf-8", "surrogateescape")
            out.zone = zone_raw
        if inst.registered_timestamp:
            out.registered_timestamp = inst.registered_timestamp
        id_ = inst.id
        if id_:
            out.id = key_raw if id_ == key else id_.encode("utf-8", "surrogateescape")
        if inst.read_only_updated_timestamp:
            out.read_only_updated_timestamp = inst.read_only_updated_timestamp
        if inst.read_only:
            out.read_only = True
        for version_key, version in inst.versions:
            out.versions.append(_VersionsEntry(key=version_key, value=version).SerializeToString())
    return msg.SerializeToString()


def _versions(entries: Sequence[bytes]) -> tuple[tuple[int, int], ...]:
    # map<uint64, uint64>: a repeated key keeps its first place and its last value, as gogo.
    pairs: dict[int, int] = {}
    try:
        for raw in entries:
            entry = _VersionsEntry.FromString(raw)
            pairs[entry.key] = entry.value
    except Exception as exc:  # google.protobuf.message.DecodeError and binding errors
        raise DskitDecodeError(f"ring.Desc: {exc}") from None
    return tuple(pairs.items())


def _decode_desc_typed(data: bytes | memoryview) -> Desc:
    # The general reader (dskit_ring.proto): tokens as ints, in any form a sender may use.
    try:
        msg = dskit_ring_pb2.Desc.FromString(data)  # type: ignore[arg-type]  # any buffer
    except Exception as exc:  # google.protobuf.message.DecodeError and binding errors
        raise DskitDecodeError(f"ring.Desc: {exc}") from None
    instances: dict[str, InstanceDesc] = {}
    for e in msg.ingesters:
        v = e.value
        versions: tuple[tuple[int, int], ...] = ()
        if v.versions:
            versions = tuple({x.key: x.value for x in v.versions}.items())
        instances[_text(e.key)] = InstanceDesc(
            _text(v.addr), v.timestamp, _state(v.state), Tokens(v.tokens[:]), _text(v.zone),
            v.registered_timestamp, _text(v.id), v.read_only_updated_timestamp, v.read_only,
            versions,
        )  # fmt: skip
    return Desc(instances)


def decode_desc(data: bytes | memoryview) -> Desc:
    """A marshalled ring.Desc; for a repeated instance ID the last entry wins, as in gogo.

    Read through dskit_ring_packed.proto, which hands over each token list as its packed
    varints; all runs are then checked at once. Anything that form does not read as gogo would
    (tokens written unpacked, any unknown field, a run cut short) is read again the general way.
    """
    # A 1,000-instance ring is 1,000 turns of this loop, and beyond protobuf's own parse the
    # loop is the decode: so one body, no call per instance but protobuf's reads. Each
    # InstanceDesc is filled as an _InstanceBuilder (plain slot stores, see there) and each Tokens
    # without its __init__; an ID equal to its key and the handful of zones share one string
    # each. (Reading it column by column instead, each field mapped over all instances in C,
    # was slower still.)
    try:
        msg = _PackedDesc.FromString(data)  # type: ignore[arg-type]  # any buffer
    except Exception as exc:  # google.protobuf.message.DecodeError and binding errors
        raise DskitDecodeError(f"ring.Desc: {exc}") from None
    instances: dict[str, InstanceDesc] = {}
    runs: list[bytes] = []
    zones: dict[bytes, str] = {}
    states = _STATE_OF
    builder = _InstanceBuilder
    instance_desc = InstanceDesc
    for e in msg.ingesters:
        v = e.value
        if UnknownFieldSet(v):
            return _decode_desc_typed(data)
        chunks = v.tokens
        packed = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        if not packed:  # no record, or empty ones
            tokens = EMPTY_TOKENS
        else:
            if packed[-1] & 0x80:
                return _decode_desc_typed(data)  # a varint cut short: it raises
            runs.append(packed)
            tokens = _new(Tokens)
            tokens._packed = packed
            tokens._normal = None
        key = e.key
        key_text = _decode(key, "utf-8", "surrogateescape")
        inst = builder()
        inst.addr = _decode(v.addr, "utf-8", "surrogateescape")
        inst.timestamp = v.timestamp
        state = v.state
        inst.state = states.get(state, state)
        inst.tokens = tokens
        zone_raw = v.zone
        zone = zones.get(zone_raw)
        if zone is None:
            zone = zones[zone_raw] = _decode(zone_raw, "utf-8", "surrogateescape")
        inst.zone = zone
        inst.registered_timestamp = v.registered_timestamp
        id_raw = v.id
        inst.id = key_text if id_raw == key else _decode(id_raw, "utf-8", "surrogateescape")
        inst.read_only_updated_timestamp = v.read_only_updated_timestamp
        inst.read_only = v.read_only
        versions = v.versions
        inst.versions = _versions(versions) if versions else ()
        inst.__class__ = instance_desc  # type: ignore[assignment]  # the same layout, see above
        instances[key_text] = inst  # type: ignore[assignment]  # now an InstanceDesc
    # Each run ends on a varint's last byte, so the runs hold only whole varints; all that is
    # left to check is that none is longer than ten bytes.
    if not runs_parse(runs):
        return _decode_desc_typed(data)  # it raises, with protobuf's message
    desc = _new(Desc)
    _SET_INSTANCES(desc, instances)
    return desc


def encode_ring_value(desc: Desc) -> bytes:
    """The ring as a KV value: codec.Proto's Encode (protobuf, then one snappy block)."""
    return snappy_encode(encode_desc(desc))


def decode_ring_value(data: bytes, max_size: int = MAX_VALUE_DECOMPRESSED_SIZE) -> Desc:
    """A KV value with codec ``ringDesc``. An empty value is an empty ring: dskit's KV decodes
    emptySnappyEncodedData in its place (memberlist_client.go mergeBytesValueForKey)."""
    # protobuf parses from the view of snappy's buffer without copying it, and may refer to it
    # while the message lives; the message does not outlive decode_desc, the view does.
    return decode_desc(snappy_decode_buffer(data or EMPTY_SNAPPY, max_size))
