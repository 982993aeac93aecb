"""Stream (TCP) conversations: one request and at most one reply per connection."""

from __future__ import annotations

import trio

from trio_gossip.shell.node.commands import Merge, Reply
from trio_gossip.shell.node.packets import deliver_user_message
from trio_gossip.shell.node.runtime import MAX_INBOUND_PUSH_PULLS, Runtime, log
from trio_gossip.transport.base import Address, TransportError
from trio_gossip.wire import StreamDecoder
from trio_gossip.wire.errors import DecodeError, GossipError
from trio_gossip.wire.messages import (
    Ack,
    Err,
    Message,
    Ping,
    PushNodeState,
    PushPull,
    User,
)

STREAM_ERRORS = (
    GossipError,
    TransportError,
    trio.BrokenResourceError,
    trio.ClosedResourceError,
    trio.TooSlowError,
)
"""What talking to one peer over a stream can fail with; none of it should end a task."""

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


def local_push_pull(rt: Runtime, join: bool) -> PushPull:
    """Our whole member table (dead and left entries too, until reaped) plus the user state."""
    state = rt.state
    members = state.members
    states = tuple(
        PushNodeState(m.name, m.addr, m.port, m.meta or None, m.incarnation, int(m.state), m.vsn)
        for m in (members[name] for name in state.probe_order)
    )
    user_state = rt.delegate.local_state(join) if rt.delegate is not None else b""
    return PushPull(join, states, user_state)


async def merge(rt: Runtime, msg: PushPull, *, join: bool | None = None) -> None:
    """Merge a peer's push/pull. The initiator passes the ``join`` it sent (Go merges a reply
    with its own flag); the responder takes the request's."""
    reply: Reply[None] = Reply()
    rt.submit(Merge(msg.states, msg.user_state, msg.join if join is None else join, reply))
    await reply.wait()


async def handle_stream(rt: Runtime, stream: trio.abc.Stream, addr: Address) -> None:
    """The transport's stream handler: never raises for anything a peer can do."""
    try:
        with trio.move_on_after(rt.config.tcp_timeout):
            await _serve(rt, stream, addr)
    except STREAM_ERRORS as exc:
        log.debug("%s: stream from %s failed: %r", rt.config.name, addr, exc)


async def _serve(rt: Runtime, stream: trio.abc.Stream, addr: Address) -> None:
    codec = rt.codec
    try:
        msg = await read_message(stream, codec.stream_decoder(responder=True))
    except DecodeError as exc:
        rt.stats.bad_streams += 1
        log.debug("%s: bad stream from %s: %s", rt.config.name, addr, exc)
        await stream.send_all(codec.stream(Err(str(exc)), dialer=False))
        return
    if msg is None:
        return
    if isinstance(msg, Ping):
        if msg.node and msg.node != rt.config.name:
            return  # not for us: close without a reply, as Go does
        await stream.send_all(codec.stream(Ack(msg.seq_no, None), dialer=False))
    elif isinstance(msg, PushPull):
        if rt.inbound_push_pulls >= MAX_INBOUND_PUSH_PULLS:
            rt.stats.push_pulls_refused += 1
            return
        rt.inbound_push_pulls += 1
        try:
            # Reply with our state before merging theirs, echoing Join.
            await stream.send_all(codec.stream(local_push_pull(rt, msg.join), dialer=False))
            rt.stats.push_pulls_received += 1
            try:
                await merge(rt, msg)
            except GossipError as exc:
                log.info("%s: push/pull from %s not merged: %s", rt.config.name, addr, exc)
        finally:
            rt.inbound_push_pulls -= 1
    elif isinstance(msg, User):
        deliver_user_message(rt, msg.payload)
    else:
        rt.stats.bad_streams += 1
        log.debug("%s: unexpected %s on a stream from %s", rt.config.name,
                  type(msg).__name__, addr)  # fmt: skip
