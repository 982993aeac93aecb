"""What a node refuses on its stream (TCP) port, said with the reason and the peer: a
connection closed before its first byte is no rejection (memberlist net.go handleConn returns
on io.EOF), anything else that is not ping, push/pull or user is counted, kept in
``statistics().last_bad_stream`` and warned about once per peer and kind, and the agent's
periodic warning names it instead of guessing at keys or labels.

Real loopback sockets; every wait is bounded by ``fail_after``.
"""

from __future__ import annotations

import logging
import socket
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any, cast

import attrs
import pytest
import trio
import trio.testing

from trio_gossip import BaseDelegate, Config, Memberlist, open_memberlist
from trio_gossip.apps.agent.runner import describe_stream_rejections, watch_rejections
from trio_gossip.wire import decode_stream, encode_stream
from trio_gossip.wire.errors import DecodeError
from trio_gossip.wire.messages import Ack, Err

CONFIG = Config.local(
    name="n",
    bind_addr="127.0.0.1",
    bind_port=0,
    push_pull_interval=60.0,  # no periodic push/pull during a test
    tcp_timeout=2.0,
)
BOUND = 5.0

# What `serf members -rpc-addr=<a gossip address>` opens with (serf client/rpc_client.go,
# RPCClient.handshake): the msgpack header {Command: "handshake", Seq: 0}, then {Version: 1}.
SERF_RPC_HANDSHAKE = b"\x82\xa7Command\xa9handshake\xa3Seq\x00" + b"\x81\xa7Version\x01"
HTTP_GET = b"GET /v1/members HTTP/1.1\r\nHost: x\r\n\r\n"


@asynccontextmanager
async def running(config: Config = CONFIG, **kw: Any) -> AsyncIterator[Memberlist]:
    async with open_memberlist(config, leave_on_exit=False, **kw) as node:
        yield node


async def converse(node: Memberlist, data: bytes) -> tuple[bytes, int]:
    """Send ``data`` on a fresh connection, half-close, read to the node's close: its reply
    and our port. The node closes after its handler is done, so the verdict is in."""
    stream = await trio.open_tcp_stream(*node.local_member.address)
    async with stream:
        port = stream.socket.getsockname()[1]
        if data:
            await stream.send_all(data)
        await stream.send_eof()
        reply = b""
        while chunk := await stream.receive_some(65536):
            reply += chunk
    return reply, port


def warnings_about(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and text in r.getMessage()
    ]


async def test_a_connection_closed_before_any_byte_is_not_a_rejection() -> None:
    with trio.fail_after(BOUND):
        async with running() as node:
            reply, _ = await converse(node, b"")
            assert reply == b""  # closed at once, without an errMsg
            assert node.statistics().bad_streams == 0
            # A reset before any byte (SO_LINGER 0) is no rejection either.
            with trio.socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                await sock.connect(node.local_member.address)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            # Then one bad stream: counted alone.
            await converse(node, HTTP_GET)
            stats = node.statistics()
            assert stats.bad_streams == 1, stats
            assert "unknown message type 71" in stats.last_bad_stream


async def test_foreign_bytes_are_counted_with_the_reason_and_the_peer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="trio_gossip")
    with trio.fail_after(BOUND):
        async with running() as node:
            reply, port = await converse(node, HTTP_GET)
            err = decode_stream(reply)  # answered with an errMsg, as Go does
            assert isinstance(err, Err)
            assert err.error == "unknown message type 71 is not a valid stream message"
            stats = node.statistics()
            assert stats.bad_streams == 1
            assert stats.last_bad_stream == (
                f"127.0.0.1:{port}: unknown message type 71 is not a valid stream message"
                f" (first bytes {HTTP_GET[:16].hex()}: HTTP, not memberlist)"
            )
            assert len(warnings_about(caplog, f"127.0.0.1:{port}")) == 1

            # The same kind from the same host again: counted, not warned about again.
            _, again = await converse(node, HTTP_GET)
            assert node.statistics().bad_streams == 2
            assert node.statistics().last_bad_stream.startswith(f"127.0.0.1:{again}: ")
            assert warnings_about(caplog, f"127.0.0.1:{again}") == []

            # A Serf RPC client at the gossip port: said so.
            _, rpc = await converse(node, SERF_RPC_HANDSHAKE)
            last = node.statistics().last_bad_stream
            assert last.startswith(f"127.0.0.1:{rpc}: unknown message type 130 ")
            assert "a Serf RPC request" in last
            assert node.statistics().bad_streams == 3


async def test_a_message_that_may_not_open_a_stream_is_refused_without_a_reply() -> None:
    """memberlist net.go handleConn: only pushPull, user and ping; anything else is
    "Received invalid msgType" and the connection closes."""
    with trio.fail_after(BOUND):
        async with running() as node:
            reply, port = await converse(node, encode_stream(Ack(7, None)))
            assert reply == b""
            stats = node.statistics()
            assert stats.bad_streams == 1
            assert stats.last_bad_stream == (
                f"127.0.0.1:{port}: ack message where only ping, pushPull or user may open a stream"
            )


async def test_a_stream_cut_inside_its_message_is_counted_as_truncated() -> None:
    with trio.fail_after(BOUND):
        async with running() as node:
            _, port = await converse(node, b"\x06\x83")  # half a push/pull header
            last = node.statistics().last_bad_stream
            assert last.startswith(f"127.0.0.1:{port}: stream truncated after 2 bytes")
            assert "first bytes" not in last  # it opens as memberlist does


class RefusesState(BaseDelegate):
    def merge_remote_state(self, buf: bytes, join: bool) -> None:
        raise DecodeError(f"not our state: {buf[:8]!r}")


class SendsState(BaseDelegate):
    def local_state(self, join: bool) -> bytes:
        return b"foreign state"


async def test_a_refused_push_pull_user_state_names_the_peer() -> None:
    with trio.fail_after(BOUND):
        async with (
            running(attrs.evolve(CONFIG, name="a"), delegate=RefusesState()) as a,
            running(attrs.evolve(CONFIG, name="b"), delegate=SendsState()) as b,
        ):
            await b.join([a.local_member.address])
            while a.statistics().bad_streams < 1:  # a merges after it has replied
                await trio.sleep(0.01)
            last = a.statistics().last_bad_stream
            assert last.startswith("127.0.0.1:")
            assert last.endswith(": the delegate refused its push/pull user state (see the debug"
                                 " log)")  # fmt: skip


def test_the_agent_warning_says_what_and_from_whom() -> None:
    last = "127.0.0.1:41234: unknown message type 13 is not a valid stream message"
    assert describe_stream_rejections(1, last) == f"rejected 1 stream from {last}"
    assert describe_stream_rejections(3, last) == f"rejected 3 streams, the latest from {last}"
    assert "user state did not decode" in describe_stream_rejections(2, "")


async def test_the_agent_watch_warns_with_the_latest_refusal(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    stats = [
        SimpleNamespace(bad_packets=0, bad_streams=0, last_bad_stream=""),
        SimpleNamespace(bad_packets=0, bad_streams=1, last_bad_stream="127.0.0.1:4: why"),
    ]
    node = SimpleNamespace(statistics=lambda: stats[0] if len(stats) == 1 else stats.pop(0))
    with trio.move_on_after(2.5):
        await watch_rejections(cast(Memberlist, node), interval=1.0)
    assert warnings_about(caplog, "rejected") == [
        "rejected 1 stream from 127.0.0.1:4: why; 1 in all"
    ]
