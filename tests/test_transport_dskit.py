"""dskit's TCP transport beyond the common contract (tests/test_transport_conformance.py runs
that on it too): the frame as dskit writes it, hostile connections counted and dropped, TLS
with dskit's settings, and bad settings refused at construction."""

from __future__ import annotations

import contextlib
import hashlib
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio
from tls_support import self_signed
from transport_support import Inbox, read_all, upper_echo

from trio_gossip.transport import TransportError
from trio_gossip.transport.dskit import (
    DskitTransport,
    create_dskit_transport,
    format_address,
    parse_address,
)
from trio_gossip.transport.dskit_tls import DskitTLS
from trio_gossip.wire.dskit import DskitDecodeError, encode_packet
from trio_gossip.wire.errors import ConfigError

TIMEOUT = 5.0


@asynccontextmanager
async def serving(transport: DskitTransport, inbox: Inbox) -> AsyncIterator[None]:
    async with trio.open_nursery() as nursery:
        await nursery.start(transport.serve, inbox, upper_echo)
        try:
            yield
        finally:
            await transport.aclose()


async def _raw(addr: tuple[str, int], data: bytes) -> None:
    """One connection from a plain socket: ``data`` then EOF, as a hand-made peer sends it."""
    stream = await trio.open_tcp_stream(*addr)
    async with stream:
        # The receiver may hang up on the first byte (an unknown type): a reset is expected.
        with contextlib.suppress(trio.BrokenResourceError):
            await stream.send_all(data)
            await stream.send_eof()
            await read_all(stream)


async def _wait(predicate: object) -> None:
    with trio.fail_after(TIMEOUT):
        while not predicate():  # type: ignore[operator]
            await trio.sleep(0.01)


async def test_a_packet_names_its_sender_from_the_frame_not_from_tcp() -> None:
    server = await create_dskit_transport("127.0.0.1", 0)
    inbox = Inbox()
    async with serving(server, inbox):
        # dskit's writeTo puts the advertised address in the frame; its TCP source port is
        # ephemeral, so the receiver must use the frame's (handleConnection).
        await _raw(server.local_address, encode_packet(b"ping", "10.1.2.3:7946"))
        await _wait(lambda: inbox.arrivals)
    assert inbox.payloads == [b"ping"]
    assert inbox.arrivals[0].src == ("10.1.2.3", 7946)


@pytest.mark.parametrize(
    "bad",
    [
        encode_packet(b"ping", "127.0.0.1:1")[:-1] + b"\x00",  # MD5 of another payload
        b"\x03" + encode_packet(b"ping", "127.0.0.1:1")[1:],  # unknown connection type
        b"\x01\x20127.0.0.1",  # address cut short
        encode_packet(b"x", "127.0.0.1:1")[:12],  # digest missing
        encode_packet(b"ping", "not-an-address"),
        encode_packet(b"ping", "127.0.0.1:0"),
        encode_packet(b"x" * 70_000, "127.0.0.1:1"),  # past max_packet_size
        b"",
    ],
    ids=[
        "bad-md5", "bad-type", "short-addr", "short-digest", "bad-sender", "port-0", "huge", "empty"
    ],
)
async def test_a_hostile_connection_is_counted_and_dropped(bad: bytes) -> None:
    server = await create_dskit_transport("127.0.0.1", 0)
    inbox = Inbox()
    async with serving(server, inbox):
        await _raw(server.local_address, bad)
        await _wait(lambda: server.statistics().receive_errors == 1)
        await _raw(server.local_address, encode_packet(b"fine", "127.0.0.1:9"))
        await _wait(lambda: inbox.arrivals)
    assert inbox.payloads == [b"fine"]
    assert server.statistics().packets_received == 1


