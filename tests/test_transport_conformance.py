"""The Transport contract (trio_gossip/transport/base.py), asserted on every backend.

Each test runs on the simulated network (MockClock) and on real loopback sockets (real
clock), over IPv4 and IPv6. pytest-trio takes the run's clock from a test's own arguments,
which is why every test asks for ``clock`` (a MockClock for the memory network, None for
real sockets) next to ``backend``. Waits that must not end are SHORT; waits that must end
are bounded by TIMEOUT, which nothing here comes close to on either clock.
"""

from __future__ import annotations

import errno

import pytest
import trio
from transport_conformance_support import BACKENDS, Backend, Served, open_lab
from transport_support import Inbox, read_all

from trio_gossip.transport import Address, TransportError
from trio_gossip.transport.base import SendsWithoutWaiting

SHORT = 0.2  # seconds a dial or read is left unanswered before the caller gives up
PROMPT = 1.0  # a refusal or a return that should be immediate arrives well within this
TIMEOUT = 5.0  # the bound on waits that must end (generous: the machine is shared)
SETTLE = 0.05  # time for a closed socket's loops to notice before we check serve() is waiting


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Backend:
    chosen: Backend = request.param
    return chosen


@pytest.fixture
def clock(backend: Backend) -> trio.abc.Clock | None:
    return backend.clock


async def _wait_for(inbox: Inbox, count: int) -> None:
    with trio.fail_after(TIMEOUT):
        while len(inbox.arrivals) < count:
            await inbox.arrival.wait()


async def _echo(client: Served, server: Served, data: bytes) -> None:
    stream = await client.transport.open_stream(server.address)
    async with stream:
        await stream.send_all(data)
        assert await stream.receive_some() == data.upper()


# ----- packets ------------------------------------------------------------------------------


async def test_two_transports_exchange_packets_and_a_stream(
    backend: Backend, clock: trio.abc.Clock | None
) -> None:
    async with open_lab(backend) as lab:
        a, b = await lab.serve(), await lab.serve()
        with trio.fail_after(TIMEOUT):
            await a.transport.send_packet(b.address, b"hello")
            await _wait_for(b.inbox, 1)
            assert b.inbox.arrivals[-1].data == b"hello"
            assert b.inbox.arrivals[-1].src == a.address
            await _echo(a, b, b"stream")
            await b.transport.send_packet(a.address, b"back")
            await _wait_for(a.inbox, 1)
            assert a.inbox.payloads == [b"back"]
            assert a.inbox.arrivals[0].src == b.address
        stats = a.transport.statistics()
        assert (stats.packets_sent, stats.bytes_sent, stats.packets_received) == (1, 5, 1)
        assert stats.streams_opened == 1
        assert b.transport.statistics().streams_accepted == 1


@pytest.mark.parametrize("size", [0, 1, 1400, "max"])
async def test_datagrams_up_to_the_udp_limit_arrive_whole(
    backend: Backend, clock: trio.abc.Clock | None, size: int | str
) -> None:
    async with open_lab(backend) as lab:
        a, b = await lab.serve(), await lab.serve()
        length = lab.max_datagram if size == "max" else int(size)
        payload = bytes(i % 251 for i in range(length))
        await a.transport.send_packet(b.address, payload)
        await _wait_for(b.inbox, 1)
        assert b.inbox.payloads == [payload]
        assert type(b.inbox.payloads[0]) is bytes
        assert b.inbox.arrivals[0].src == a.address


async def test_a_datagram_past_the_udp_limit_is_refused_locally(
    backend: Backend, clock: trio.abc.Clock | None
) -> None:
    async with open_lab(backend) as lab:
        a, b = await lab.serve(), await lab.serve()
        with pytest.raises(TransportError) as info:
            await a.transport.send_packet(b.address, b"x" * (lab.max_datagram + 1))
        assert info.value.errno == errno.EMSGSIZE
        assert a.transport.statistics().send_errors == 1
        await a.transport.send_packet(b.address, b"still fine")
        await _wait_for(b.inbox, 1)
        assert b.inbox.payloads == [b"still fine"]


