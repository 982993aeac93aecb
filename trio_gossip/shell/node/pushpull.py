"""Stream conversations the node starts: push/pull (join and anti-entropy) and the TCP
fallback ping (memberlist net.go, pushPullNode and sendPingAndWaitForAck)."""

from __future__ import annotations

from collections.abc import Iterable

import trio

from trio_gossip.core.config import Config
from trio_gossip.core.engine import effects as fx
from trio_gossip.core.engine.events import SuspectChecked, TcpPingDone
from trio_gossip.shell.node.discovery import resolve_join_address
from trio_gossip.shell.node.streams import (
    STREAM_ERRORS,
    format_address,
    local_push_pull,
    log,
    merge,
    read_message,
)
from trio_gossip.shell.node.writer import Writer
from trio_gossip.transport.base import Address
from trio_gossip.wire.errors import GossipError, JoinError, RemoteError
from trio_gossip.wire.messages import Ack, Err, Ping, PushPull, User

JoinAddress = str | tuple[str, int]


async def push_pull(w: Writer, addr: Address, *, join: bool, node: str = "",
                    catch_up: bool = False) -> None:
    """Send our state to ``addr``, read theirs, merge it. Raises one of STREAM_ERRORS.
    ``node``: the name of the node we mean to reach; when its state does not list that
    name, something else answers at ``addr`` and its state is not merged."""
    if not node and w.ctx.config.require_node_names:
        # memberlist net.go sendAndReceiveState: errNodeNamesAreRequired
        raise GossipError(f"{format_address(addr)}: node names are required by configuration"
                          " (require_node_names) but none was given: join name/host:port")
    codec = w.ctx.codec
    with trio.fail_after(w.ctx.config.tcp_timeout):
        stream = await w.transport.open_stream(addr)
        async with stream:
            ours = local_push_pull(w, join)
            await stream.send_all(codec.stream(ours, dialer=True))
            reply = await read_message(stream, codec.stream_decoder(responder=False))
    if reply is None:
        raise GossipError(f"{addr} closed the push/pull without replying")
    if isinstance(reply, Err):
        raise RemoteError(reply.error)
    if not isinstance(reply, PushPull):
        raise GossipError(f"{addr} answered a push/pull with {type(reply).__name__}")
    if node and not any(state.name == node for state in reply.states):
        raise GossipError(f"{format_address(addr)} answered without node {node!r} in its"
                          " state: another node holds that address")
    # Go merges a reply with the flag it sent, not the one echoed back.
    await merge(w, reply, join=join, catch_up=catch_up)
    w.io.push_pulls += 1


async def periodic_push_pull(w: Writer, effect: fx.PushPullWith) -> None:
    """A push/pull the engine asked for: anti-entropy with a live peer, or Serf's reconnect,
    a join of a member that failed (serf/serf.go reconnect calls memberlist's Join)."""
    peer, name = effect.peer, w.ctx.config.name
    try:
        await push_pull(w, peer.address, join=effect.reconnect,
                        node=peer.name if effect.reconnect or effect.check else "",
                        catch_up=effect.catch_up)  # fmt: skip
    except STREAM_ERRORS as exc:
        if effect.check:
            log.debug("%s: suspect %s did not answer a push/pull: %r", name, peer.name, exc)
            w.submit(SuspectChecked(peer.name, reached=False))
        elif effect.reconnect:  # the usual outcome while the member is still gone
            log.debug("%s: reconnect to %s failed: %r", name, peer.name, exc)
        else:
            log.info("%s: push/pull with %s failed: %r", name, peer.name, exc)
        return
    if effect.check:
        w.submit(SuspectChecked(peer.name, reached=True))
    if effect.reconnect:
        w.io.reconnects += 1
        log.info("%s: reconnected to %s at %s", name, peer.name, format_address(peer.address))


async def tcp_ping(w: Writer, effect: fx.TcpPing) -> None:
    """Ping over a stream with the probe's sequence number; report whether it was acked."""
    codec, target = w.ctx.codec, effect.target
    acked = False
    try:
        with trio.move_on_at(effect.deadline):
            stream = await w.transport.open_stream(target.address)
            async with stream:
                state = w.state
                ping = Ping(effect.seq, target.name, state.addr, state.port, w.ctx.config.name)
                await stream.send_all(codec.stream(ping, dialer=True))
                reply = await read_message(stream, codec.stream_decoder(responder=False))
            acked = isinstance(reply, Ack) and reply.seq_no == effect.seq
    except STREAM_ERRORS as exc:
        log.debug("%s: TCP ping to %s failed: %r", w.ctx.config.name, target.name, exc)
    w.submit(TcpPingDone(effect.seq, acked))


async def send_stream(w: Writer, limiter: trio.CapacityLimiter, effect: fx.SendStream) -> None:
    """A user message over a stream, for the KV store (a big change, or a state exchange)."""
    async with limiter:
        try:
            with trio.fail_after(w.ctx.config.tcp_timeout):
                stream = await w.transport.open_stream(effect.to.address)
                async with stream:
                    await stream.send_all(w.ctx.codec.stream(User(effect.payload), dialer=True))
        except STREAM_ERRORS as exc:
            if w.kv is not None:
                w.kv.counted(stream_sent=False)
            log.debug("%s: stream to %s failed: %r", w.ctx.config.name, effect.to.name, exc)
        else:
            if w.kv is not None:
                w.kv.counted(stream_sent=True)
                w.kv.state_exchanged(effect.payload, sent=True, stream=True)


def parse_join_address(spec: JoinAddress, default_port: int) -> tuple[str, int]:
    """``host``, ``host:port``, ``[v6]:port`` or ``v6``, optionally ``name/``-prefixed (the
    expected node name, which we don't need); or a ``(host, port)`` tuple."""
    _, address = split_node_name(spec)
    if isinstance(address, tuple):
        host, port = address
        return host, int(port)
    text = address
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default_port
    if text.count(":") == 1:
        host, _, port_text = text.partition(":")
        return host, int(port_text)
    return text, default_port


def split_node_name(spec: JoinAddress) -> tuple[str, JoinAddress]:
    """memberlist's optional ``name/`` prefix of a join address (memberlist.go resolveAddr):
    the node name ("" when none is given) and the address without it."""
    if isinstance(spec, tuple):
        return "", spec
    name, slash, text = spec.partition("/")
    if not slash:
        return "", spec
    if not name:
        raise ValueError(f"empty node name in join address {spec!r}")
    return name, text


async def resolve_spec(spec: JoinAddress, config: Config) -> list[Address]:
    """The addresses a join address stands for now, dskit's ``dns+``/``dnssrv+`` forms included
    (resolved again on every call: see discovery)."""
    return await resolve_join_address(
        split_node_name(spec)[1],
        config.bind_port,
        dns_servers=config.dns_servers,
        lifetime=config.tcp_timeout,
    )


async def join(w: Writer, addresses: JoinAddress | Iterable[JoinAddress]) -> int:
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
            targets = await resolve_spec(spec, w.ctx.config)
        except (OSError, ValueError) as exc:
            errors.append(f"{spec!r}: {exc}")
            continue
        node, _ = split_node_name(spec)  # resolve_spec refused an empty name already
        for addr in targets:
            w.io.join_attempts += 1
            try:
                await push_pull(w, addr, join=True, node=node)
            except STREAM_ERRORS as exc:
                w.io.join_failures += 1
                errors.append(f"{addr[0]}:{addr[1]}: {exc!r}")
            else:
                joined += 1
    if not joined:
        raise JoinError("; ".join(errors) or "no address to join")
    return joined
