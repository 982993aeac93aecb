"""The node's stream (TCP) side and its packet receive path.

Every conversation is one request and at most one reply per connection (memberlist net.go,
handleConn). What arrives is decoded here, at the edge, and only events reach the writer: a
bad packet or stream is counted and dropped, never raised past its task.
"""

from __future__ import annotations

import logging

import trio

from trio_gossip.core.engine.events import Address, Merge, StreamUser
from trio_gossip.shell.node.log_limit import LogLimiter
from trio_gossip.shell.node.stats import count_bad_input
from trio_gossip.shell.node.writer import Writer
from trio_gossip.transport.base import TransportError
from trio_gossip.wire import StreamDecoder
from trio_gossip.wire.errors import DecodeError, GossipError, LabelError
from trio_gossip.wire.messages import (
    MESSAGE_TYPES,
    Ack,
    Err,
    Message,
    Ping,
    PushPull,
    User,
)
from trio_gossip.wire.packet import COMPRESS, HAS_LABEL
from trio_gossip.wire.stream import ENCRYPT, STREAM_TYPES

log = logging.getLogger("trio_gossip")

STREAM_ERRORS = (
    GossipError,
    TransportError,
    trio.BrokenResourceError,
    trio.ClosedResourceError,
    trio.TooSlowError,
)
"""What talking to one peer over a stream can fail with; none of it should end a task."""

MAX_INBOUND_PUSH_PULLS = 128  # memberlist's maxPushPullRequests
_READ_SIZE = 65536
_HEAD_SIZE = 16  # first bytes of a stream kept to describe a refused one
_FIRST_BYTES = STREAM_TYPES | {ENCRYPT, COMPRESS, HAS_LABEL}  # what memberlist may send first
_TYPE_OF = {cls: int(kind) for cls, kind in MESSAGE_TYPES.items()}
_HTTP_METHODS = (b"GET ", b"HEAD", b"POST", b"PUT ", b"DELE", b"OPTI", b"PATC", b"CONN", b"PRI ")


async def read_message(
    stream: trio.abc.Stream, decoder: StreamDecoder, head: bytearray | None = None
) -> Message | None:
    """Read until the decoder has one whole message; None on a clean EOF before any byte.
    ``head``, when given, receives the stream's first bytes (to describe a refusal)."""
    while True:
        data = await stream.receive_some(_READ_SIZE)
        if not data:
            decoder.eof()  # raises DecodeError if the peer stopped inside a message
            return None
        if head is not None and len(head) < _HEAD_SIZE:
            head += data[: _HEAD_SIZE - len(head)]
        msg = decoder.feed(data)
        if msg is not None:
            return msg


def local_push_pull(w: Writer, join: bool) -> PushPull:
    """Our whole member table (dead and left entries too, until reaped) plus the user state:
    the application's, behind the KV store's when the node runs one that every member runs."""
    state = w.state
    states, encoded = w.ctx.push_table.encoded_table(state.membership)
    delegate = w.delegates.state
    user_state = delegate.local_state(join) if delegate is not None else b""
    kv = w.ctx.kv
    if kv is not None and kv.peer_filter is None and state.kv is not None:
        from trio_gossip.core.kv.format import message_format  # noqa: PLC0415 - a node without a KV store never loads it
        from trio_gossip.core.kv.replica import encode_replica  # noqa: PLC0415 - a node without a KV store never loads it

        try:
            kv_state = encode_replica(state.kv, kv)
        except ValueError as exc:
            log.warning("%s: KV state not sent: %s", w.ctx.config.name, exc)
            kv_state = b""
        if kv_state and w.kv is not None:
            w.kv.counted(state_bytes=len(kv_state))
        user_state = message_format(kv).combine(kv_state, user_state)
        if w.kv is not None:
            w.kv.state_exchanged(user_state, sent=True)
    return PushPull(join, states, user_state, encoded)


async def merge(writer: Writer, msg: PushPull, *, join: bool, catch_up: bool = False) -> None:
    """Hand a peer's push/pull to the writer and wait until it is merged."""
    if writer.kv is not None and msg.user_state:
        writer.kv.state_exchanged(msg.user_state, sent=False)
    with writer.pending() as pending:
        writer.submit(Merge(pending.token, msg.states, msg.user_state, join, catch_up))
        await pending.answer()