def test_addresses_round_trip_as_go_joins_them() -> None:
    assert format_address(("::1", 80)) == "[::1]:80"
    assert parse_address("[::1]:80") == ("::1", 80)
    assert parse_address("10.0.0.1:7946") == ("10.0.0.1", 7946)
    for bad in ("10.0.0.1", "host:80", "[::1]", "1.2.3.4:70000", ":80"):
        with pytest.raises(DskitDecodeError):
            parse_address(bad)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"packet_dial_timeout": 0}, "packet_dial_timeout"),
        ({"packet_write_timeout": -1.0}, "packet_write_timeout"),
        ({"max_concurrent_writes": 0}, "max_concurrent_writes"),
        ({"max_packet_size": 0}, "max_packet_size"),
        ({"advertise": ("nowhere", 1)}, "advertise"),
    ],
)
async def test_bad_settings_fail_at_construction_naming_the_field(
    kwargs: dict[str, object], field: str
) -> None:
    with pytest.raises(ConfigError, match=field):
        await create_dskit_transport("127.0.0.1", 0, **kwargs)  # type: ignore[arg-type]


async def test_a_wildcard_bind_needs_an_advertise_address() -> None:
    with pytest.raises(ConfigError, match="advertise"):
        await create_dskit_transport("0.0.0.0", 0)


async def test_writers_all_busy_drop_the_packet_and_count_it() -> None:
    """A send never waits for a dial (dskit's WriteTo): with one writer stuck dialing an
    address that never answers, the queue fills and further sends are dropped, counted."""
    sender = await create_dskit_transport(
        "127.0.0.1", 0, max_concurrent_writes=1, packet_dial_timeout=TIMEOUT
    )
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = []
    for _ in range(8):  # fill the accept queue: further SYNs are dropped, dials hang
        filler = socket.socket()
        filler.settimeout(0.05)
        fillers.append(filler)
        try:
            filler.connect(listener.getsockname())
        except TimeoutError:
            break
    try:
        async with serving(sender, Inbox()):
            with trio.fail_after(TIMEOUT):
                for _ in range(200):
                    await sender.send_packet(listener.getsockname(), b"x")
            assert sender.packets_dropped > 0
    finally:
        listener.close()
        for filler in fillers:
            filler.close()


# ----- TLS ----------------------------------------------------------------------------------


def _tls(directory: Path, name: str = "node") -> DskitTLS:
    cert, key = self_signed(directory, name)
    return DskitTLS.from_files(cert_path=cert, key_path=key, ca_path=cert)


async def test_tls_peers_exchange_packets_and_streams(tmp_path: Path) -> None:
    tls = _tls(tmp_path)
    a = await create_dskit_transport("127.0.0.1", 0, tls=tls)
    b = await create_dskit_transport("127.0.0.1", 0, tls=tls)
    inbox_a, inbox_b = Inbox(), Inbox()
    async with serving(a, inbox_a), serving(b, inbox_b):
        await a.send_packet(b.local_address, b"over tls")
        await _wait(lambda: inbox_b.arrivals)
        with trio.fail_after(TIMEOUT):
            stream = await a.open_stream(b.local_address)
            await stream.send_all(b"stream")
            assert await stream.receive_some() == b"STREAM"
            await stream.aclose()
    assert inbox_b.payloads == [b"over tls"]
    assert inbox_b.arrivals[0].src == a.local_address


async def test_a_peer_without_tls_or_with_another_ca_is_refused(tmp_path: Path) -> None:
    server = await create_dskit_transport("127.0.0.1", 0, tls=_tls(tmp_path))
    plain = await create_dskit_transport("127.0.0.1", 0)
    stranger = await create_dskit_transport("127.0.0.1", 0, tls=_tls(tmp_path, "stranger"))
    inbox = Inbox()
    async with serving(server, inbox), serving(plain, Inbox()), serving(stranger, Inbox()):
        await plain.send_packet(server.local_address, b"cleartext")
        await _wait(lambda: server.statistics().receive_errors == 1)
        with pytest.raises(TransportError):
            await stranger.open_stream(server.local_address)
        assert stranger.statistics().send_errors == 1
    assert inbox.arrivals == []


def test_tls_files_that_do_not_load_name_the_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cert_path"):
        DskitTLS.from_files(cert_path=tmp_path / "no.crt", key_path=tmp_path / "no.key")
    cert, key = self_signed(tmp_path, "node")
    with pytest.raises(ConfigError, match="ca_path"):
        DskitTLS.from_files(cert_path=cert, key_path=key, ca_path=tmp_path / "no-ca.crt")


def test_md5_is_dskits_digest() -> None:
    framed = encode_packet(b"abc", "127.0.0.1:1")
    assert framed[-16:] == hashlib.md5(b"abc").digest()
