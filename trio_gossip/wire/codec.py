"""msgpack bodies of memberlist messages: Go 0.2.2's exact bytes out, strict types in.

Encoding follows go-msgpack 0.5.5 as memberlist configures it: structs become maps whose keys are
the Go field names in bytewise order, strings and byte slices are old-spec raw strings (never str8
or bin), nil slices are msgpack nil, empty Source* fields are left out (omitempty), and ints take
the smallest unsigned form. Decoding takes what either Go codec writes (signed or unsigned ints,
str or bin), ignores unknown keys and trailing bytes, gives missing keys and nil their Go zero
value, and rejects a value of the wrong type or range with a DecodeError naming the field.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import itemgetter
from typing import Any

import msgpack

from trio_gossip.wire.errors import DecodeError
from trio_gossip.wire.messages import (
    Ack,
    Alive,
    Dead,
    Err,
    IndirectPing,
    MessageType,
    Nack,
    PacketMessage,
    Ping,
    PushNodeState,
    Suspect,
    User,
)

Body = dict[bytes, Any]

MESSAGE_NAMES: dict[int, str] = {
    0: "ping",
    1: "indirectPing",
    2: "ack",
    3: "suspect",
    4: "alive",
    5: "dead",
    6: "pushPull",
    7: "compound",
    8: "user",
    9: "compress",
    10: "encrypt",
    11: "nack",
    12: "hasCrc",
    13: "err",
    244: "hasLabel",
}
"""memberlist's names for the type bytes (as in Go's source and the vectors' paths)."""

_U16 = 0xFFFF
_U32 = 0xFFFFFFFF
_I64_MIN = -(1 << 63)
_I64_MAX = (1 << 63) - 1

# One shared Packer: pack() is a single C call that holds the GIL and never calls back into
# Python for these plain types, so sharing it is safe and saves half of packb's cost.
_pack: Callable[[object], bytes] = msgpack.Packer(
    use_bin_type=False, unicode_errors="surrogateescape"
).pack


def pack(obj: object) -> bytes:
    """msgpack exactly as memberlist's go-msgpack 0.5.5 writes it (see module docstring)."""
    return _pack(obj)


def describe(value: object) -> str:
    """A short description of a bad value for error messages (never a deep or long repr)."""
    if isinstance(value, list | dict):
        return f"{type(value).__name__} of {len(value)} items"
    if type(value) is bytes:  # msgpack strings and bins both arrive as bytes (raw=True)
        text = repr(value[:32]) + ("..." if len(value) > 32 else "")
        return f"raw string {text}"
    text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{type(value).__name__} {text}"


def msgpack_error(exc: Exception) -> str:
    """msgpack's own words for why it failed; some of its exceptions carry no message."""
    return str(exc) or type(exc).__name__


def message_name(type_byte: int) -> str:
    name = MESSAGE_NAMES.get(type_byte)
    return name if name is not None else f"unknown message type {type_byte}"


# --- decoding helpers: one dict lookup and one type test per field ---------------------------


def unpack_body(data: bytes | memoryview, what: str) -> Body:
    """The msgpack map at the start of ``data``; trailing bytes are ignored, as Go does."""
    try:
        body = msgpack.unpackb(data, raw=True)
    except msgpack.ExtraData as extra:
        body = extra.unpacked
    except Exception as exc:  # msgpack raises several types; all mean the same to us
        raise DecodeError(f"{what}: invalid msgpack body ({msgpack_error(exc)})") from None
    if type(body) is not dict:
        raise DecodeError(f"{what}: body is {describe(body)}, expected a msgpack map")
    return body


def _bad(key: bytes, expected: str, value: object) -> DecodeError:
    return DecodeError(f"{key.decode()}: expected {expected}, got {describe(value)}")


def get_u32(d: Body, key: bytes) -> int:
    v = d.get(key)
    if type(v) is int and 0 <= v <= _U32:
        return v
    if v is None:
        return 0
    raise _bad(key, "uint32", v)


def get_u16(d: Body, key: bytes) -> int:
    v = d.get(key)
    if type(v) is int and 0 <= v <= _U16:
        return v
    if v is None:
        return 0
    raise _bad(key, "uint16", v)


def get_int(d: Body, key: bytes) -> int:
    v = d.get(key)
    if type(v) is int and _I64_MIN <= v <= _I64_MAX:
        return v
    if v is None:
        return 0
    raise _bad(key, "int64", v)


def get_bool(d: Body, key: bytes) -> bool:
    v = d.get(key)
    if type(v) is bool:
        return v
    if v is None:
        return False
    raise _bad(key, "bool", v)


