"""Run one agent: a node with the agent delegate and an optional HTTP endpoint.

``open_agent`` is the embeddable part (tests run agents in-process with it); ``run_agent`` is
the command: join, wait for SIGINT or SIGTERM, then leave the way a Serf agent does (leave
intent, memberlist leave, a short stay so peers' probes are still answered).

Names are unique in a Serf cluster. Before joining, the agent pings each join address under
its own name from a socket of its own (``nameprobe``: memberlist acks a ping only when the
name is its own, memberlist/net.go ``handlePing``), and refuses to join when one answers:
once a Serf agent sees an alive for its name from elsewhere it runs serf/serf.go
``resolveNodeConflict``, and with no other voter (a two-member cluster) it loses the vote and
quits. When a conflict for our name still shows up, the agent concedes at once: it votes for
the other claimant when asked (``_serf_conflict``), stays ``serf_query_timeout`` to answer,
then stops without a leave (Serf's minority path: ``Shutdown``, no leave, so nobody marks the
name's holder left) and `open_agent` raises `NameConflictError`. Serf would put it to a
vote; a guest that may win that vote would make the Serf holder quit, which an agent must
never cause.
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import trio

from trio_gossip.apps.agent.book import MemberBook
from trio_gossip.apps.agent.delegate import AgentDelegate, Outbox
from trio_gossip.apps.agent.nameprobe import NameConflictError, answers_to
from trio_gossip.apps.agent.options import AgentOptions
from trio_gossip.core.config import Config
from trio_gossip.core.membership.member import EventKind, Member, MemberEvent
from trio_gossip.shell.memberlist import Memberlist, open_memberlist
from trio_gossip.shell.node.joiner import join_with_backoff, rejoin_forever
from trio_gossip.shell.node.pushpull import resolve_spec
from trio_gossip.transport.base import Transport
from trio_gossip.wire.errors import GossipError, JoinError

if TYPE_CHECKING:
    from trio_gossip.apps.agent.http import Handler
    from trio_gossip.shell.kv.history import MessageHistory
    from trio_gossip.shell.kv.store import KVStore
    from trio_gossip.shell.ring.lifecycler import Lifecycler

log = logging.getLogger("trio_gossip.apps.agent")

# Serf's agent defaults: what it advertises as its delegate (Serf) protocol range, how long a
# leave intent may take to go out, and how long it stays after memberlist's leave.
DELEGATE_PROTOCOL = (2, 5, 5)
BROADCAST_TIMEOUT = 5.0
LEAVE_PROPAGATE_DELAY = 1.0
REJECTION_CHECK_INTERVAL = 5.0  # one warning line per 5 s at most; a wake-up each at rest
REPLY_QUEUE = 256
QUERY_TIMEOUT_MULT = 16  # serf/config.go DefaultConfig QueryTimeoutMult
NAME_CONFLICT_EXIT = 2  # run_agent's exit status when the name is taken


def serf_query_timeout(config: Config, members: int) -> float:
    """serf/serf.go ``DefaultQueryTimeout``: GossipInterval * QueryTimeoutMult *
    ceil(log10(n + 1)), how long a Serf agent collects answers to a query."""
    return config.gossip_interval * QUERY_TIMEOUT_MULT * math.ceil(math.log10(members + 1))


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
        cidrs_allowed=opts.cidrs_allowed,
        require_node_names=opts.require_node_names,
        reconnect_interval=opts.reconnect_interval,
        reconnect_timeout=opts.reconnect_timeout,
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
        # The KV messages sent and received (--message-history-buffer-bytes), for /memberlist.
        self.history: MessageHistory | None = None
        self.http_address: tuple[str, int] | None = None
        self.left = False

    async def join(self, addresses: Iterable[str]) -> int:
        """Join through ``addresses`` (JoinError if none answers), then announce it to Serf.

        NameConflictError, before anything is sent that claims the name, when a node at one
        of ``addresses`` answers to our name."""
        addresses = list(addresses)
        await self.check_name(addresses)
        joined = await self.node.join(addresses)
        self.delegate.announce_join()
        return joined

    async def check_name(self, addresses: Iterable[str]) -> None:
        """Ping every join address under our own name (see ``nameprobe``): only a node of
        that name answers."""
        node = self.node
        me = node.local_member
        targets: list[tuple[str, int]] = []
        for spec in addresses:
            try:
                targets += await resolve_spec(spec, node.config)
            except (OSError, ValueError):
                continue  # the join reports it
        holders: list[str] = []

        async def probe(host: str, port: int) -> None:
            if (host, port) == me.address:
                return
            with contextlib.suppress(OSError, ValueError):  # unreachable: the join reports it
                if await answers_to(node.config, me.name, me.host, (host, port)):
                    holders.append(f"{host}:{port}")

        async with trio.open_nursery() as nursery:
            for host, port in targets:
                nursery.start_soon(probe, host, port)
        if holders:
            raise NameConflictError(
                f"node name {me.name!r} is already taken by the node at {', '.join(holders)};"
                " names must be unique in a Serf cluster: start the agent with another --name"
            )

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
    """Warn when packets or streams are rejected: the node counts them (and warns about a
    stream once per peer and kind); this says how many, and for streams the latest and who
    sent it."""
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
            new = now.bad_streams - seen.bad_streams
            what = describe_stream_rejections(new, now.last_bad_stream)
            log.warning("%s; %d in all", what, now.bad_streams)
        seen = now


def describe_stream_rejections(count: int, last: str) -> str:
    """What ``count`` newly refused streams were; ``last`` is ``Statistics.last_bad_stream``
    (``"host:port: reason"``, the latest refusal and who sent it)."""
    if not last:
        # Counted with no detail: the reply to a push/pull we started, whose user state the
        # delegate refused (the Serf delegate reads only Serf's push/pull state).
        replies = "reply" if count == 1 else "replies"
        return f"rejected {count} push/pull {replies} whose user state did not decode (debug log)"
    if count == 1:
        return f"rejected 1 stream from {last}"
    return f"rejected {count} streams, the latest from {last}"


def _outbox(channel: trio.MemorySendChannel[tuple[Member | str, bytes]]) -> Outbox:
    def put(member: Member | str, message: bytes) -> None:
        try:
            channel.send_nowait((member, message))
        except trio.WouldBlock:
            log.debug("dropped a Serf query answer to %s: too many pending", member)

    return put


async def watch_own_conflict(node: Memberlist, delegate: AgentDelegate, agent: Agent) -> None:
    """Concede our name when someone else claims it (see the module docstring): answer the
    holder's conflict queries for a Serf query timeout, then stop without a leave."""
    claimed = trio.Event()
    delegate.on_own_conflict = lambda other: claimed.set()
    await claimed.wait()
    other = delegate.queries.own_conflict
    where = f"{other.host}:{other.port}" if other is not None else "another address"
    me = node.local_member
    log.error(
        "node name %r is also claimed by the node at %s (we are %s:%d); names must be unique:"
        " conceding the name and stopping",
        me.name, where, me.host, me.port,
    )  # fmt: skip
    await trio.sleep(serf_query_timeout(node.config, max(node.num_members(), 2)))
    agent.left = True  # Serf's minority path shuts down without a leave
    raise NameConflictError(
        f"node name {me.name!r} is also claimed by the node at {where}; names must be"
        " unique in a Serf cluster: start the agent with another --name"
    )