def describe_refusal(exc: DecodeError, head: bytes) -> str:
    """Why a stream was refused: the decoder's reason, plus its first bytes (and what they
    look like) when it does not open the way memberlist does (net.go readStream)."""
    reason = str(exc)
    if not head or head[0] in _FIRST_BYTES:
        return reason
    looks = ""
    if head.startswith(_HTTP_METHODS):
        looks = ": HTTP, not memberlist"
    elif head[0] == 0x16 and head[1:2] == b"\x03":
        looks = ": a TLS handshake, not memberlist"
    elif b"Command" in head:  # serf client/rpc_client.go handshake: {Command, Seq} first
        looks = ": a Serf RPC request; is a serf command's -rpc-addr this gossip address?"
    return f"{reason} (first bytes {head.hex()}{looks})"


def format_address(addr: Address) -> str:
    """``host:port``, with an IPv6 host in brackets."""
    host, port = addr[0], addr[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class StreamServer:
    """Packets and streams from the transport, for one node."""

    def __init__(self, writer: Writer) -> None:
        self.writer = writer
        self._inbound_push_pulls = 0
        # A peer that sends one bad packet or stream usually sends many: one line, then counts.
        self.limiter = LogLimiter(log)
        self._cidrs = bool(writer.ctx.config.cidrs_allowed)

    def _outside_cidrs(self, addr: Address, what: str) -> bool:
        """Whether ``addr`` is outside cidrs_allowed (callers check ``_cidrs`` first: the
        receive path pays nothing without them); then counted and logged (once per host, then
        in summaries). memberlist checks only the source of alive messages (net.go
        ensureCanConnect); we drop everything such a host sends, since it can never be a
        member."""
        if self.writer.ctx.config.ip_allowed(addr[0]):
            return False
        w = self.writer
        w.io.cidr_refusals += 1
        reason = count_bad_input(w.io, what, "source outside cidrs_allowed")
        self.limiter.log(logging.INFO, reason, addr[0], f"{w.ctx.config.name}: dropping {what}s"
                         f" from {format_address(addr)}: not in cidrs_allowed")  # fmt: skip
        return True

    def _label_refused(self, exc: LabelError, host: str, what: str) -> None:
        """Warn once per peer host and label, packets and streams alike (a peer sends many of
        both), then summarise."""
        ours = self.writer.ctx.config.label
        self.limiter.log(logging.WARNING, f"label {exc.found!r}", host,
                         f"{self.writer.ctx.config.name}: refusing {what}s from {host} labelled"
                         f" {exc.found!r} (ours is {ours!r})")  # fmt: skip

    def _stream_refused(self, addr: Address, reason: str, *, kind: str = "", warn: bool = True,
                        counted: bool = False) -> None:  # fmt: skip
        """Count a refused stream (unless the writer ``counted`` it already) and keep what it
        was and who sent it (``statistics()`` shows the latest); warn once per peer host and
        kind of refusal (``kind``, else ``reason``; a peer that sends one usually repeats it),
        then only as a periodic summary."""
        w = self.writer
        io = w.io
        if not counted:
            io.bad_streams += 1
        counted_as = count_bad_input(io, "stream", kind or reason)
        io.last_bad_stream = f"{format_address(addr)}: {reason}"
        io.last_bad_stream_at = io.bad_streams
        name = w.ctx.config.name
        if not warn:
            log.debug("%s: refused a stream from %s: %s", name, format_address(addr), reason)
            return
        self.limiter.log(logging.WARNING, counted_as, addr[0],
                         f"{name}: refused a stream from {format_address(addr)}: {reason}"
                         " (counted in bad_streams)")  # fmt: skip

    def on_packet(self, data: bytes, addr: Address) -> None:
        """Runs on the transport's receive task for every datagram: decode, then hand each
        message to the writer's inbox. Never raises."""
        w = self.writer
        io = w.io
        io.packets_received += 1
        io.bytes_received += len(data)
        if self._cidrs and self._outside_cidrs(addr, "packet"):
            return
        try:
            decoded = w.ctx.codec.decode_packet_lenient(data)
        except DecodeError as exc:
            io.bad_packets += 1
            reason = count_bad_input(io, "packet", str(exc))
            if isinstance(exc, LabelError):
                self._label_refused(exc, addr[0], "packet")
                return
            self.limiter.log(logging.DEBUG, reason, addr[0], f"{w.ctx.config.name}: dropped a"
                             f" bad packet from {format_address(addr)}: {exc}")  # fmt: skip
            return
        if decoded.errors:
            io.bad_packets += 1
            reason = count_bad_input(io, "packet", decoded.errors[0])
            self.limiter.log(logging.DEBUG, reason, addr[0], f"{w.ctx.config.name}: dropped parts"
                             f" of a packet from {format_address(addr)}: "
                             + "; ".join(decoded.errors))  # fmt: skip
        counts = io.received_by_type
        for msg in decoded.messages:
            kind = _TYPE_OF.get(type(msg), -1)
            counts[kind] = counts.get(kind, 0) + 1
        w.inbox.put_packet(w.for_the_writer(decoded.messages, addr), addr)

    async def on_stream(self, stream: trio.abc.Stream, addr: Address) -> None:
        """The transport's stream handler: never raises for anything a peer can do."""
        w = self.writer
        if self._cidrs and self._outside_cidrs(addr, "stream"):
            return  # closed without a word: nothing of ours for a host that may not join
        try:
            with trio.move_on_after(w.ctx.config.tcp_timeout) as deadline:
                await self._serve(stream, addr)
            if deadline.cancelled_caught:
                # A half-open or slow peer (memberlist net.go handleConn sets the same deadline).
                count_bad_input(w.io, "stream", "timed out")
        except STREAM_ERRORS as exc:
            log.debug("%s: stream from %s failed: %r", w.ctx.config.name, addr, exc)

    async def _serve(self, stream: trio.abc.Stream, addr: Address) -> None:
        w = self.writer
        codec, name = w.ctx.codec, w.ctx.config.name
        head = bytearray()
        try:
            msg = await read_message(stream, codec.stream_decoder(responder=True), head)
        except DecodeError as exc:
            # memberlist net.go handleConn: "failed to receive", answered with an errMsg.
            if isinstance(exc, LabelError):
                self._label_refused(exc, addr[0], "stream")  # its own warning, per label
            reason = describe_refusal(exc, bytes(head))
            self._stream_refused(addr, reason, kind=str(exc), warn=not isinstance(exc, LabelError))
            await stream.send_all(codec.stream(Err(str(exc)), dialer=False))
            return
        if msg is None:
            # Closed before its first byte (a reachability check, or a dialer that gave up):
            # memberlist net.go handleConn returns on io.EOF without a word; so do we.
            log.debug("%s: stream from %s closed without a message", name, format_address(addr))
            return
        if isinstance(msg, Ping):
            if msg.node and msg.node != name:
                return  # not for us: close without a reply, as Go does
            await stream.send_all(codec.stream(Ack(msg.seq_no, None), dialer=False))
        elif isinstance(msg, PushPull):
            await self._push_pull(stream, addr, msg)
        elif isinstance(msg, User):
            if w.kv is not None:
                w.kv.state_exchanged(msg.payload, sent=False, stream=True)
            w.submit(StreamUser(msg.payload))
        else:
            # memberlist net.go handleConn: "Received invalid msgType" and close, no reply.
            self._stream_refused(addr, f"{type(msg).__name__.lower()} message where only ping,"
                                       " pushPull or user may open a stream")  # fmt: skip

    async def _push_pull(self, stream: trio.abc.Stream, addr: Address, msg: PushPull) -> None:
        w = self.writer
        if self._inbound_push_pulls >= MAX_INBOUND_PUSH_PULLS:
            w.io.push_pulls_refused += 1
            return
        self._inbound_push_pulls += 1
        try:
            # Reply with our state before merging theirs, echoing Join.
            reply = local_push_pull(w, msg.join)
            await stream.send_all(w.ctx.codec.stream(reply, dialer=False))
            w.io.push_pulls_received += 1
            before = w.io.bad_streams
            try:
                await merge(w, msg, join=msg.join)
            except GossipError as exc:
                log.info("%s: push/pull from %s not merged: %s", w.ctx.config.name, addr, exc)
            if w.io.bad_streams > before and w.io.last_bad_stream_at != w.io.bad_streams:
                # The writer counted the delegate's refusal of the user state (memberlist
                # net.go mergeRemoteState hands it to Delegate.MergeRemoteState), unnamed.
                self._stream_refused(addr, "the delegate refused its push/pull user state"
                                           " (see the debug log)", counted=True)  # fmt: skip
        finally:
            self._inbound_push_pulls -= 1
