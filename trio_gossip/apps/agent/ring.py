"""An agent in a hash ring (``trio-gossip agent --ring NAME``) and its ``/v1/ring`` page.

The agent's node runs the ring's KV store (``open_memberlist(..., kv=ring_store())``), and
`ring_membership` runs a lifecycler around the agent's life: it registers the agent (instance
id = node name, address = its gossip address), and on the way out the instance leaves the
ring and that news goes out *before* the agent leaves the cluster, so the LEFT tombstone
still has someone to go to (dskit#881).

KV traffic goes only to peers that announce the KV: an agent with ``--ring`` sets the Serf tag
``KV_TAG`` in its metadata, and the store's peer filter (`runs_kv`) keeps every KV byte away
from a Serf agent, which logs "Received message of unknown type" for a KV message and "Remote
state has bad type prefix" for a KV push/pull state (serf/delegate.go ``NotifyMsg`` and
``MergeRemoteState``). The engine then sends the KV's changes to KV peers in packets of their
own, and its state over streams (see ``core/engine/kv.py``), so the push/pull user state a
Serf peer receives is exactly the Serf delegate's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from trio_gossip.apps.agent.tags import decode_tags
from trio_gossip.core.membership.member import Member
from trio_gossip.core.ring.codec import RING_CODEC
from trio_gossip.shell.kv.store import KVStore
from trio_gossip.shell.ring.client import ring_page
from trio_gossip.shell.ring.lifecycler import Lifecycler, lifecycler

if TYPE_CHECKING:
    from trio_gossip.apps.agent.http import Request, Response
    from trio_gossip.shell.memberlist import Memberlist

__all__ = ["KV_TAG", "ring_handler", "ring_membership", "ring_store", "runs_kv"]

KV_TAG = "trio-gossip-kv"  # Serf tag an agent with --ring sets: "I run the KV (version 1)"
KV_TAG_VALUE = "1"


def runs_kv(member: Member) -> bool:
    """Whether ``member`` announces the KV in its Serf tags."""
    try:
        return KV_TAG in decode_tags(member.meta)
    except ValueError:
        return False


def ring_store() -> KVStore:
    """The KV store an agent keeps its ring in: KV traffic only to members running it."""
    return KVStore([RING_CODEC], peer_filter=runs_kv)


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
    async with lifecycler(kv, ring_key=ring_key, instance_id=me.name, addr=addr,
                          zone=zone) as lc:  # fmt: skip
        yield lc
    await kv.drain()  # the LEFT state goes out before the agent leaves


def ring_handler(kv: KVStore, ring_key: str) -> Callable[[Request], Awaitable[Response]]:
    """The ``GET /v1/ring[?key=K][&tokens=1]`` route: the ring page as JSON."""
    from trio_gossip.apps.agent.http import Response  # noqa: PLC0415 (the agent is optional)

    async def handle(request: Request) -> Response:
        key = request.query.get("key") or ring_key
        tokens = request.query.get("tokens", "") in ("1", "true", "yes")
        return Response(200, ring_page(kv, key, tokens=tokens))

    return handle
