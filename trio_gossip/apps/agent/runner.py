"""Run one agent: a node with the agent delegate and an optional HTTP endpoint.

``open_agent`` is the embeddable part (tests run agents in-process with it); ``run_agent`` is
the command: join, wait for SIGINT or SIGTERM, then leave the way a Serf agent does (leave
intent, memberlist leave, a short stay so peers' probes are still answered).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import trio

from trio_gossip.apps.agent.api import AgentAPI, MemberBook
from trio_gossip.apps.agent.delegate import AgentDelegate, Outbox
from trio_gossip.apps.agent.http import serve_http
from trio_gossip.apps.agent.options import AgentOptions
from trio_gossip.core.config import Config
from trio_gossip.core.membership.member import EventKind, MemberEvent
from trio_gossip.shell.memberlist import Memberlist, open_memberlist
from trio_gossip.transport.base import Transport
from trio_gossip.wire.errors import GossipError, JoinError

if TYPE_CHECKING:
    from trio_gossip.shell.kv.store import KVStore
    from trio_gossip.shell.node.delegate import Delegate
    from trio_gossip.shell.ring.lifecycler import Lifecycler

log = logging.getLogger("trio_gossip.apps.agent")

# Serf's agent defaults: what it advertises as its delegate (Serf) protocol range, how long a
# leave intent may take to go out, and how long it stays after memberlist's leave.
DELEGATE_PROTOCOL = (2, 5, 5)
BROADCAST_TIMEOUT = 5.0
LEAVE_PROPAGATE_DELAY = 1.0
REJECTION_CHECK_INTERVAL = 1.0
REPLY_QUEUE = 256

_PRESETS = {"lan": Config.lan, "wan": Config.wan, "local": Config.local}


def build_config(opts: AgentOptions) -> Config:
    advertise_addr, advertise_port = opts.advertise or ("", None)
    dmin, dmax, dcur = DELEGATE_PROTOCOL
    return _PRESETS[opts.profile](
        name=opts.name,
        bind_addr=opts.bind[0],
        bind_port=opts.bind[1],
        advertise_addr=advertise_addr,
        advertise_port=advertise_port,
        secret_keys=opts.keys,
        label=opts.label,
        delegate_protocol_min=dmin,
        delegate_protocol_max=dmax,
        delegate_protocol_version=dcur,
    )


def log_event(event: MemberEvent) -> None:
    m = event.member
    level = logging.WARNING if event.kind is EventKind.FAILED else logging.INFO
    log.log(level, "member %s: %s %s:%d", event.kind.value, m.name, m.host, m.port)


class Agent:
    """A running agent: the node, its delegate, the departed-member book and the endpoint."""

    def __init__(self, node: Memberlist, delegate: AgentDelegate, book: MemberBook,
                 kv: KVStore | None = None) -> None:  # fmt: skip
        self.node = node
        self.delegate = delegate
        self.book = book
        self.kv = kv  # the ring's KV store, with --ring
        self.lifecycler: Lifecycler | None = None  # our instance in that ring
        self.http_address: tuple[str, int] | None = None
        self.left = False

    async def join(self, addresses: Iterable[str]) -> int:
        """Join through ``addresses`` (JoinError if none answers), then announce it to Serf."""
        joined = await self.node.join(list(addresses))
        self.delegate.announce_join()
        return joined

    async def leave(
        self,
        broadcast_timeout: float = BROADCAST_TIMEOUT,
        propagate_delay: float = LEAVE_PROPAGATE_DELAY,
    ) -> None:
        """Leave the ring first (its LEFT tombstone gossiped while we are still a member, as
        dskit's lifecycler stops before memberlist does), then leave as Serf does: the leave
        intent (so Serf says ``left``, not ``failed``), memberlist's leave, then stay
        ``propagate_delay`` to keep answering probes."""
        if self.left:
            return
        self.left = True
        if self.lifecycler is not None:
            await self.lifecycler.leave()
        node = self.node
        me = node.local_member.name
        others = any(m.name != me for m in node.members())
        if others:
            sent = trio.Event()
            self.delegate.announce_leave(sent.set)
            with trio.move_on_after(broadcast_timeout):
                await sent.wait()
            if not sent.is_set():
                log.warning("leave intent not fully sent within %.1fs", broadcast_timeout)
        if not await node.leave(broadcast_timeout):
            log.warning("leave not fully gossiped within %.1fs", broadcast_timeout)
        if others:
            await trio.sleep(propagate_delay)


async def watch_rejections(node: Memberlist, interval: float = REJECTION_CHECK_INTERVAL) -> None:
    """Warn when packets or streams are rejected: the node counts them but logs at debug."""
    seen = node.statistics()
    while True:
        await trio.sleep(interval)
        now = node.statistics()
        if now.bad_packets > seen.bad_packets:
            log.warning(
                "rejected %d packet(s) that failed to decode or decrypt (wrong key or"
                " label, or corrupt); %d in all",
                now.bad_packets - seen.bad_packets,
                now.bad_packets,
            )
        if now.bad_streams > seen.bad_streams:
            log.warning(
                "rejected %d stream(s) that failed to decode or decrypt (wrong key or"
                " label, or corrupt); %d in all",
                now.bad_streams - seen.bad_streams,
                now.bad_streams,
            )
        seen = now


def _outbox(channel: trio.MemorySendChannel[tuple[str, bytes]]) -> Outbox:
    def put(member: str, message: bytes) -> None:
        try:
            channel.send_nowait((member, message))
        except trio.WouldBlock:
            log.debug("dropped a Serf query answer to %s: too many pending", member)

    return put


async def send_replies(
    node: Memberlist, replies: trio.MemoryReceiveChannel[tuple[str, bytes]]
) -> None:
    """Send Serf query answers, one UDP user message each, as Serf does."""
    async for member, message in replies:
        try:
            await node.send_best_effort(member, message)
        except (GossipError, OSError) as exc:
            log.debug("could not answer a Serf query from %s: %s", member, exc)


@asynccontextmanager
async def open_agent(
    opts: AgentOptions, *, transport: Transport | None = None
) -> AsyncIterator[Agent]:
    """Start an agent; leaving the block leaves gracefully (bounded) and stops everything.

    ``transport`` replaces the real sockets on ``opts.bind`` (a simulated network in tests).
    """
    config = build_config(opts)
    delegate = AgentDelegate(opts.name, dict(opts.tags), retransmit_mult=config.retransmit_mult)
    book = MemberBook()
    delegate.event_listeners += [book.on_event, log_event]
    body_error: BaseException | None = None
    node_delegate: Delegate = delegate
    kv: KVStore | None = None
    if opts.ring:
        # --ring: a KV store next to the Serf delegate. Imported only then: the KV store and
        # the ring cost an agent about 10 MiB and 180 modules it otherwise does not need.
        from trio_gossip.apps.agent import ring  # noqa: PLC0415

        kv = ring.ring_store()
        node_delegate = ring.ring_delegate(delegate, kv)
    async with open_memberlist(config, delegate=node_delegate, transport=transport) as node:
        delegate.num_nodes = node.num_members
        delegate.key_queries.keyring = node.keyring
        replies_in, replies_out = trio.open_memory_channel[tuple[str, bytes]](REPLY_QUEUE)
        delegate.outbox = _outbox(replies_in)
        agent = Agent(node, delegate, book, kv)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(watch_rejections, node)
                nursery.start_soon(send_replies, node, replies_out)
                if opts.http is not None:
                    api = AgentAPI(node, delegate, book, node.keyring, agent.join)
                    if kv is not None and opts.ring:
                        api.extra_routes["/v1/ring"] = ring.ring_handler(kv, opts.ring)
                    agent.http_address = await nursery.start(serve_http, *opts.http, api.handle)
                    log.info("HTTP endpoint on %s:%d", *agent.http_address)
                try:
                    # The ring instance leaves (LEFT tombstone sent) before the agent does.
                    membership: contextlib.AbstractAsyncContextManager[Lifecycler | None] = (
                        ring.ring_membership(kv, node, opts.ring, zone=opts.ring_zone)
                        if kv is not None
                        else contextlib.nullcontext(None)
                    )
                    async with membership as lc:
                        agent.lifecycler = lc
                        yield agent
                except BaseException as exc:
                    body_error = exc
                    raise
                else:
                    with trio.CancelScope(shield=True):
                        await agent.leave()
                finally:
                    nursery.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            # Hand the caller their own exception back rather than a group around it.
            if body_error is not None and list(group.exceptions) == [body_error]:
                raise body_error from None
            raise


def setup_logging(level: str) -> None:
    logging.basicConfig(
        stream=sys.stderr,
        level=getattr(logging, level.upper()),
        format="%(asctime)s [%(levelname)s] %(name)s: %(message)s",
    )


async def run_agent(opts: AgentOptions) -> int:
    """The ``agent`` command: 0 after a graceful leave, 1 if the start-up join failed."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with open_agent(opts) as agent:
            me = agent.node.local_member
            log.info("agent %s running on %s:%d", me.name, me.host, me.port)
            if opts.join:
                try:
                    joined = await agent.join(opts.join)
                except JoinError as exc:
                    log.error("failed to join: %s", exc)
                    return 1
                log.info("joined the cluster through %d address(es)", joined)
            signum = await signals.__anext__()
            log.info("caught %s, leaving gracefully (again to force)", signal.Signals(signum).name)
            async with trio.open_nursery() as nursery:

                async def force() -> None:
                    await signals.__anext__()
                    log.warning("second signal: leaving at once")
                    nursery.cancel_scope.cancel()

                nursery.start_soon(force)
                await agent.leave()
                nursery.cancel_scope.cancel()
    log.info("agent stopped")
    return 0
