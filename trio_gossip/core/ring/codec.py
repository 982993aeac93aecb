"""The ring's encoding in the KV store (codec id ``ring``; not dskit's protobuf ``ringDesc``).

msgpack, positional for size::

    [format=1, [instance, ...], {id: heartbeat_ms, ...}]
    instance = [id, addr, zone, state, tokens, registered_ms, read_only,
                read_only_updated_ms, [version_ms, version_logical, version_writer]]

Tokens are one binary string of big-endian uint32s: 4 bytes a token, where a msgpack
array would spend 5 on most of them. A heartbeat delta is just the small map.
"""

from __future__ import annotations

import struct
from typing import Any

from trio_gossip.core.kv.codec import MsgpackCodec
from trio_gossip.core.kv.hlc import to_ms, version_from_plain, version_to_plain
from trio_gossip.core.ring.instance import InstanceDesc, InstanceState
from trio_gossip.core.ring.model import Ring
from trio_gossip.wire.errors import DecodeError

FORMAT = 1
MAX_TOKENS_PER_INSTANCE = 1 << 16
MAX_NAME_BYTES = 512  # id, address, zone

_MAX_MS = 2**63 - 1
_STATES = frozenset(int(s) for s in InstanceState)


def ring_to_plain(ring: Ring) -> list[object]:
    instances = [
        [
            d.id,
            d.addr,
            d.zone,
            int(d.state),
            struct.pack(f">{len(d.tokens)}I", *d.tokens),
            to_ms(d.registered_at),
            d.read_only,
            to_ms(d.read_only_updated_at),
            version_to_plain(d.version),
        ]
        for d in ring.instances.values()
    ]
    return [FORMAT, instances, {i: to_ms(t) for i, t in ring.heartbeats.items()}]


def ring_from_plain(plain: Any) -> Ring:
    if type(plain) is not tuple or len(plain) != 3:
        raise DecodeError("ring: expected [format, instances, heartbeats]")
    version, instances, heartbeats = plain
    if version != FORMAT or type(version) is not int:
        raise DecodeError(f"ring: format {version!r} is not supported")
    if type(instances) is not tuple or type(heartbeats) is not dict:
        raise DecodeError("ring: instances must be an array, heartbeats a map")
    descs: dict[str, InstanceDesc] = {}
    for item in instances:
        desc = _instance_from_plain(item)
        if desc.id in descs:
            raise DecodeError(f"ring: instance {desc.id!r} appears twice")
        descs[desc.id] = desc
    beats = {
        _name(i, "heartbeat id", empty=False): _ms(t, "heartbeat") for i, t in heartbeats.items()
    }
    return Ring(descs, beats)


def _instance_from_plain(item: Any) -> InstanceDesc:
    if type(item) is not tuple or len(item) != 9:
        raise DecodeError("ring: an instance is not an array of 9")
    id_, addr, zone, state, tokens, registered, read_only, read_only_updated, version = item
    if type(state) is not int or state not in _STATES:
        raise DecodeError(f"ring: bad instance state {state!r}")
    if type(tokens) is not bytes or len(tokens) % 4:
        raise DecodeError("ring: tokens are not a string of uint32s")
    if len(tokens) > 4 * MAX_TOKENS_PER_INSTANCE:
        raise DecodeError(f"ring: over {MAX_TOKENS_PER_INSTANCE} tokens in one instance")
    if type(read_only) is not bool:
        raise DecodeError("ring: read_only is not a bool")
    return InstanceDesc(
        id=_name(id_, "instance id", empty=False),
        addr=_name(addr, "address"),
        zone=_name(zone, "zone"),
        state=InstanceState(state),
        tokens=struct.unpack(f">{len(tokens) // 4}I", tokens),
        registered_at=_ms(registered, "registered time"),
        read_only=read_only,
        read_only_updated_at=_ms(read_only_updated, "read-only time"),
        version=version_from_plain(version),
    )


def _name(value: Any, what: str, *, empty: bool = True) -> str:
    if type(value) is not str or (not value and not empty):
        raise DecodeError(f"ring: bad {what} {value!r}")
    if len(value) > MAX_NAME_BYTES // 4 and len(value.encode()) > MAX_NAME_BYTES:
        raise DecodeError(f"ring: {what} over {MAX_NAME_BYTES} bytes")
    return value


def _ms(value: Any, what: str) -> float:
    if type(value) is not int or not 0 <= value <= _MAX_MS:
        raise DecodeError(f"ring: bad {what} {value!r}")
    return value / 1000.0


RING_CODEC: MsgpackCodec[Ring] = MsgpackCodec("ring", ring_to_plain, ring_from_plain)
