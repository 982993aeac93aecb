"""The node's stream (TCP) side and its packet receive path.

Every conversation is one request and at most one reply per connection (memberlist net.go,
handleConn). What arrives is decoded here, at the edge, and only events reach the writer: a
bad packet or stream is counted and dropped, never raised past its task.
"""

from __future__ import annotations

import logging

import trio

from trio_gossip.core.engine.events import Address, Merge, StreamUser
from trio_gossip.core.engine.state import EngineState
from trio_gossip.shell.node.delegate import StateDelegate
from trio_gossip.shell.node.writer import Writer
from trio_gossip.transport.base import TransportError
from trio_gossip.wire import StreamDecoder
from trio_gossip.wire.errors import DecodeError, GossipError, LabelError
from trio_gossip.wire.messages import Ack, Err, Message, Ping, PushNodeState, PushPull, User

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
_LABEL_WARNINGS = 1024  # distinct (host, label) pairs warned about; then counting only
_READ_SIZE = 65536


async def read_message(stream: trio.abc.Stream, decoder: StreamDecoder) -> Message | None:
    """Read until the decoder has one whole message; None on a clean EOF before any byte."""
    while True:
        data = await stream.receive_some(_READ_SIZE)
        if not data:
            decoder.eof()  # raises DecodeError if the peer stopped inside a message
            return None
        msg = decoder.feed(data)
        if msg is not None:
            return msg


def local_push_pull(state: EngineState, delegate: StateDelegate | None, join: bool) -> PushPull:
    """Our whole member table (dead and left entries too, until reaped) plus the user state."""
    membership = state.membership
    members = membership.members
    states = tuple(
        PushNodeState(m.name, m.addr, m.port, m.meta or None, m.incarnation, int(m.state), m.vsn)
        for m in (members[name] for name in membership.probe_order)
    )
    user_state = delegate.local_state(join) if delegate is not None else b""
    return PushPull(join, states, user_state)


async def merge(writer: Writer, msg: PushPull, *, join: bool) -> None:
    """Hand a peer's push/pull to the writer and wait until it is merged."""
    with writer.pending() as pending:
        writer.submit(Merge(pending.token, msg.states, msg.user_state, join))
        await pending.answer()


class StreamServer:
    """Packets and streams from the transport, for one node."""

    def __init__(self, writer: Writer) -> None:
        self.writer = writer
        self._inbound_push_pulls = 0
        self._label_warned: set[tuple[str, bytes]] = set()

    def _label_refused(self, exc: LabelError, host: str, what: str) -> None:
        """Warn once per peer host and label (a peer sends many), then only count."""
        key = (host, exc.found)
        if key in self._label_warned or len(self._label_warned) >= _LABEL_WARNINGS:
            return
        self._label_warned.add(key)
        ours = self.writer.ctx.config.label
        log.warning("%s: refusing %ss from %s labelled %r (ours is %r); counted from now on,"
                    " not logged again", self.writer.ctx.config.name, what, host, exc.found,
                    ours)  # fmt: skip

    def on_packet(self, data: bytes, addr: Address) -> None:
        """Runs on the transport's receive task for every datagram: decode, then hand each
        message to the writer's inbox. Never raises."""
        w = self.writer
        io = w.io
        io.packets_received += 1
        io.bytes_received += len(data)
        try:
            decoded = w.ctx.codec.decode_packet_lenient(data)
        except DecodeError as exc:
            io.bad_packets += 1
            if isinstance(exc, LabelError):
                self._label_refused(exc, addr[0], "packet")
            log.debug("%s: dropped a bad packet from %s: %s", w.ctx.config.name, addr, exc)
            return
        if decoded.errors:
            io.bad_packets += 1
            log.debug("%s: dropped parts of a packet from %s: %s", w.ctx.config.name, addr,
                      "; ".join(decoded.errors))  # fmt: skip
        inbox = w.inbox
        for msg in decoded.messages:
            inbox.put_received(msg, addr)

    async def on_stream(self, stream: trio.abc.Stream, addr: Address) -> None:
        """The transport's stream handler: never raises for anything a peer can do."""
        w = self.writer
        try:
            with trio.move_on_after(w.ctx.config.tcp_timeout):
                await self._serve(stream, addr)
        except STREAM_ERRORS as exc:
            log.debug("%s: stream from %s failed: %r", w.ctx.config.name, addr, exc)

    async def _serve(self, stream: trio.abc.Stream, addr: Address) -> None:
        w = self.writer
        codec, name = w.ctx.codec, w.ctx.config.name
        try:
            msg = await read_message(stream, codec.stream_decoder(responder=True))
        except DecodeError as exc:
            w.io.bad_streams += 1
            if isinstance(exc, LabelError):
                self._label_refused(exc, addr[0], "stream")
            log.debug("%s: bad stream from %s: %s", name, addr, exc)
            await stream.send_all(codec.stream(Err(str(exc)), dialer=False))
            return
        if msg is None:
            return
        if isinstance(msg, Ping):
            if msg.node and msg.node != name:
                return  # not for us: close without a reply, as Go does
            await stream.send_all(codec.stream(Ack(msg.seq_no, None), dialer=False))
        elif isinstance(msg, PushPull):
            await self._push_pull(stream, addr, msg)
        elif isinstance(msg, User):
            w.submit(StreamUser(msg.payload))
        else:
            w.io.bad_streams += 1
            log.debug("%s: unexpected %s on a stream from %s", name, type(msg).__name__, addr)

    async def _push_pull(self, stream: trio.abc.Stream, addr: Address, msg: PushPull) -> None:
        w = self.writer
        if self._inbound_push_pulls >= MAX_INBOUND_PUSH_PULLS:
            w.io.push_pulls_refused += 1
            return
        self._inbound_push_pulls += 1
        try:
            # Reply with our state before merging theirs, echoing Join.
            reply = local_push_pull(w.state, w.delegates.state, msg.join)
            await stream.send_all(w.ctx.codec.stream(reply, dialer=False))
            w.io.push_pulls_received += 1
            try:
                await merge(w, msg, join=msg.join)
            except GossipError as exc:
                log.info("%s: push/pull from %s not merged: %s", w.ctx.config.name, addr, exc)
        finally:
            self._inbound_push_pulls -= 1