async def test_sending_to_a_closed_port_does_not_break_the_receiver(
    backend: Backend, clock: trio.abc.Clock | None
) -> None:
    """UDP to an address nobody serves is lost without an error, and on real sockets the
    ICMP port-unreachable each one draws back does not disturb the sender's receive loop."""
    async with open_lab(backend) as lab:
        a, b = await lab.serve(), await lab.serve()
        closed = lab.vacant()
        for _ in range(5):
            await a.transport.send_packet(closed, b"nobody")
        await b.transport.send_packet(a.address, b"still listening")
        await _wait_for(a.inbox, 1)
        assert a.inbox.payloads == [b"still listening"]


@pytest.mark.parametrize(
    "bad",
    [("localhost", 80), ("127.0.0.1", 0), ("::1", 70000), "x:1"],
    ids=["dns-name", "port-0", "port-too-big", "not-a-pair"],
)
async def test_a_malformed_address_is_a_transport_error(
    backend: Backend, clock: trio.abc.Clock | None, bad: object
) -> None:
    async with open_lab(backend) as lab:
        a = await lab.serve()
        with pytest.raises(TransportError):
            await a.transport.send_packet(bad, b"x")  # type: ignore[arg-type]
        with pytest.raises(TransportError):
            await a.transport.open_stream(bad)  # type: ignore[arg-type]


async def test_send_packet_nowait_sends_like_send_packet_and_refuses_the_same(
    backend: Backend, clock: trio.abc.Clock | None
) -> None:
    """The optional synchronous send the receive path answers pings with: the datagram
    arrives and is counted as any other, and what ``send_packet`` refuses it refuses too."""
    async with open_lab(backend) as lab:
        a, b = await lab.serve(), await lab.serve()
        sender = a.transport
        assert isinstance(sender, SendsWithoutWaiting)
        assert sender.send_packet_nowait(b.address, b"now")
        await _wait_for(b.inbox, 1)
        assert b.inbox.payloads == [b"now"]
        assert b.inbox.arrivals[0].src == a.address
        stats = sender.statistics()
        assert (stats.packets_sent, stats.bytes_sent) == (1, 3)
        with pytest.raises(TransportError) as info:
            sender.send_packet_nowait(b.address, b"x" * (lab.max_datagram + 1))
        assert info.value.errno == errno.EMSGSIZE
        await sender.aclose()
        with pytest.raises(TransportError) as info:
            sender.send_packet_nowait(b.address, b"x")
        assert info.value.errno == errno.EBADF


# ----- streams ------------------------------------------------------------------------------


async def test_a_stream_carries_bytes_both_ways_and_names_the_dialer(
    backend: Backend, clock: trio.abc.Clock | None
) -> None:
    peers: list[Address] = []

    async def echo_each(stream: trio.abc.Stream, peer: Address) -> None:
        peers.append(peer)
        async for chunk in stream:
            await stream.send_all(chunk.upper())

    async with open_lab(backend) as lab:
        a, b = await lab.serve(), await lab.serve(echo_each)
        with trio.fail_after(TIMEOUT):
            stream = await a.transport.open_stream(b.address)
            for word in (b"one", b"two", b"x" * 100_000):
                await stream.send_all(word)
                received = bytearray()
                while len(received) < len(word):
                    received += await stream.receive_some()
                assert received == word.upper()
            await stream.aclose()
        # The dialer's host, with whatever port it dialed from (ephemeral, as TCP reports it).
        assert [peer[0] for peer in peers] == [a.address[0]]


async def test_half_close_lets_the_server_answer_after_our_eof(
    backend: Backend, clock: trio.abc.Clock | None
) -> None:
    async def reply_after_eof(stream: trio.abc.Stream, peer: Address) -> None:
        request = await read_all(stream)  # ends at the client's EOF
        await stream.send_all(request[::-1])

    async with open_lab(backend) as lab:
        a, b = await lab.serve(), await lab.serve(reply_after_eof)
        with trio.fail_after(TIMEOUT):
            stream = await a.transport.open_stream(b.address)
            assert isinstance(stream, trio.abc.HalfCloseableStream)
            await stream.send_all(b"abc")
            await stream.send_all(b"def")
            await stream.send_eof()
            with pytest.raises(trio.ClosedResourceError):
                await stream.send_all(b"after eof")
            assert await read_all(stream) == b"fedcba"  # then EOF: the handler returned
            assert await stream.receive_some() == b""  # EOF stays EOF
            await stream.aclose()
            await stream.aclose()  # idempotent
            with pytest.raises(trio.ClosedResourceError):
                await stream.receive_some()


