"""One message per stream direction, sans-IO: ``encode_stream`` and the incremental StreamDecoder.

Layers, outermost first: the dialer's label header (written once per connection), the encrypted
frame ``[0x0A][u32 length][payload]`` whose associated data is its 5-byte header plus the label,
a compress message (Go compresses every stream message when compression is on), then the
message: ping, ack, err, push/pull (header, node states, raw user state) or user
(``{UserMsgLen}`` + raw bytes).
"""

from __future__ import annotations

import msgpack

from trio_gossip.wire import limits
from trio_gossip.wire.codec import (
    Body,
    decode_body,
    decode_err,
    describe,
    encode_err,
    encode_message,
    encode_push_node_state,
    get_bool,
    get_int,
    message_name,
    msgpack_error,
    pack,
)
from trio_gossip.wire.crypto import Keyring, decrypt_payload, encrypt_payload, encrypted_length
from trio_gossip.wire.errors import DecodeError, LabelError
from trio_gossip.wire.messages import Ack, Err, Message, Ping, PushNodeState, PushPull, User
from trio_gossip.wire.packet import (
    COMPRESS,
    HAS_LABEL,
    add_label,
    check_label,
    compress_message,
    decompress_map,
)
from trio_gossip.wire.push_entries import KNOWN_ENTRIES, decode_push_entry

ENCRYPT = 10
PING, ACK, PUSH_PULL, USER, ERR = 0, 2, 6, 8, 13
STREAM_TYPES = frozenset((PING, ACK, PUSH_PULL, USER, ERR))

REMOTE_ENCRYPTED = "Remote state is encrypted and encryption is not configured"
REMOTE_NOT_ENCRYPTED = "Encryption is configured but remote state is not encrypted"
"""Go's own texts for the two encryption mismatches, worth sending back verbatim in an errMsg."""


def encode_stream_body(msg: Message) -> bytes:
    """The stream form of a message, before compression and encryption."""
    if isinstance(msg, PushPull):
        header = {
            "Join": bool(msg.join),
            "Nodes": len(msg.states),
            "UserStateLen": len(msg.user_state),
        }
        states = msg.encoded_states
        if states is None:
            states = b"".join(map(encode_push_node_state, msg.states))
        return b"\x06" + pack(header) + states + msg.user_state
    if isinstance(msg, User):
        return b"\x08" + pack({"UserMsgLen": len(msg.payload)}) + msg.payload
    if isinstance(msg, Err):
        return encode_err(msg)
    if isinstance(msg, Ping | Ack):
        return encode_message(msg)
    raise TypeError(f"{type(msg).__name__} cannot be sent on a stream")


def encode_stream(
    msg: Message,
    *,
    keyring: Keyring | None = None,
    label: bytes = b"",
    write_label: bool = False,
    compress: bool = True,
    encryption_version: int = 1,
) -> bytes:
    """Everything one side writes: [label header] [encrypted frame of] [compressed] message.

    ``write_label`` is for the dialer; a responder passes the label only as associated data.
    """
    data = encode_stream_body(msg)
    if compress:
        data = compress_message(data)
    label = check_label(label)
    if keyring is not None:
        size = encrypted_length(encryption_version, len(data))
        header = bytes((ENCRYPT,)) + size.to_bytes(4, "big")
        data = header + encrypt_payload(encryption_version, keyring, data, header + label)
    return add_label(data, label) if write_label else data


def _unpacker(max_size: int) -> msgpack.Unpacker:
    # A small first buffer that doubles as needed: the default (1 MiB) costs an mmap per stream.
    return msgpack.Unpacker(raw=True, max_buffer_size=max_size, read_size=min(max_size, 16384))


