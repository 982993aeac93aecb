"""A memberlist node for Trio: ``async with open_memberlist(config) as node: ...``.

The node runs in its own nursery: the transport's receivers, a state task (the only writer of
the member table, fed by one memory channel), a timer task, a packet sender, and the probe,
gossip and push/pull loops. Leaving the ``async with`` block leaves the cluster gracefully
(bounded by ``config.leave_timeout``), then cancels every task.
"""

from __future__ import annotations

import os
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager

import trio

from trio_gossip.core.config import META_MAX_SIZE, Config
from trio_gossip.core.membership import rules
from trio_gossip.core.membership.broadcast import retransmit_limit
from trio_gossip.core.membership.member import Member, ip_bytes
from trio_gossip.core.membership.schedule import k_random_members
from trio_gossip.shell.node import gossip, packets, probe, pushpull, state_task, streams
from trio_gossip.shell.node.commands import Leave, Reply, UpdateMeta
from trio_gossip.shell.node.delegate import Delegate
from trio_gossip.shell.node.events import EventStream
from trio_gossip.shell.node.runtime import Runtime, log
from trio_gossip.shell.node.stats import Statistics
from trio_gossip.transport.base import Address, Transport, TransportError
from trio_gossip.transport.net import create_net_transport
from trio_gossip.wire import Keyring, encode_message
from trio_gossip.wire.errors import ConfigError, GossipError
from trio_gossip.wire.messages import Dead, User


class Memberlist:
    """A running node. Create it with ``open_memberlist``; read-only calls never block."""

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt

    # ---- reading the membership ----------------------------------------------------------

    @property
    def local_member(self) -> Member:
        me = self._rt.state.local
        assert me is not None, "the local member exists once the node has started"
        return me

    def members(self) -> list[Member]:
        """Alive and suspect members (self included), as immutable snapshots."""
        return self._rt.state.live_members()

    def num_members(self) -> int:
        return self._rt.state.live_count

    def member(self, name: str) -> Member | None:
        """Any known record by name, dead and left ones included until reaped."""
        return self._rt.state.members.get(name)

    @property
    def health_score(self) -> int:
        """Lifeguard awareness: 0 is healthy; each point stretches the probe interval."""
        return self._rt.state.awareness

    def events(self) -> EventStream:
        """Membership events from now on: ``async for event in node.events(): ...``."""
        return self._rt.events.subscribe()

    def statistics(self) -> Statistics:
        rt = self._rt
        rt.stats.events_dropped = rt.events.dropped
        return rt.stats.snapshot(queued_broadcasts=len(rt.queue), health_score=rt.state.awareness)

    @property
    def config(self) -> Config:
        return self._rt.config

    @property
    def keyring(self) -> Keyring | None:
        """The live keyring (None without encryption). Installing, using or removing a key on
        it rotates keys at run time: the next packet in or out already uses the change."""
        return self._rt.codec.keyring

    # ---- acting ----------------------------------------------------------------------------

    async def join(self, addresses: pushpull.JoinAddress | Iterable[pushpull.JoinAddress]) -> int:
        """Push/pull with each address (``"host:port"`` or ``(host, port)``); returns how many
        succeeded and raises JoinError if none did."""
        return await pushpull.join(self._rt, addresses)

    async def send_best_effort(self, to: Member | str, data: bytes) -> None:
        """A user message in one UDP packet: no retries, no size check."""
        member = self._resolve(to)
        packets_ = self._rt.codec.packets([encode_message(User(data))], peer_pmax=member.pmax)
        await self._rt.send_packets(member.address, packets_)

    async def send_reliable(self, to: Member | str, data: bytes) -> None:
        """A user message over a stream (TCP), bounded by tcp_timeout."""
        rt = self._rt
        member = self._resolve(to)
        with trio.fail_after(rt.config.tcp_timeout):
            stream = await rt.transport.open_stream(member.address)
            async with stream:
                await stream.send_all(rt.codec.stream(User(data), dialer=True))

    async def ping(self, to: Member | str) -> float | None:
        """One direct UDP ping: the round trip time in seconds, or None without an answer."""
        return await probe.ping(self._rt, self._resolve(to))

    async def update_metadata(self, meta: bytes | None = None, timeout: float = 0.0) -> bool:
        """Announce new metadata (or re-read ``delegate.node_meta``) at a new incarnation.

        Waits until the announcement has been fully gossiped (or ``timeout`` seconds, 0 for no
        bound) when there is anyone to tell; returns False on timeout.
        """
        rt = self._rt
        if meta is None:
            meta = _delegate_meta(rt)
        if len(meta) > META_MAX_SIZE:
            raise ConfigError(f"meta: {len(meta)} bytes, more than {META_MAX_SIZE}")
        done = trio.Event()
        reply: Reply[None] = Reply()
        rt.submit(UpdateMeta(bytes(meta), done.set, reply))
        await reply.wait()
        return await self._wait_broadcast(done, timeout)

    async def leave(self, timeout: float = 0.0) -> bool:
        """Gossip that we leave (peers record us as left, not dead) and wait until that news
        has been fully sent, up to ``timeout`` seconds (0: no bound). Keeps running after."""
        rt = self._rt
        done = trio.Event()
        reply: Reply[bool] = Reply()
        rt.submit(Leave(done.set, reply))
        if not await reply.wait():
            return True  # already left
        return await self._wait_broadcast(done, timeout)

    async def _wait_broadcast(self, done: trio.Event, timeout: float) -> bool:
        state = self._rt.state
        if not any(m.is_live for m in state.members.values() if m.name != state.local_name):
            return True  # nobody to tell
        with trio.move_on_after(timeout if timeout > 0 else float("inf")):
            await done.wait()
        return done.is_set()

    def _resolve(self, to: Member | str) -> Member:
        if isinstance(to, Member):
            return to
        member = self._rt.state.members.get(to)
        if member is None:
            raise GossipError(f"unknown member {to!r}")
        return member


