"""A memberlist node for Trio: ``async with open_memberlist(config) as node: ...``.

The node runs in its own nursery: the transport's receive task, the writer (the only task
that runs the engine and stores the state), and short stream tasks the engine asks for.
Leaving the ``async with`` block leaves the cluster gracefully (bounded by
``config.leave_timeout``), then cancels every task.
"""

from __future__ import annotations

import os
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from functools import partial

import trio

from trio_gossip.core.config import META_MAX_SIZE, Config
from trio_gossip.core.engine import events as ev
from trio_gossip.core.engine.state import Context, EngineState
from trio_gossip.core.membership.codec import Codec
from trio_gossip.core.membership.form import Formation
from trio_gossip.core.membership.member import EventKind, Member, MemberEvent, ip_bytes
from trio_gossip.shell.node import pushpull
from trio_gossip.shell.node.delegate import Delegate, Delegates
from trio_gossip.shell.node.events import EventHub, EventStream
from trio_gossip.shell.node.io_tasks import IOTasks
from trio_gossip.shell.node.node_kv import NodeKV
from trio_gossip.shell.node.pending import Pending
from trio_gossip.shell.node.stats import IOCounters, Statistics, snapshot
from trio_gossip.shell.node.streams import StreamServer, log
from trio_gossip.shell.node.writer import Writer
from trio_gossip.shell.scope import only
from trio_gossip.transport.base import Address, KeepsStatistics, Transport
from trio_gossip.transport.net import create_net_transport
from trio_gossip.transport.stats import TransportStatistics
from trio_gossip.wire import Keyring
from trio_gossip.wire.errors import ConfigError, GossipError
from trio_gossip.wire.messages import User


class Memberlist:
    """A running node. Create it with ``open_memberlist``; read-only calls never block."""

    def __init__(self, writer: Writer, events: EventHub) -> None:
        self._w = writer
        self._events = events

    # ---- reading the membership (the latest snapshot) ---------------------------------------

    @property
    def snapshot(self) -> EngineState:
        """The node's whole protocol state right now: immutable, never half updated."""
        return self._w.state

    @property
    def local_member(self) -> Member:
        me = self._w.state.membership.local
        assert me is not None, "the local member exists once the node has started"
        return me

    def members(self) -> list[Member]:
        """Alive and suspect members (self included), as immutable snapshots."""
        return self._w.state.membership.live_members()

    def num_members(self) -> int:
        return self._w.state.membership.live_count

    def member(self, name: str) -> Member | None:
        """Any known record by name, dead and left ones included until reaped."""
        return self._w.state.membership.members.get(name)

    @property
    def health_score(self) -> int:
        """Lifeguard awareness: 0 is healthy; each point stretches the probe interval."""
        return self._w.state.membership.awareness

    def events(self, *, replay: bool = True) -> EventStream:
        """Membership events: first a JOINED for every member known now (as Serf replays
        them to a new handler; ``replay=False`` skips them), then every change, in order.
        ``async for event in node.events(): ...``"""
        known = [MemberEvent(EventKind.JOINED, m) for m in self.members()] if replay else []
        return self._events.subscribe(replay=known)

    def statistics(self) -> Statistics:
        state = self._w.state
        return snapshot(self._w.io, state.counters, dropped=self._w.inbox.dropped,
                        events_dropped=self._events.dropped, queued_broadcasts=len(state.queue),
                        health_score=state.membership.awareness)  # fmt: skip

    def transport_statistics(self) -> TransportStatistics | None:
        """The transport's own counters (streams opened and accepted), when it keeps them."""
        transport = self._w.transport
        return transport.statistics() if isinstance(transport, KeepsStatistics) else None

    @property
    def config(self) -> Config:
        return self._w.ctx.config

    @property
    def keyring(self) -> Keyring | None:
        """The live keyring (None without encryption). Installing, using or removing a key on
        it rotates keys at run time: the next packet in or out already uses the change."""
        return self._w.ctx.codec.keyring

    # ---- acting ----------------------------------------------------------------------------

    async def join(self, addresses: pushpull.JoinAddress | Iterable[pushpull.JoinAddress]) -> int:
        """Push/pull with each address (``"host:port"`` or ``(host, port)``); returns how many
        succeeded and raises JoinError if none did."""
        return await pushpull.join(self._w, addresses)

    async def form(self, members: Iterable[Member] | Formation, *, events: bool = True) -> None:
        """Hold ``members`` (each node's ``local_member``) as if joins had brought them and
        converged: each enters the table with a join event (none with ``events`` False),
        nothing is gossiped. For clusters whose every node is formed with the same list
        (trio_gossip.testing's ``formed``): pass them all one ``Formation`` to share its
        table. Raises GossipError on a node that already knows someone, ValueError for a
        member listed twice or not alive (core/membership/form.py)."""
        if not isinstance(members, Formation):
            members = tuple(members)
        with self._w.pending() as pending:
            self._w.submit(ev.Form(pending.token, members, events))
            await pending.answer()

    async def send_best_effort(self, to: Member | str, data: bytes) -> None:
        """A user message in one UDP packet: no retries, no size check."""
        self._w.submit(ev.SendUser(self._resolve(to), bytes(data)))
        await trio.lowlevel.checkpoint()

    async def send_reliable(self, to: Member | str, data: bytes) -> None:
        """A user message over a stream (TCP), bounded by tcp_timeout."""
        w = self._w
        member = self._resolve(to)
        with trio.fail_after(w.ctx.config.tcp_timeout):
            stream = await w.transport.open_stream(member.address)
            async with stream:
                await stream.send_all(w.ctx.codec.stream(User(data), dialer=True))

    async def ping(self, to: Member | str) -> float | None:
        """One direct UDP ping: the round trip time in seconds, or None without an answer."""
        member = self._resolve(to)
        with self._w.pending() as pending:
            self._w.submit(ev.Ping(pending.token, member))
            rtt = await pending.answer()
        return rtt if isinstance(rtt, float) else None

    async def update_metadata(self, meta: bytes | None = None, timeout: float = 0.0) -> bool:
        """Announce new metadata (or re-read the meta delegate) at a new incarnation.

        Waits until the announcement has been fully gossiped (or ``timeout`` seconds, 0 for no
        bound) when there is anyone to tell; returns False on timeout.
        """
        if meta is None:
            meta = _delegate_meta(self._w)
        if len(meta) > META_MAX_SIZE:
            raise ConfigError(f"meta: {len(meta)} bytes, more than {META_MAX_SIZE}")
        with self._w.pending() as pending:
            self._w.submit(ev.UpdateMeta(pending.token, bytes(meta)))
            return await _until_gossiped(pending, timeout)

    async def leave(self, timeout: float = 0.0) -> bool:
        """Gossip that we leave (peers record us as left, not dead) and wait until that news
        has been fully sent, up to ``timeout`` seconds (0: no bound). Keeps running after."""
        with self._w.pending() as pending:
            self._w.submit(ev.Leave(pending.token))
            return await _until_gossiped(pending, timeout)

    def _resolve(self, to: Member | str) -> Member:
        if isinstance(to, Member):
            return to
        member = self._w.state.membership.members.get(to)
        if member is None:
            raise GossipError(f"unknown member {to!r}")
        return member


