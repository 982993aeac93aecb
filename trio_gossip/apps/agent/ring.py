"""An agent in a hash ring (``trio-gossip agent --ring NAME``) and its ``/v1/ring`` page.

The agent's node gets `with_kv(agent_delegate, kv)` as its delegate, then runs
`ring_membership` around its life: the KV store starts, a lifecycler registers the agent
(instance id = node name, address = its gossip address), and on the way out the instance
leaves the ring *before* the agent leaves the cluster, so the LEFT tombstone still has
someone to go to (dskit#881).

KV traffic goes only to peers that announce the KV: an agent with ``--ring`` sets the Serf tag
``KV_TAG`` in its metadata, and a Serf agent (which logs "Received message of unknown type"
for a KV message and "Remote state has bad type prefix" for a KV push/pull state, serf/
delegate.go ``NotifyMsg`` and ``MergeRemoteState``) never gets any:

- memberlist piggybacks ``GetBroadcasts`` on gossip to any member, so `KVPeerDelegate` hands
  memberlist only the Serf delegate's broadcasts; `kv_traffic` sends the store's, each gossip
  interval, as best-effort user messages to ``gossip_nodes`` random KV peers (what memberlist's
  gossip does, memberlist/state.go ``gossip``, restricted to KV peers);
- the store's own streams go to KV peers only (`AgentKVStore`);
- memberlist sends the push/pull user state to every peer (memberlist/net.go
  ``sendLocalState``) and cannot tell a Serf peer from ours there, so that state is exactly the
  Serf delegate's (Serf's ``02`` state, byte for byte); the KV's anti-entropy instead travels
  as a reliable user message ``KS`` to KV peers: to each new KV peer (asking for its state
  back, as a join push/pull does) and to one random KV peer every push/pull interval.
  States in the older combined form (``KC``, from agents before this) are still merged.
"""

from __future__ import annotations

import builtins
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import trio

from trio_gossip.apps.agent.tags import decode_tags
from trio_gossip.core.membership.member import Member
from trio_gossip.core.ring.codec import RING_CODEC
from trio_gossip.shell.kv.compose import KVWithDelegate
from trio_gossip.shell.kv.store import KVStore, packet_budget
from trio_gossip.shell.node.streams import STREAM_ERRORS
from trio_gossip.shell.ring.client import ring_page
from trio_gossip.shell.ring.lifecycler import Lifecycler, lifecycler
from trio_gossip.wire.errors import GossipError

if TYPE_CHECKING:
    from trio_gossip.apps.agent.http import Request, Response
    from trio_gossip.shell.memberlist import Memberlist
    from trio_gossip.shell.node.delegate import Delegate

__all__ = [
    "KV_TAG",
    "AgentKVStore",
    "KVPeerDelegate",
    "KVWithDelegate",
    "kv_traffic",
    "ring_delegate",
    "ring_handler",
    "ring_membership",
    "ring_store",
    "runs_kv",
]

log = logging.getLogger("trio_gossip.apps.agent")

KV_TAG = "trio-gossip-kv"  # Serf tag an agent with --ring sets: "I run the KV (version 1)"
KV_TAG_VALUE = "1"
KV_STATE = b"KS"  # | flag (1: send yours back) | name length | name | the store's state
REPLY_QUEUE = 64


def runs_kv(member: Member) -> bool:
    """Whether ``member`` announces the KV in its Serf tags."""
    try:
        return KV_TAG in decode_tags(member.meta)
    except ValueError:
        return False


def kv_peers(node: Memberlist) -> builtins.list[Member]:
    me = node.local_member.name
    return [m for m in node.members() if m.name != me and runs_kv(m)]


class AgentKVStore(KVStore):
    """The ring's store, whose streams and shutdown drain count only peers that run the KV."""

    def _peers(self, k: int) -> builtins.list[Member]:
        if self._node is None:
            return []
        peers = kv_peers(self._node)
        return self._rng.sample(peers, min(k, len(peers)))

    def _has_peers(self) -> bool:
        return self._node is not None and bool(kv_peers(self._node))


def encode_kv_state(me: str, state: bytes, *, reply: bool) -> bytes:
    name = me.encode("utf-8", "surrogateescape")[:255]
    return KV_STATE + bytes((1 if reply else 0, len(name))) + name + state