def _delegate_meta(rt: Runtime) -> bytes:
    if rt.delegate is not None:
        meta = rt.delegate.node_meta(META_MAX_SIZE)
        if meta:
            if len(meta) > META_MAX_SIZE:
                raise ConfigError(f"meta: delegate returned {len(meta)} bytes")
            return bytes(meta)
    return rt.config.meta


def _advertise(config: Config, transport: Transport) -> Address:
    host, port = transport.local_address
    if config.advertise_addr:
        host = config.advertise_addr
    if config.advertise_port is not None:
        port = config.advertise_port
    return host, port


async def _guard(rt: Runtime, task: Callable[[], Awaitable[object]]) -> None:
    """Run one node task; remember a crash so the exit path skips the graceful leave."""
    try:
        await task()
    except BaseException as exc:
        if not isinstance(exc, trio.Cancelled):
            rt.failed = True
        raise


async def _start(rt: Runtime, nursery: trio.Nursery) -> None:
    cfg = rt.config

    def on_packet(data: bytes, addr: Address) -> None:
        packets.on_packet(rt, data, addr)

    async def on_stream(stream: trio.abc.Stream, addr: Address) -> None:
        await streams.handle_stream(rt, stream, addr)

    async def serve(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await _guard(rt, lambda: rt.transport.serve(on_packet, on_stream, task_status=task_status))

    await nursery.start(serve)
    host, port = _advertise(cfg, rt.transport)
    rt.advertise_addr, rt.advertise_port = ip_bytes(host), port
    # Before any task runs, so applying it here keeps the state task the only later writer.
    state_task.apply(rt, rules.set_local_alive(
        rt.state, addr=rt.advertise_addr, port=port, meta=_delegate_meta(rt),
        now=trio.current_time(), config=cfg, rng=rt.rng,
        alive_filter=state_task.alive_filter(rt),
    ))  # fmt: skip
    me = rt.state.local
    if me is None:
        raise GossipError("the alive delegate refused our own alive message")

    tasks = [
        lambda: state_task.run_state_task(rt),
        rt.timers.run,
        rt.sender_task,
        lambda: probe.probe_loop(rt),
    ]
    if cfg.gossip_interval > 0 and cfg.gossip_nodes > 0:
        tasks.append(lambda: gossip.gossip_loop(rt))
    if cfg.push_pull_interval > 0:
        tasks.append(lambda: pushpull.push_pull_loop(rt))
    for task in tasks:
        nursery.start_soon(_guard, rt, task)


@asynccontextmanager
async def open_memberlist(
    config: Config,
    *,
    transport: Transport | None = None,
    delegate: Delegate | None = None,
    rng: random.Random | None = None,
    leave_on_exit: bool = True,
) -> AsyncIterator[Memberlist]:
    """Start a node; leaving the block leaves the cluster gracefully and stops every task.

    With ``leave_on_exit=False`` the node just stops, like Go's Shutdown without Leave: peers
    will detect it as failed (useful to simulate a crash).

    ``transport`` defaults to real UDP + TCP sockets on ``config.bind_addr:bind_port``
    (closed again on exit; a transport you pass in stays yours). ``rng`` seeds every random
    choice the node makes (probe order, peer picks, staggers) for replayable simulations.
    """
    own_transport = transport is None
    if transport is None:
        advertise = None
        if config.advertise_addr:
            advertise = (config.advertise_addr, config.advertise_port or config.bind_port)
        transport = await create_net_transport(config.bind_addr, config.bind_port,
                                               advertise=advertise)  # fmt: skip
    rt = Runtime(config, transport, delegate, rng or random.Random(os.urandom(16)))
    body_error: BaseException | None = None
    try:
        async with trio.open_nursery() as nursery:
            try:
                await _start(rt, nursery)
                try:
                    yield Memberlist(rt)
                except BaseException as exc:
                    body_error = exc
                    raise
                finally:
                    if leave_on_exit:
                        await _leave_on_exit(rt, cancelled=isinstance(body_error, trio.Cancelled))
            finally:
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        # Hand the caller their own exception back rather than a group around it.
        if body_error is not None and _only(group, body_error):
            raise body_error from None
        raise
    finally:
        rt.events.close()
        if own_transport:
            with trio.CancelScope(shield=True):
                await transport.aclose()


async def _leave_on_exit(rt: Runtime, *, cancelled: bool) -> None:
    """Leave gracefully, within leave_timeout. When the block was cancelled from outside, the
    node's tasks are being cancelled too, so nobody would gossip the leave: then we apply it
    here and hand the news straight to as many peers as a broadcast would reach."""
    if rt.failed or rt.state.left:
        return
    with trio.move_on_after(rt.config.leave_timeout) as scope:
        scope.shield = True
        if cancelled:
            await _farewell(rt)
        else:
            await Memberlist(rt).leave()
    if scope.cancelled_caught:
        log.info("%s: leave not fully gossiped within %.1fs", rt.config.name,
                 rt.config.leave_timeout)  # fmt: skip


async def _farewell(rt: Runtime) -> None:
    state_task.apply(rt, rules.leave(rt.state, trio.current_time(), rt.config))
    me = rt.state.local
    if me is None:
        return
    farewell = encode_message(Dead(me.incarnation, me.name, me.name))
    state = rt.state
    count = retransmit_limit(rt.config.retransmit_mult, state.num_nodes)
    peers = k_random_members(
        state, count, rt.rng, lambda m: m.is_live and m.name != state.local_name
    )
    for peer in peers:
        try:
            await rt.send_packets(peer.address, rt.codec.packets([farewell], peer_pmax=peer.pmax))
        except TransportError as exc:
            log.debug("%s: farewell to %s failed: %s", rt.config.name, peer.name, exc)


def _only(group: BaseExceptionGroup, error: BaseException) -> bool:
    for exc in group.exceptions:
        if exc is error:
            continue
        if isinstance(exc, BaseExceptionGroup):
            if not _only(exc, error):
                return False
        else:
            return False
    return True