async def _until_gossiped(pending: Pending, timeout: float) -> bool:
    if not await pending.answer():
        return True  # nothing to wait for: nobody to tell, or already left
    with trio.move_on_after(timeout if timeout > 0 else float("inf")):
        await pending.finished.wait()
    return pending.finished.is_set()


def _delegate_meta(w: Writer) -> bytes:
    role = w.delegates.meta
    if role is not None:
        meta = role.node_meta(META_MAX_SIZE)
        if meta:
            if len(meta) > META_MAX_SIZE:
                raise ConfigError(f"meta: delegate returned {len(meta)} bytes")
            return bytes(meta)
    return w.ctx.config.meta


def _advertise(config: Config, transport: Transport) -> Address:
    host, port = transport.local_address
    if config.advertise_addr:
        host = config.advertise_addr
    if config.advertise_port is not None:
        port = config.advertise_port
    return host, port


class _Node:
    """The tasks of one node and whether one of them crashed (then the exit skips the
    graceful leave)."""

    def __init__(self, writer: Writer) -> None:
        self.writer = writer
        self.failed = False

    async def guard(self, fn: Callable[[], Awaitable[object]]) -> None:
        try:
            await fn()
        except BaseException as exc:
            if not isinstance(exc, trio.Cancelled):
                self.failed = True
            raise

    async def start(self, nursery: trio.Nursery) -> None:
        w = self.writer
        server = StreamServer(w)

        async def serve(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                        ) -> None:  # fmt: skip
            await self.guard(partial(w.transport.serve, server.on_packet, server.on_stream,
                                     task_status=task_status))

        await nursery.start(serve)
        host, port = _advertise(w.ctx.config, w.transport)
        # Before the writer runs, so it is still the only writer: the first alive.
        await w.step_now(ev.Start(ip_bytes(host), port, _delegate_meta(w)))
        streams = trio.CapacityLimiter(w.kv.stream_limit() if w.kv is not None else 8)
        io_tasks = IOTasks(
            nursery,
            lambda effect: pushpull.tcp_ping(w, effect),
            lambda effect: pushpull.periodic_push_pull(w, effect),
            lambda effect: pushpull.send_stream(w, streams, effect),
        )
        nursery.start_soon(self.guard, partial(w.run, io_tasks))
        nursery.start_soon(server.limiter.run)  # summaries of repeated network complaints
        if w.kv is not None:
            nursery.start_soon(w.kv.notify)