class _Message:
    """Incremental parse of one message body, starting at its type byte (no compress/encrypt).

    msgpack objects go through a streaming Unpacker, which resumes where it stopped instead of
    re-parsing, so a multi-MB push/pull arriving in small chunks costs linear time.
    """

    __slots__ = (
        "_count",
        "_entry_at",
        "_fed",
        "_fed_at",
        "_header",
        "_kind",
        "_need",
        "_raw",
        "_raw_mode",
        "_states",
        "_unpacker",
    )

    def __init__(self, max_size: int) -> None:
        self._kind = -1
        self._unpacker = _unpacker(max_size)
        self._header: Body | None = None
        self._count = 0  # node states still to come
        self._states: list[PushNodeState] = []
        # The bytes fed to the Unpacker from stream offset _fed_at on, kept while node states
        # are read, and where the entry being read starts: entries are stepped over and
        # decoded from their bytes (wire/push_entries.py).
        self._fed = bytearray()
        self._fed_at = 0
        self._entry_at = 0
        self._need = 0  # length of the raw bytes after the msgpack part
        self._raw_mode = False
        self._raw = bytearray()

    @property
    def kind(self) -> int:
        return self._kind

    def waiting_for(self) -> str:
        if self._kind < 0:
            return "the message type byte"
        if self._header is None:
            return f"the {message_name(self._kind)} body"
        if self._count:
            return f"{self._count} more push/pull node states"
        missing = self._need - len(self._raw)
        return f"{missing} more raw bytes of {message_name(self._kind)}"

    def feed(self, data: bytes) -> Message | None:
        if self._kind < 0:
            if not data:
                return None
            self._kind = data[0]
            if self._kind not in STREAM_TYPES:
                raise DecodeError(f"{message_name(self._kind)} is not a valid stream message")
            data = data[1:]
        if self._raw_mode:
            self._raw += data
            return self._finish_raw()
        try:
            self._unpacker.feed(data)
        except msgpack.BufferFull:
            raise DecodeError("stream message exceeds the size limit") from None
        if self._kind == PUSH_PULL and (self._header is None or self._count):
            self._fed += data  # only node states are read back from their bytes
        try:
            return self._advance()
        except DecodeError:
            raise
        except Exception as exc:  # any msgpack failure means malformed input
            raise DecodeError(
                f"{message_name(self._kind)}: invalid msgpack ({msgpack_error(exc)})"
            ) from None

    def _advance(self) -> Message | None:
        unpacker = self._unpacker
        if self._header is None:
            try:
                obj = unpacker.unpack()
            except msgpack.OutOfData:
                return None
            if type(obj) is not dict:
                raise DecodeError(f"{message_name(self._kind)}: body is {describe(obj)}, not a map")
            self._header = obj
            done = self._start(obj)
            if done is not None:
                return done
        if self._count:
            self._read_states()
            if self._count:
                return None
        self._raw_mode = True  # the rest is raw bytes, taken past the Unpacker from now on
        self._raw += unpacker.read_bytes(self._need)
        return self._finish_raw()

    def _read_states(self) -> None:
        """Step over as many whole node states as have arrived, decoding each from its bytes
        (wire/push_entries.py; the memo is asked inline: this loop runs once per member)."""
        unpacker, fed, states = self._unpacker, self._fed, self._states
        skip, tell, append, known = unpacker.skip, unpacker.tell, states.append, KNOWN_ENTRIES.get
        start, base, count = self._entry_at, self._fed_at, self._count
        while count:
            try:
                skip()
            except msgpack.OutOfData:
                break
            end = tell()
            raw = bytes(fed[start - base : end - base])
            state = known(raw)
            append(state if state is not None else decode_push_entry(raw, len(states)))
            count -= 1
            start = end
        self._count, self._entry_at = count, start
        if start - base > 65536:  # what was read is no longer needed
            del fed[: start - base]
            self._fed_at = start

    def _start(self, header: Body) -> Message | None:
        kind = self._kind
        if kind in (PING, ACK):
            return decode_body(kind, header)
        if kind == ERR:
            try:
                return decode_err(header)
            except DecodeError as exc:
                raise DecodeError(f"err.{exc}") from None
        try:
            if kind == USER:
                self._need = get_int(header, b"UserMsgLen")
                nodes = 0
            else:
                nodes = get_int(header, b"Nodes")
                self._need = get_int(header, b"UserStateLen")
                get_bool(header, b"Join")
        except DecodeError as exc:
            raise DecodeError(f"{message_name(kind)} header.{exc}") from None
        if not 0 <= nodes <= limits.MAX_PUSH_PULL_NODES:
            raise DecodeError(
                f"pushPull: node count {nodes} outside 0..{limits.MAX_PUSH_PULL_NODES}"
            )
        if not 0 <= self._need <= limits.MAX_USER_STATE_SIZE:
            raise DecodeError(
                f"{message_name(kind)}: user data length {self._need} outside"
                f" 0..{limits.MAX_USER_STATE_SIZE}"
            )
        self._count = nodes
        self._entry_at = self._unpacker.tell()
        return None

    def _finish_raw(self) -> Message | None:
        if len(self._raw) < self._need:
            return None
        raw = bytes(self._raw[: self._need])  # bytes past the message are ignored, as Go does
        if self._kind == USER:
            return User(raw)
        assert self._header is not None
        return PushPull(get_bool(self._header, b"Join"), tuple(self._states), raw)


