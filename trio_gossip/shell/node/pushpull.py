"""Push/pull anti-entropy and join: swap whole member tables with one peer over a stream."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

import trio

from trio_gossip.core.membership.schedule import push_pull_peer, push_pull_scale
from trio_gossip.shell.node.runtime import Runtime, log
from trio_gossip.shell.node.streams import STREAM_ERRORS, local_push_pull, merge, read_message
from trio_gossip.transport.base import Address
from trio_gossip.wire.errors import GossipError, JoinError, RemoteError
from trio_gossip.wire.messages import Err, PushPull

JoinAddress = str | tuple[str, int]


async def push_pull(rt: Runtime, addr: Address, *, join: bool) -> None:
    """Send our state to ``addr``, read theirs, merge it. Raises one of STREAM_ERRORS."""
    codec = rt.codec
    with trio.fail_after(rt.config.tcp_timeout):
        stream = await rt.transport.open_stream(addr)
        async with stream:
            await stream.send_all(codec.stream(local_push_pull(rt, join), dialer=True))
            reply = await read_message(stream, codec.stream_decoder(responder=False))
    if reply is None:
        raise GossipError(f"{addr} closed the push/pull without replying")
    if isinstance(reply, Err):
        raise RemoteError(reply.error)
    if not isinstance(reply, PushPull):
        raise GossipError(f"{addr} answered a push/pull with {type(reply).__name__}")
    await merge(rt, reply, join=join)
    rt.stats.push_pulls += 1


async def push_pull_loop(rt: Runtime) -> None:
    interval = rt.config.push_pull_interval
    await trio.sleep(rt.rng.random() * interval)  # stagger so nodes don't sync up
    while True:
        await trio.sleep(push_pull_scale(interval, rt.state.num_nodes))
        peer = push_pull_peer(rt.state, rt.rng)
        if peer is None:
            continue
        try:
            await push_pull(rt, peer.address, join=False)
        except STREAM_ERRORS as exc:
            log.info("%s: push/pull with %s failed: %r", rt.config.name, peer.name, exc)


def parse_join_address(spec: JoinAddress, default_port: int) -> tuple[str, int]:
    """``host``, ``host:port``, ``[v6]:port`` or ``v6``, optionally ``name/``-prefixed (the
    expected node name, which we don't need); or a ``(host, port)`` tuple."""
    if isinstance(spec, tuple):
        host, port = spec
        return host, int(port)
    name, slash, text = spec.partition("/")
    if not slash:
        text = spec
    elif not name:
        raise ValueError(f"empty node name in join address {spec!r}")
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default_port
    if text.count(":") == 1:
        host, _, port_text = text.partition(":")
        return host, int(port_text)
    return text, default_port


async def resolve(host: str, port: int) -> list[Address]:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        infos = await trio.socket.getaddrinfo(host, port, type=trio.socket.SOCK_STREAM)
        return list(dict.fromkeys((str(info[4][0]), port) for info in infos))
    return [(host, port)]


async def join(rt: Runtime, addresses: JoinAddress | Iterable[JoinAddress]) -> int:
    """Join push/pull with every address; how many succeeded. JoinError if none did."""
    if isinstance(addresses, str) or (
        isinstance(addresses, tuple) and len(addresses) == 2 and isinstance(addresses[1], int)
    ):
        specs: list[JoinAddress] = [addresses]
    else:
        specs = list(addresses)
    joined = 0
    errors: list[str] = []
    for spec in specs:
        try:
            targets = await resolve(*parse_join_address(spec, rt.config.bind_port))
        except (OSError, ValueError) as exc:
            errors.append(f"{spec!r}: {exc}")
            continue
        for addr in targets:
            try:
                await push_pull(rt, addr, join=True)
            except STREAM_ERRORS as exc:
                errors.append(f"{addr[0]}:{addr[1]}: {exc!r}")
            else:
                joined += 1
    if not joined:
        raise JoinError("; ".join(errors) or "no address to join")
    return joined
