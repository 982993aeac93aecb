"""dskit's ring value: ``ring.Desc`` and ``ring.InstanceDesc`` (grafana/dskit ring/ring.proto).

The objects are immutable; the rules that change them (merge, tombstones, lookups) live in
``trio_gossip.core.dskit``. On the wire a ring is a protobuf ``Desc`` and, as a KV value, that
protobuf inside one snappy block under codec ID ``ringDesc`` (ring/model.go GetCodec).

Decoding keeps the order of the map entries as they arrived, so a decoded ring re-encodes to the
same bytes; Go writes its maps in random order, so two Go encodings of one ring can differ.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum

from trio_gossip.wire.dskit.errors import DskitDecodeError
from trio_gossip.wire.dskit.proto import dskit_ring_pb2
from trio_gossip.wire.dskit.snappy import (
    EMPTY_SNAPPY,
    MAX_VALUE_DECOMPRESSED_SIZE,
    snappy_decode,
    snappy_encode,
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
    pairs with unique keys, in the order they arrived.
    """

    addr: str = ""
    timestamp: int = 0
    state: int = InstanceState.ACTIVE
    tokens: tuple[int, ...] = ()
    zone: str = ""
    registered_timestamp: int = 0
    id: str = ""
    read_only_updated_timestamp: int = 0
    read_only: bool = False
    versions: tuple[tuple[int, int], ...] = ()


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


def _instance_to_pb(inst: InstanceDesc, out: dskit_ring_pb2.InstanceDesc) -> None:
    out.SetInParent()  # gogo writes a map entry's value even when it is empty
    if inst.addr:
        out.addr = _raw(inst.addr)
    if inst.timestamp:
        out.timestamp = inst.timestamp
    if inst.state:
        out.state = inst.state
    if inst.tokens:
        out.tokens.extend(inst.tokens)
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
        out.versions.add(key=key, value=value)


def _instance_from_pb(v: dskit_ring_pb2.InstanceDesc) -> InstanceDesc:
    versions: tuple[tuple[int, int], ...] = ()
    if v.versions:
        versions = tuple({e.key: e.value for e in v.versions}.items())
    state = v.state
    return InstanceDesc(
        addr=_text(v.addr),
        timestamp=v.timestamp,
        state=InstanceState(state) if 0 <= state <= 4 else state,
        tokens=tuple(v.tokens[:]),  # a C-level copy first: a third faster than iterating
        zone=_text(v.zone),
        registered_timestamp=v.registered_timestamp,
        id=_text(v.id),
        read_only_updated_timestamp=v.read_only_updated_timestamp,
        read_only=v.read_only,
        versions=versions,
    )


def encode_instance(inst: InstanceDesc) -> bytes:
    """One InstanceDesc as gogo's InstanceDesc.Marshal writes it."""
    msg = dskit_ring_pb2.InstanceDesc()
    _instance_to_pb(inst, msg)
    return msg.SerializeToString()


def encode_desc(desc: Desc) -> bytes:
    """The ring as gogo's Desc.Marshal writes it, with the map entries in ``desc``'s order."""
    msg = dskit_ring_pb2.Desc()
    add = msg.ingesters.add
    for key, inst in desc.instances.items():
        entry = add()
        entry.key = _raw(key)
        _instance_to_pb(inst, entry.value)
    return msg.SerializeToString()


def decode_desc(data: bytes) -> Desc:
    """A marshalled ring.Desc; for a repeated instance ID the last entry wins, as in gogo."""
    try:
        msg = dskit_ring_pb2.Desc.FromString(data)
    except Exception as exc:  # google.protobuf.message.DecodeError and binding errors
        raise DskitDecodeError(f"ring.Desc: {exc}") from None
    return Desc({_text(e.key): _instance_from_pb(e.value) for e in msg.ingesters})


def encode_ring_value(desc: Desc) -> bytes:
    """The ring as a KV value: codec.Proto's Encode (protobuf, then one snappy block)."""
    return snappy_encode(encode_desc(desc))


def decode_ring_value(data: bytes, max_size: int = MAX_VALUE_DECOMPRESSED_SIZE) -> Desc:
    """A KV value with codec ``ringDesc``. An empty value is an empty ring: dskit's KV decodes
    emptySnappyEncodedData in its place (memberlist_client.go mergeBytesValueForKey)."""
    return decode_desc(snappy_decode(data or EMPTY_SNAPPY, max_size))