def get_str(d: Body, key: bytes) -> str:
    v = d.get(key)
    if type(v) is bytes:
        return v.decode("utf-8", "surrogateescape")
    if v is None:
        return ""
    raise _bad(key, "string", v)


def _byte_array(key: bytes, v: object) -> bytes:
    """go-msgpack v2 may write a []byte as an array of small ints (memberlist v0.5+ peers
    built with its array encoding); read it as the bytes it stands for."""
    if isinstance(v, list | tuple):
        try:
            return bytes(v)
        except (TypeError, ValueError):
            pass  # an item that is not an int in 0..255
    raise _bad(key, "bytes", v)


def get_bytes(d: Body, key: bytes) -> bytes:
    v = d.get(key)
    if type(v) is bytes:
        return v
    if v is None:
        return b""
    return _byte_array(key, v)


def get_opt_bytes(d: Body, key: bytes) -> bytes | None:
    """A []byte whose nil (None) differs from empty: Meta and Payload are re-sent as received."""
    v = d.get(key)
    if v is None or type(v) is bytes:
        return v
    return _byte_array(key, v)


# --- per-type decoders ------------------------------------------------------------------------


def _dec_ping(d: Body) -> Ping:
    return Ping(
        get_u32(d, b"SeqNo"),
        get_str(d, b"Node"),
        get_bytes(d, b"SourceAddr"),
        get_u16(d, b"SourcePort"),
        get_str(d, b"SourceNode"),
    )


def _dec_indirect_ping(d: Body) -> IndirectPing:
    return IndirectPing(
        get_u32(d, b"SeqNo"),
        get_bytes(d, b"Target"),
        get_u16(d, b"Port"),
        get_str(d, b"Node"),
        get_bool(d, b"Nack"),
        get_bytes(d, b"SourceAddr"),
        get_u16(d, b"SourcePort"),
        get_str(d, b"SourceNode"),
    )


def _dec_ack(d: Body) -> Ack:
    return Ack(get_u32(d, b"SeqNo"), get_opt_bytes(d, b"Payload"))


def _dec_nack(d: Body) -> Nack:
    return Nack(get_u32(d, b"SeqNo"))


def _dec_suspect(d: Body) -> Suspect:
    return Suspect(get_u32(d, b"Incarnation"), get_str(d, b"Node"), get_str(d, b"From"))


def _dec_alive(d: Body) -> Alive:
    return Alive(
        get_u32(d, b"Incarnation"),
        get_str(d, b"Node"),
        get_bytes(d, b"Addr"),
        get_u16(d, b"Port"),
        get_opt_bytes(d, b"Meta"),
        get_bytes(d, b"Vsn"),
    )


def _dec_dead(d: Body) -> Dead:
    return Dead(get_u32(d, b"Incarnation"), get_str(d, b"Node"), get_str(d, b"From"))


def decode_err(d: Body) -> Err:
    return Err(get_str(d, b"Error"))


_STATE_FIELDS = itemgetter(b"Name", b"Addr", b"Port", b"Meta", b"Incarnation", b"State", b"Vsn")


# Push/pulls repeat the same entries (a node's table changes little between two), so a
# valid entry's decoding is kept under its raw field values; bounded like the encoder's memo.
_STATE_MEMO_LIMIT = 1 << 14
_decoded_states: dict[tuple[Any, ...], PushNodeState] = {}


def decode_push_node_state(d: Body) -> PushNodeState:
    """One node state of a push/pull; a push/pull holds one per member, so this has a fast path
    for the usual case (every key present with the type Go writes)."""
    try:
        fields = _STATE_FIELDS(d)
    except KeyError:
        pass
    else:
        try:
            known = _decoded_states.get(fields)
        except TypeError:  # a list or map where Go writes a scalar: the checks below refuse it
            known = None
        name, addr, port, meta, inc, state, vsn = fields
        if known is not None and type(port) is int and type(inc) is int and type(state) is int:
            return known  # (the type checks: True == 1 and 1.0 == 1 as keys, Go takes neither)
        if (
            type(name) is bytes
            and type(addr) is bytes
            and type(port) is int
            and 0 <= port <= _U16
            and (meta is None or type(meta) is bytes)
            and type(inc) is int
            and 0 <= inc <= _U32
            and type(state) is int
            and _I64_MIN <= state <= _I64_MAX
            and type(vsn) is bytes
        ):
            name = name.decode("utf-8", "surrogateescape")
            decoded = PushNodeState(name, addr, port, meta, inc, state, vsn)
            if len(_decoded_states) >= _STATE_MEMO_LIMIT:
                _decoded_states.clear()
            _decoded_states[fields] = decoded
            return decoded
    return PushNodeState(  # the field helpers give zero values for nil and name the bad field
        get_str(d, b"Name"),
        get_bytes(d, b"Addr"),
        get_u16(d, b"Port"),
        get_opt_bytes(d, b"Meta"),
        get_u32(d, b"Incarnation"),
        get_int(d, b"State"),
        get_bytes(d, b"Vsn"),
    )