async def send_replies(
    node: Memberlist, replies: trio.MemoryReceiveChannel[tuple[Member | str, bytes]]
) -> None:
    """Send Serf query answers, one UDP user message each, as Serf does."""
    async for member, message in replies:
        try:
            await node.send_best_effort(member, message)
        except (GossipError, OSError) as exc:
            log.debug("could not answer a Serf query from %s: %s", member, exc)


async def _start_http(
    nursery: trio.Nursery, address: tuple[str, int], handler: Handler
) -> tuple[str, int]:
    """serve_http on ``address``; a bind failure names the flag and the address (an OSError
    alone says only "[Errno 98] Address already in use", not which one)."""
    from trio_gossip.apps.agent.http import serve_http  # noqa: PLC0415 - only with --http

    try:
        bound: tuple[str, int] = await nursery.start(serve_http, *address, handler)
    except (OSError, BaseExceptionGroup) as exc:
        # Hypercorn binds inside serve_http's own nursery, so the OSError arrives in a group.
        error = exc if isinstance(exc, OSError) else _only_os_error(exc)
        if error is None:
            raise
        reason = (error.strerror or str(error)).lower()
        raise OSError(error.errno, f"--http {_host_port(*address)}: {reason}") from None
    return bound


def _only_os_error(group: BaseExceptionGroup[BaseException]) -> OSError | None:
    """The OSError a group holds when it holds nothing else."""
    matched, rest = group.split(OSError)
    if matched is None or rest is not None:
        return None
    leaf: BaseException = matched
    while isinstance(leaf, BaseExceptionGroup):
        leaf = leaf.exceptions[0]
    return leaf if isinstance(leaf, OSError) else None


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@asynccontextmanager
async def open_agent(
    opts: AgentOptions, *, transport: Transport | None = None
) -> AsyncIterator[Agent]:
    """Start an agent; leaving the block leaves gracefully (bounded) and stops everything.

    ``transport`` replaces the real sockets on ``opts.bind`` (a simulated network in tests).
    """
    config = build_config(opts)
    tags = dict(opts.tags)
    if opts.ring:
        from trio_gossip.apps.agent.ring import KV_TAG, KV_TAG_VALUE  # noqa: PLC0415

        tags[KV_TAG] = KV_TAG_VALUE  # KV traffic goes only to peers that announce it
    delegate = AgentDelegate(opts.name, tags, retransmit_mult=config.retransmit_mult)
    book = MemberBook()
    delegate.event_listeners += [book.on_event, log_event]
    body_error: BaseException | None = None
    kv: KVStore | None = None
    if opts.ring:
        # --ring: a KV store next to the Serf delegate. Imported only then: the KV store and
        # the ring cost an agent about 10 MiB and 180 modules it otherwise does not need.
        from trio_gossip.apps.agent import ring  # noqa: PLC0415

        kv = ring.ring_store()
    history: MessageHistory | None = None
    if kv is not None and opts.message_history_buffer_bytes > 0:
        from trio_gossip.shell.kv.history import MessageHistory  # noqa: PLC0415

        history = MessageHistory.watch(kv, opts.message_history_buffer_bytes)
    # The agent leaves itself (Agent.leave) so that, conceding its name, it can stop without
    # a leave: a dead message under the name would mark its holder left until it refutes.
    async with open_memberlist(
        config, delegate=delegate, transport=transport, leave_on_exit=False, kv=kv
    ) as node:
        delegate.num_nodes = node.num_members
        delegate.key_queries.keyring = node.keyring
        delegate.queries.lookup = node.member
        replies_in, replies_out = trio.open_memory_channel[tuple[Member | str, bytes]](REPLY_QUEUE)
        delegate.outbox = _outbox(replies_in)
        agent = Agent(node, delegate, book, kv)
        agent.history = history
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(watch_rejections, node)
                if history is not None:
                    nursery.start_soon(history.run)
                nursery.start_soon(send_replies, node, replies_out)
                nursery.start_soon(watch_own_conflict, node, delegate, agent)
                if opts.http is not None:
                    # The endpoint's modules load only with --http (Hypercorn's the most).
                    from trio_gossip.apps.agent.endpoint import endpoint  # noqa: PLC0415

                    handler = endpoint(opts, agent)
                    agent.http_address = await _start_http(nursery, opts.http, handler)
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
                    if not agent.left:  # what open_memberlist's leave_on_exit would do
                        agent.left = True
                        with (
                            trio.CancelScope(shield=True),
                            trio.move_on_after(config.leave_timeout),
                        ):
                            await node.leave()
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
            conflict, _ = group.split(NameConflictError)
            if conflict is not None:
                raise conflict.exceptions[0] from None
            raise


async def run_agent(opts: AgentOptions) -> int:
    """The ``agent`` command: 0 after a graceful leave, 1 if the start-up join failed, 2 if
    the name is taken (NameConflictError)."""
    try:
        return await _run_agent(opts)
    except NameConflictError as exc:
        log.error("%s", exc)
        return NAME_CONFLICT_EXIT


async def _run_agent(opts: AgentOptions) -> int:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with open_agent(opts) as agent:
            me = agent.node.local_member
            log.info("agent %s running on %s:%d", me.name, me.host, me.port)
            if opts.join:
                try:
                    joined = await join_with_backoff(agent.join, opts.join, opts.join_policy)
                except JoinError as exc:
                    log.error("failed to join: %s", exc)
                    return 1
                if joined:
                    log.info("joined the cluster through %d address(es)", joined)
            async with trio.open_nursery() as background:
                background.start_soon(
                    rejoin_forever, agent.join, opts.join, opts.join_policy.rejoin_interval
                )
                signum = await signals.__anext__()
                background.cancel_scope.cancel()
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