async def test_the_handlers_stream_is_closed_when_the_handler_returns(
    backend: Backend, clock: trio.abc.Clock | None
) -> None:
    kept: list[trio.abc.Stream] = []

    async def say_and_go(stream: trio.abc.Stream, peer: Address) -> None:
        kept.append(stream)
        await stream.send_all(b"bye")

    async with open_lab(backend) as lab:
        a, b = await lab.serve(), await lab.serve(say_and_go)
        with trio.fail_after(TIMEOUT):
            stream = await a.transport.open_stream(b.address)
            assert await read_all(stream) == b"bye"
            await stream.aclose()
        (server_side,) = kept
        with pytest.raises(trio.ClosedResourceError):
            await server_side.send_all(b"late")
        with pytest.raises(trio.ClosedResourceError):
            await server_side.receive_some()


async def test_a_dial_to_an_address_nobody_serves_is_refused_promptly(
    backend: Backend, clock: trio.abc.Clock | None
) -> None:
    async with open_lab(backend) as lab:
        a = await lab.serve()
        with trio.fail_after(PROMPT), pytest.raises(TransportError) as info:
            await a.transport.open_stream(lab.vacant())
        assert info.value.errno == errno.ECONNREFUSED


async def test_the_callers_timeout_bounds_a_dial_nobody_answers(
    backend: Backend, clock: trio.abc.Clock | None
) -> None:
    async with open_lab(backend) as lab:
        a, b = await lab.serve(), await lab.serve()
        silent = await lab.unanswered(a.transport)
        start = trio.current_time()
        with trio.move_on_after(SHORT) as waited:
            await a.transport.open_stream(silent)
        assert waited.cancelled_caught  # neither connected nor failed on its own
        assert trio.current_time() - start < SHORT + PROMPT
        with trio.fail_after(TIMEOUT):
            await _echo(a, b, b"the transport still dials")


async def test_the_callers_timeout_bounds_a_read_the_server_never_answers(
    backend: Backend, clock: trio.abc.Clock | None
) -> None:
    heard: list[bytes] = []

    async def listen_only(stream: trio.abc.Stream, peer: Address) -> None:
        heard.append(await read_all(stream))  # never answers, returns at our EOF

    async with open_lab(backend) as lab:
        a, b = await lab.serve(), await lab.serve(listen_only)
        stream = await a.transport.open_stream(b.address)
        await stream.send_all(b"question")
        with trio.move_on_after(SHORT) as waited:
            await stream.receive_some()
        assert waited.cancelled_caught
        # The cancelled read lost nothing and broke nothing: the stream goes on.
        await stream.send_all(b"?")
        assert isinstance(stream, trio.abc.HalfCloseableStream)
        await stream.send_eof()
        with trio.fail_after(TIMEOUT):
            assert await read_all(stream) == b""
        await stream.aclose()
        assert heard == [b"question?"]


# ----- closing ------------------------------------------------------------------------------


async def test_aclose_is_idempotent_and_then_every_call_fails_with_ebadf(
    backend: Backend, clock: trio.abc.Clock | None
) -> None:
    async with open_lab(backend) as lab:
        a, b = await lab.serve(), await lab.serve()
        never_served = await lab.transport()
        for closing in (a.transport, never_served):
            await closing.aclose()
            await closing.aclose()
            with pytest.raises(TransportError) as info:
                await closing.send_packet(b.address, b"x")
            assert info.value.errno == errno.EBADF
            with pytest.raises(TransportError) as info:
                await closing.open_stream(b.address)
            assert info.value.errno == errno.EBADF
            with pytest.raises(TransportError) as info:
                await closing.serve(Inbox(), read_all_handler)
            assert info.value.errno == errno.EBADF
        with trio.fail_after(PROMPT):
            await a.returned.wait()  # serve() returned by itself
        assert not a.scope.cancelled_caught


