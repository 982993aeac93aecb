"""memberlist's messages as frozen attrs classes.

Field names follow the Go struct fields (snake_case); the msgpack keys on the wire are the Go
names, sorted bytewise, which is what `wire.codec` writes. Strings are Go strings, i.e. bytes:
they are decoded as UTF-8 with ``surrogateescape`` so any byte string round-trips exactly.
``None`` is Go's nil slice (msgpack nil ``c0``), distinct from ``b""`` (``a0``).
"""

from __future__ import annotations

import enum

import attrs


class MessageType(enum.IntEnum):
    """The type byte in front of every message (never renumbered upstream)."""

    PING = 0
    INDIRECT_PING = 1
    ACK = 2
    SUSPECT = 3
    ALIVE = 4
    DEAD = 5
    PUSH_PULL = 6
    COMPOUND = 7
    USER = 8
    COMPRESS = 9
    ENCRYPT = 10
    NACK = 11
    HAS_CRC = 12
    ERR = 13
    HAS_LABEL = 244


class NodeState(enum.IntEnum):
    """``pushNodeState.State`` and the member table's states."""

    ALIVE = 0
    SUSPECT = 1
    DEAD = 2
    LEFT = 3


@attrs.frozen
class Ping:
    seq_no: int
    node: str = ""
    source_addr: bytes = b""
    source_port: int = 0
    source_node: str = ""


@attrs.frozen
class IndirectPing:
    seq_no: int
    target: bytes
    port: int
    node: str
    nack: bool = False
    source_addr: bytes = b""
    source_port: int = 0
    source_node: str = ""


@attrs.frozen
class Ack:
    seq_no: int
    payload: bytes | None = None


@attrs.frozen
class Nack:
    seq_no: int


@attrs.frozen
class Suspect:
    incarnation: int
    node: str
    from_node: str


@attrs.frozen
class Alive:
    incarnation: int
    node: str
    addr: bytes
    port: int
    meta: bytes | None
    vsn: bytes


@attrs.frozen
class Dead:
    incarnation: int
    node: str
    from_node: str

    @property
    def is_leave(self) -> bool:
        """A dead message a node sends about itself means it left gracefully."""
        return self.node == self.from_node


@attrs.frozen
class PushNodeState:
    name: str
    addr: bytes
    port: int
    meta: bytes | None
    incarnation: int
    state: int
    vsn: bytes


@attrs.frozen
class PushPull:
    """A whole push/pull stream message: header, node states and the opaque user state."""

    join: bool
    states: tuple[PushNodeState, ...]
    user_state: bytes = b""
    # The states' msgpack bytes, one after the other, when the sender keeps them already
    # (core/membership/push_table.py): not a field of the message, a shortcut to encoding it.
    encoded_states: bytes | None = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen
class User:
    """A user message: raw bytes on packets, ``userMsgHeader`` + bytes on streams."""

    payload: bytes


@attrs.frozen
class Err:
    error: str


Message = Ping | IndirectPing | Ack | Nack | Suspect | Alive | Dead | PushPull | User | Err

# Messages that may travel in a UDP packet (PushPull and Err are stream-only).
PacketMessage = Ping | IndirectPing | Ack | Nack | Suspect | Alive | Dead | User

MESSAGE_TYPES: dict[type, MessageType] = {
    Ping: MessageType.PING,
    IndirectPing: MessageType.INDIRECT_PING,
    Ack: MessageType.ACK,
    Nack: MessageType.NACK,
    Suspect: MessageType.SUSPECT,
    Alive: MessageType.ALIVE,
    Dead: MessageType.DEAD,
    PushPull: MessageType.PUSH_PULL,
    User: MessageType.USER,
    Err: MessageType.ERR,
}
"""The type byte each decoded message class travels under."""