_PACKET_DECODERS: dict[int, Callable[[Body], PacketMessage]] = {
    0: _dec_ping,
    1: _dec_indirect_ping,
    2: _dec_ack,
    3: _dec_suspect,
    4: _dec_alive,
    5: _dec_dead,
    11: _dec_nack,
}


def decode_body(kind: int, body: Body) -> PacketMessage:
    """The message of type ``kind`` (not user) from its already unpacked msgpack map."""
    decoder = _PACKET_DECODERS.get(kind)
    if decoder is None:
        raise DecodeError(_not_a_packet_message(kind))
    try:
        return decoder(body)
    except DecodeError as exc:
        raise DecodeError(f"{MESSAGE_NAMES[kind]}.{exc}") from None


# Gossip travels as byte-identical copies: every node forwards each alive, suspect and dead
# message unchanged up to its retransmit limit (memberlist queue.go), so a node, and even more
# a simulation of many nodes in one process, decodes the same bytes over and over. Messages
# are frozen values, so equal bytes may share one decoded object. Bounded by emptying it when
# full: cheaper than an LRU, and a join's working set (one alive per node) refills it at once.
# Long messages (big metadata) are not kept, so the memo stays under 2 MiB whatever arrives.
_GOSSIP_KINDS = frozenset((MessageType.ALIVE, MessageType.SUSPECT, MessageType.DEAD))
_GOSSIP_MEMO_LIMIT = 4096
_GOSSIP_MEMO_LONGEST = 512
_gossip_memo: dict[bytes, PacketMessage] = {}
# The same dict, for the packet walk's inline lookup (wire.packet): emptied, never replaced.
GOSSIP_MEMO = _gossip_memo


def decode_message(data: bytes) -> PacketMessage:
    """One bare packet message (type byte + body); no compound, compress or CRC layers here."""
    if not data:
        raise DecodeError("empty message: no type byte")
    kind = data[0]
    if kind == MessageType.USER:
        return User(bytes(data[1:]))
    if kind in _GOSSIP_KINDS and len(data) <= _GOSSIP_MEMO_LONGEST:
        key = bytes(data)
        known = _gossip_memo.get(key)
        if known is None:
            known = _decode(kind, data)
            if len(_gossip_memo) >= _GOSSIP_MEMO_LIMIT:
                _gossip_memo.clear()
            _gossip_memo[key] = known
        return known
    return _decode(kind, data)


def _decode(kind: int, data: bytes) -> PacketMessage:
    decoder = _PACKET_DECODERS.get(kind)
    if decoder is None:
        raise DecodeError(_not_a_packet_message(kind))
    body = unpack_body(data[1:], MESSAGE_NAMES[kind])
    try:
        return decoder(body)
    except DecodeError as exc:
        raise DecodeError(f"{MESSAGE_NAMES[kind]}.{exc}") from None


def _not_a_packet_message(kind: int) -> str:
    if kind in (MessageType.PUSH_PULL, MessageType.ERR, MessageType.ENCRYPT):
        return f"{MESSAGE_NAMES[kind]} (type {kind}) is only valid on a stream"
    if kind in MESSAGE_NAMES:
        return f"{MESSAGE_NAMES[kind]} (type {kind}) is a container, not a single message"
    return f"unknown message type {kind}"


# --- encoding ---------------------------------------------------------------------------------


def _u32(value: int, field: str) -> int:
    if type(value) is not int or not 0 <= value <= _U32:
        raise ValueError(f"{field} must be a uint32, got {value!r}")
    return value


def _u16(value: int, field: str) -> int:
    if type(value) is not int or not 0 <= value <= _U16:
        raise ValueError(f"{field} must be a uint16, got {value!r}")
    return value


def _i64(value: int, field: str) -> int:
    if type(value) is not int or not _I64_MIN <= value <= _I64_MAX:
        raise ValueError(f"{field} must be an int64, got {value!r}")
    return value


def _enc_ping(m: Ping) -> bytes:
    d: dict[str, object] = {"Node": m.node, "SeqNo": _u32(m.seq_no, "Ping.seq_no")}
    if m.source_addr:
        d["SourceAddr"] = m.source_addr
    if m.source_node:
        d["SourceNode"] = m.source_node
    if m.source_port:
        d["SourcePort"] = _u16(m.source_port, "Ping.source_port")
    return b"\x00" + _pack(d)