@asynccontextmanager
async def open_memberlist(
    config: Config,
    *,
    transport: Transport | None = None,
    delegate: Delegate | Delegates | None = None,
    rng: random.Random | None = None,
    leave_on_exit: bool = True,
    kv: NodeKV | None = None,
) -> AsyncIterator[Memberlist]:
    """Start a node; leaving the block leaves the cluster gracefully and stops every task.

    With ``leave_on_exit=False`` the node just stops, like Go's Shutdown without Leave: peers
    will detect it as failed (useful to simulate a crash).

    ``transport`` defaults to real UDP + TCP sockets on ``config.bind_addr:bind_port``
    (closed again on exit; a transport you pass in stays yours). ``delegate`` plays every
    delegate role, or pass ``Delegates(...)`` to give roles to different objects. ``rng``
    seeds every random choice the node makes (probe order, peer picks, staggers) for
    replayable simulations. ``kv`` runs a replicated KV store on the node (its entries live
    in the node's engine state); on exit its own last changes get up to
    ``broadcast_timeout_for_local_updates_on_shutdown`` to go out before the node leaves.
    """
    own_transport = transport is None
    if transport is None:
        advertise = None
        if config.advertise_addr:
            advertise = (config.advertise_addr, config.advertise_port or config.bind_port)
        transport = await create_net_transport(config.bind_addr, config.bind_port,
                                               advertise=advertise)  # fmt: skip
    roles = Delegates.of(delegate)
    ctx = Context(config, Codec(config), rng or random.Random(os.urandom(16)), roles.hooks(),
                  kv.context(config) if kv is not None else None)  # fmt: skip
    hub = EventHub()
    node = _Node(Writer(ctx, transport, roles, IOCounters(), hub, kv=kv))
    if kv is not None:
        kv.attach(node.writer, hub)
    waking = roles.waking_broadcasts()
    if waking is not None:
        waking.set_gossip_waker(partial(node.writer.submit, ev.WakeGossip()))
    body_error: BaseException | None = None
    try:
        async with trio.open_nursery() as nursery:
            try:
                await node.start(nursery)
                try:
                    yield Memberlist(node.writer, hub)
                except BaseException as exc:
                    body_error = exc
                    raise
                finally:
                    cancelled = isinstance(body_error, trio.Cancelled)
                    if kv is not None and not node.failed and not cancelled:
                        await kv.drain()  # dskit#881: our last changes go out first
                    if leave_on_exit and not node.failed:
                        await _leave_on_exit(node.writer, hub, cancelled=cancelled)
            finally:
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        # Hand the caller their own exception back rather than a group around it.
        if body_error is not None and only(group, body_error):
            raise body_error from None
        raise
    finally:
        node.writer.close()
        hub.close()
        if kv is not None:
            kv.detach()
        if own_transport:
            with trio.CancelScope(shield=True):
                await transport.aclose()


async def _leave_on_exit(w: Writer, hub: EventHub, *, cancelled: bool) -> None:
    """Leave gracefully, within leave_timeout. When the block was cancelled from outside, the
    writer is being cancelled too, so nobody would gossip the leave: then this task steps the
    engine one last time itself (the writer handles nothing more once cancelled) and the
    farewell goes straight to as many peers as a broadcast would reach."""
    if w.state.membership.left:
        return
    with trio.move_on_after(w.ctx.config.leave_timeout) as scope:
        scope.shield = True
        if cancelled:
            with w.pending() as pending:
                await w.step_now(ev.Leave(pending.token, farewell=True))
        else:
            await Memberlist(w, hub).leave()
    if scope.cancelled_caught:
        log.info("%s: leave not fully gossiped within %.1fs", w.ctx.config.name,
                 w.ctx.config.leave_timeout)  # fmt: skip