async def read_all_handler(stream: trio.abc.Stream, peer: Address) -> None:
    await read_all(stream)


async def test_serve_returns_after_aclose_once_running_handlers_finish(
    backend: Backend, clock: trio.abc.Clock | None
) -> None:
    release = trio.Event()
    entered = trio.Event()
    finished: list[bool] = []  # was serve() already returned when the handler ended?

    async def lingering(stream: trio.abc.Stream, peer: Address) -> None:
        entered.set()
        await release.wait()
        await stream.send_all(b"done")
        finished.append(server.returned.is_set())

    async with open_lab(backend) as lab:
        server = await lab.serve(lingering)
        client = await lab.serve()
        stream = await client.transport.open_stream(server.address)
        with trio.fail_after(TIMEOUT):
            await entered.wait()
        await server.transport.aclose()
        await trio.sleep(SETTLE)
        assert not server.returned.is_set()  # a handler is still running
        release.set()
        with trio.fail_after(TIMEOUT):
            assert await read_all(stream) == b"done"  # the open stream outlived aclose
            await server.returned.wait()
        await stream.aclose()
        assert finished == [False]
        assert not server.scope.cancelled_caught


async def test_cancelling_serve_cancels_its_handlers_before_it_returns(
    backend: Backend, clock: trio.abc.Clock | None
) -> None:
    entered = trio.Event()
    unwound: list[bool] = []  # was serve() already returned when the handler unwound?

    async def stuck(stream: trio.abc.Stream, peer: Address) -> None:
        entered.set()
        try:
            await trio.sleep_forever()
        finally:
            unwound.append(server.returned.is_set())

    async with open_lab(backend) as lab:
        server = await lab.serve(stuck)
        client = await lab.serve()
        stream = await client.transport.open_stream(server.address)
        with trio.fail_after(TIMEOUT):
            await entered.wait()
        server.scope.cancel()
        with trio.fail_after(PROMPT):
            await server.returned.wait()
            assert await read_all(stream) == b""  # the handler's stream was closed
        await stream.aclose()
        assert unwound == [False]


# ----- handler errors -----------------------------------------------------------------------


async def test_failing_handlers_are_logged_not_propagated(
    backend: Backend, clock: trio.abc.Clock | None, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[bytes] = []

    def bad_packet(data: bytes, src: Address) -> None:
        seen.append(data)
        if data == b"boom":
            raise ValueError("packet handler bug")

    async def bad_stream(stream: trio.abc.Stream, peer: Address) -> None:
        if await stream.receive_some() == b"boom":
            raise ValueError("stream handler bug")
        await stream.send_all(b"fine")

    async with open_lab(backend) as lab:
        client = await lab.serve()
        server = await lab.serve(bad_stream, on_packet=bad_packet)
        with trio.fail_after(TIMEOUT):
            for payload in (b"one", b"boom", b"two"):
                await client.transport.send_packet(server.address, payload)
            while len(seen) < 3:
                await trio.sleep(0.01)
            # Delivery went on after the error. Packets carry no order (UDP may reorder, and
            # dskit's transport writes each on its own connection from several writer tasks).
            assert sorted(seen) == [b"boom", b"one", b"two"]
            stream = await client.transport.open_stream(server.address)
            await stream.send_all(b"boom")
            assert await read_all(stream) == b""  # the handler failed, the stream was closed
            await stream.aclose()
            while server.transport.statistics().handler_errors < 2:
                await trio.sleep(0.01)
            stream = await client.transport.open_stream(server.address)
            await stream.send_all(b"again")
            assert await read_all(stream) == b"fine"  # the transport still serves
            await stream.aclose()
        assert not server.returned.is_set()
        await server.transport.aclose()
    assert server.transport.statistics().handler_errors == 2
    assert "packet handler bug" in caplog.text
    assert "stream handler bug" in caplog.text