def _enc_indirect_ping(m: IndirectPing) -> bytes:
    d: dict[str, object] = {
        "Nack": bool(m.nack),
        "Node": m.node,
        "Port": _u16(m.port, "IndirectPing.port"),
        "SeqNo": _u32(m.seq_no, "IndirectPing.seq_no"),
    }
    if m.source_addr:
        d["SourceAddr"] = m.source_addr
    if m.source_node:
        d["SourceNode"] = m.source_node
    if m.source_port:
        d["SourcePort"] = _u16(m.source_port, "IndirectPing.source_port")
    d["Target"] = m.target
    return b"\x01" + _pack(d)


def _enc_ack(m: Ack) -> bytes:
    return b"\x02" + _pack({"Payload": m.payload, "SeqNo": _u32(m.seq_no, "Ack.seq_no")})


def _enc_nack(m: Nack) -> bytes:
    return b"\x0b" + _pack({"SeqNo": _u32(m.seq_no, "Nack.seq_no")})


def _enc_suspect(m: Suspect) -> bytes:
    inc = _u32(m.incarnation, "Suspect.incarnation")
    return b"\x03" + _pack({"From": m.from_node, "Incarnation": inc, "Node": m.node})


def _enc_alive(m: Alive) -> bytes:
    d = {
        "Addr": m.addr,
        "Incarnation": _u32(m.incarnation, "Alive.incarnation"),
        "Meta": m.meta,
        "Node": m.node,
        "Port": _u16(m.port, "Alive.port"),
        "Vsn": m.vsn,
    }
    return b"\x04" + _pack(d)


def _enc_dead(m: Dead) -> bytes:
    inc = _u32(m.incarnation, "Dead.incarnation")
    return b"\x05" + _pack({"From": m.from_node, "Incarnation": inc, "Node": m.node})


def encode_err(m: Err) -> bytes:
    return b"\x0d" + _pack({"Error": m.error})


# A node sends its whole table in every push/pull, mostly unchanged since the last one, so
# the bytes of each entry are kept by value (hashing the entry costs a fifth of encoding it;
# in a simulation, nodes that list the same member share them). Bounded as the decoder's:
# at most 16,384 entries (a few MiB with the longest metadata), cleared when full.
_state_memo: dict[PushNodeState, bytes] = {}
# ... and first under the entry's identity: a node hands the same entry object for a member
# that did not change (core/membership/push_table.py), and an id is hashed at C speed where the
# value's hash and equality run attrs' Python methods. The entry is kept with its bytes, so
# its id cannot be reused while the memo holds it.
_state_by_id: dict[int, tuple[PushNodeState, bytes]] = {}


def encode_push_node_state(s: PushNodeState) -> bytes:
    """One pushNodeState map (no type byte: it only appears inside a push/pull)."""
    known = _state_by_id.get(id(s))
    if known is not None and known[0] is s:
        return known[1]
    try:
        data = _state_memo.get(s)
    except TypeError:  # a field of an unhashable type (not one a Member holds): no memo
        return _encode_push_node_state(s)
    if data is None:
        data = _encode_push_node_state(s)
        if len(_state_memo) >= _STATE_MEMO_LIMIT:
            _state_memo.clear()
        _state_memo[s] = data
    if len(_state_by_id) >= _STATE_MEMO_LIMIT:
        _state_by_id.clear()
    _state_by_id[id(s)] = (s, data)
    return data


def _encode_push_node_state(s: PushNodeState) -> bytes:
    d = {
        "Addr": s.addr,
        "Incarnation": _u32(s.incarnation, "PushNodeState.incarnation"),
        "Meta": s.meta,
        "Name": s.name,
        "Port": _u16(s.port, "PushNodeState.port"),
        "State": _i64(int(s.state), "PushNodeState.state"),
        "Vsn": s.vsn,
    }
    return _pack(d)


def _enc_user(m: User) -> bytes:
    return b"\x08" + m.payload


_PACKET_ENCODERS: dict[type, Callable[[Any], bytes]] = {
    Ping: _enc_ping,
    IndirectPing: _enc_indirect_ping,
    Ack: _enc_ack,
    Nack: _enc_nack,
    Suspect: _enc_suspect,
    Alive: _enc_alive,
    Dead: _enc_dead,
    User: _enc_user,
}


def encode_message(msg: PacketMessage) -> bytes:
    """One packet message: type byte + msgpack body, or ``0x08`` + raw bytes for User."""
    encoder = _PACKET_ENCODERS.get(type(msg))
    if encoder is None:
        raise TypeError(f"{type(msg).__name__} is not a packet message")
    return encoder(msg)