def decode_stream_body(data: bytes, max_size: int = limits.MAX_DECOMPRESSED_SIZE) -> Message:
    """A complete stream message body (type byte first, no compress/encrypt layer)."""
    reader = _Message(max(max_size, len(data)))
    message = reader.feed(data)
    if message is None:
        raise DecodeError(
            f"{message_name(data[0]) if data else 'stream message'} truncated: waiting for"
            f" {reader.waiting_for()}"
        )
    return message


_LABEL, _FRAME, _ENCRYPTED, _COMPRESSED, _PLAIN, _DONE, _FAILED = range(7)
_FRAMING_SLACK = 2 + 255 + 5 + 29  # label header, frame header, encryption overhead


class StreamDecoder:
    """Reads the one message of a stream direction from chunks as they arrive.

    ``feed`` returns the message once complete (None until then) and raises DecodeError on bad
    input; call ``eof`` when the peer closes. ``max_size`` bounds the message both as received
    and once decompressed (encrypted frames are also bounded by MAX_ENCRYPTED_FRAME_SIZE).
    The listener sets ``accept_label_header`` to strip and check the dialer's label header; a
    dialer reading the reply leaves it off. ``layers`` lists the layers passed through (for
    tracing), e.g. ["encrypt", "compress"].
    """

    def __init__(
        self,
        *,
        keyring: Keyring | None = None,
        label: bytes = b"",
        accept_label_header: bool = False,
        verify_incoming: bool = True,
        max_size: int = limits.MAX_DECOMPRESSED_SIZE,
        skip_label_check: bool = False,
    ) -> None:
        self._keyring = keyring
        self._label = check_label(label)
        self._skip_label_check = skip_label_check
        self._verify_incoming = verify_incoming
        self._max_size = max_size
        self._state = _LABEL if accept_label_header else _FRAME
        self._buffer = bytearray()
        self._received = 0
        self._body = _Message(max_size)
        self._compressed: msgpack.Unpacker | None = None
        self.layers: list[str] = []
        self.inner: bytes | None = None
        """The message bytes once decrypted or decompressed (kept for tracing)."""

    @property
    def done(self) -> bool:
        return self._state == _DONE

    @property
    def kind(self) -> int:
        """The message's type byte once seen (inside any encrypt/compress layer), else -1."""
        return self._body.kind

    def feed(self, data: bytes | bytearray | memoryview) -> Message | None:
        if self._state == _DONE:
            return None  # anything after the one message is ignored, as Go does
        if self._state == _FAILED:
            raise DecodeError("stream already failed")
        self._received += len(data)
        try:
            if self._received > self._max_size + _FRAMING_SLACK:
                raise DecodeError(f"stream message exceeds the size limit of {self._max_size}")
            message = self._feed(bytes(data))
        except DecodeError:
            self._state = _FAILED
            raise
        if message is not None:
            self._state = _DONE
        return message

    def eof(self) -> None:
        """The peer closed its side: fine if the message is complete or nothing came at all."""
        if self._state == _DONE or self._received == 0:
            return
        state = self._state
        self._state = _FAILED
        if state == _FAILED:
            raise DecodeError("stream already failed")
        where = {
            _LABEL: "the label header",
            _FRAME: "the first message byte",
            _ENCRYPTED: "the rest of the encrypted frame",
            _COMPRESSED: "the rest of the compress message",
        }.get(state) or self._body.waiting_for()
        raise DecodeError(f"stream truncated after {self._received} bytes: waiting for {where}")

    def _feed(self, data: bytes) -> Message | None:
        if self._state == _PLAIN:
            return self._body.feed(data)
        if self._state == _COMPRESSED:
            return self._feed_compressed(data)
        self._buffer += data
        if self._state == _LABEL and not self._strip_label():
            return None
        if self._state == _FRAME:
            if not self._buffer:
                return None
            return self._start_frame()
        if self._state == _ENCRYPTED:
            return self._decrypt_frame()
        raise AssertionError(self._state)

    def _strip_label(self) -> bool:
        buf = self._buffer
        if not buf:
            return False
        found = b""
        if buf[0] == HAS_LABEL:
            if len(buf) < 2 or len(buf) < 2 + buf[1]:
                return False
            if buf[1] == 0:
                raise DecodeError("label header with an empty label")
            found = bytes(buf[2 : 2 + buf[1]])
            del buf[: 2 + buf[1]]
            self.layers.append("hasLabel")
        if self._skip_label_check:  # memberlist net.go handleConn, SkipInboundLabelCheck
            if found:
                raise LabelError(f"unexpected double stream label header {found!r}", found)
            found = self._label
        if found != self._label:
            raise LabelError(f"stream label {found!r} does not match ours {self._label!r}",
                             found)  # fmt: skip
        self._state = _FRAME
        return True

    def _start_frame(self) -> Message | None:
        kind = self._buffer[0]
        if kind == ENCRYPT:
            self.layers.append("encrypt")
            if self._keyring is None:
                raise DecodeError(REMOTE_ENCRYPTED)
            self._state = _ENCRYPTED
            return self._decrypt_frame()
        if kind == HAS_LABEL:
            raise DecodeError("unexpected label header (labels are only read by the listener)")
        if self._keyring is not None and self._verify_incoming:
            raise DecodeError(REMOTE_NOT_ENCRYPTED)
        data = bytes(self._buffer)
        self._buffer.clear()
        return self._start_plaintext(data)

    def _start_plaintext(self, data: bytes) -> Message | None:
        if data[0] == COMPRESS:
            self.layers.append("compress")
            self._state = _COMPRESSED
            self._compressed = _unpacker(self._max_size)
            return self._feed_compressed(data[1:])
        self._state = _PLAIN
        return self._body.feed(data)

    def _decrypt_frame(self) -> Message | None:
        buf = self._buffer
        if len(buf) < 5:
            return None
        size = int.from_bytes(buf[1:5], "big")
        if size > limits.MAX_ENCRYPTED_FRAME_SIZE:
            raise DecodeError(
                f"encrypted frame of {size} bytes exceeds {limits.MAX_ENCRYPTED_FRAME_SIZE}"
            )
        if len(buf) < 5 + size:
            return None
        assert self._keyring is not None
        header = bytes(buf[:5])
        plain = decrypt_payload(self._keyring, bytes(buf[5 : 5 + size]), header + self._label)
        buf.clear()
        if not plain:
            raise DecodeError("encrypted frame holds no message")
        self.inner = plain
        # The plaintext is complete: anything short of a whole message in it is truncation.
        message = self._start_plaintext(plain)
        if message is None:
            raise DecodeError(
                f"encrypted frame ends before its message does: waiting for {self._what_next()}"
            )
        return message

    def _what_next(self) -> str:
        if self._state == _COMPRESSED:
            return "the rest of the compress message"
        return self._body.waiting_for()

    def _feed_compressed(self, data: bytes) -> Message | None:
        unpacker = self._compressed
        assert unpacker is not None
        try:
            unpacker.feed(data)
            body = unpacker.unpack()
        except msgpack.OutOfData:
            return None
        except msgpack.BufferFull:
            raise DecodeError("compressed stream message exceeds the size limit") from None
        except Exception as exc:
            raise DecodeError(f"compress: invalid msgpack ({msgpack_error(exc)})") from None
        if type(body) is not dict:
            raise DecodeError(f"compress: body is {describe(body)}, expected a msgpack map")
        inner = decompress_map(body, self._max_size)
        self.inner = inner
        self._state = _PLAIN
        message = self._body.feed(inner)
        if message is None:
            raise DecodeError(
                f"compressed payload ends before its message does: waiting for"
                f" {self._body.waiting_for()}"
            )
        return message


def decode_stream(
    data: bytes,
    *,
    keyring: Keyring | None = None,
    label: bytes = b"",
    accept_label_header: bool = False,
    verify_incoming: bool = True,
) -> Message:
    """The message of a complete stream direction (all its bytes at once)."""
    decoder = StreamDecoder(
        keyring=keyring,
        label=label,
        accept_label_header=accept_label_header,
        verify_incoming=verify_incoming,
    )
    message = decoder.feed(data)
    if message is None:
        decoder.eof()
        raise DecodeError("empty stream")
    return message