class KVPeerDelegate(KVWithDelegate):
    """The Serf delegate and the ring's store, with no KV bytes in what memberlist sends to
    every member (see the module docstring); `kv_traffic` carries the store's traffic."""

    def __init__(self, inner: Delegate, kv: KVStore) -> None:
        super().__init__(inner, kv)
        self.me = ""  # our node name, set by kv_traffic
        self.state_replies: Callable[[str], None] | None = None  # set by kv_traffic

    def notify_msg(self, message: bytes) -> None:
        if message[:2] != KV_STATE:
            super().notify_msg(message)
            return
        if len(message) < 4 or len(message) < 4 + message[3]:
            log.debug("kv: truncated KV state message")
            return
        reply, size = message[2], message[3]
        sender = message[4 : 4 + size].decode("utf-8", "surrogateescape")
        self.kv.merge_remote_state(message[4 + size :], reply == 1)
        if reply == 1 and self.state_replies is not None:
            self.state_replies(sender)

    def get_broadcasts(self, overhead: int, limit: int) -> builtins.list[bytes]:
        return self.inner.get_broadcasts(overhead, limit)

    def local_state(self, join: bool) -> bytes:
        return self.inner.local_state(join)


def ring_store() -> KVStore:
    """The KV store an agent keeps its ring in."""
    return AgentKVStore([RING_CODEC])


def ring_delegate(inner: Delegate, kv: KVStore | None) -> Delegate:
    """`inner` alone, or `inner` and the ring's store as one delegate."""
    return inner if kv is None else KVPeerDelegate(inner, kv)


async def kv_traffic(node: Memberlist, kv: KVStore, delegate: KVPeerDelegate) -> None:
    """Send the store's broadcasts and push/pull states to KV peers only (runs forever)."""
    config = node.config
    interval = config.gossip_interval or 0.2
    push_pull = config.push_pull_interval
    fanout = max(1, config.gossip_nodes)
    budget = packet_budget(config)
    rng = random.Random()
    me = node.local_member.name
    delegate.me = me
    replies_in, replies_out = trio.open_memory_channel[str](REPLY_QUEUE)

    def want_reply(name: str) -> None:
        try:
            replies_in.send_nowait(name)
        except trio.WouldBlock:
            log.debug("kv: dropped a state reply to %s: too many pending", name)

    delegate.state_replies = want_reply

    async def send_state(to: Member | str, *, reply: bool) -> None:
        state = kv.local_state(reply)
        try:
            await node.send_reliable(to, encode_kv_state(me, state, reply=reply))
        except STREAM_ERRORS as exc:
            log.debug("kv: state to %s not sent: %r", to, exc)

    async def push_state(to: Member) -> None:  # a join push/pull's first half
        await send_state(to, reply=True)

    async def answer_state(to: str) -> None:  # its second half
        await send_state(to, reply=False)

    async def send_packet(to: Member, message: bytes) -> None:
        try:
            await node.send_best_effort(to, message)
        except (GossipError, OSError) as exc:
            log.debug("kv: message to %s not sent: %r", to.name, exc)

    async def answer_replies() -> None:
        async for name in replies_out:
            nursery.start_soon(answer_state, name)

    known: set[str] = set()
    next_push_pull = trio.current_time() + push_pull
    async with trio.open_nursery() as nursery:
        nursery.start_soon(answer_replies)
        while True:
            await trio.sleep(interval)
            peers = kv_peers(node)
            for peer in peers:
                if peer.name not in known:  # as a join push/pull: ours, and theirs back
                    nursery.start_soon(push_state, peer)
            known = {p.name for p in peers}
            if not peers:
                continue
            if push_pull > 0 and trio.current_time() >= next_push_pull:
                next_push_pull = trio.current_time() + push_pull
                nursery.start_soon(push_state, rng.choice(peers))
            for peer in rng.sample(peers, min(fanout, len(peers))):
                for message in kv.get_broadcasts(2, budget):
                    nursery.start_soon(send_packet, peer, message)


@asynccontextmanager
async def ring_membership(
    kv: KVStore | None, node: Memberlist, ring_key: str | None, *, zone: str = ""
) -> AsyncIterator[Lifecycler | None]:
    """Run the store and keep the node's instance in ``kv[ring_key]`` for the block
    (nothing at all when `kv` is None)."""
    if kv is None or ring_key is None:
        yield None
        return
    me = node.local_member
    addr = f"[{me.host}]:{me.port}" if ":" in me.host else f"{me.host}:{me.port}"
    async with (
        kv.running(node),
        lifecycler(kv, ring_key=ring_key, instance_id=me.name, addr=addr, zone=zone) as lc,
    ):
        yield lc


def ring_handler(kv: KVStore, ring_key: str) -> Callable[[Request], Awaitable[Response]]:
    """The ``GET /v1/ring[?key=K][&tokens=1]`` route: the ring page as JSON."""
    from trio_gossip.apps.agent.http import Response  # noqa: PLC0415 (the agent is optional)

    async def handle(request: Request) -> Response:
        key = request.query.get("key") or ring_key
        tokens = request.query.get("tokens", "") in ("1", "true", "yes")
        return Response(200, ring_page(kv, key, tokens=tokens))

    return handle
