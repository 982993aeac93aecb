"""An agent in a hash ring (``trio-gossip agent --ring NAME``) and its ``/v1/ring`` page.

The agent's node gets `with_kv(agent_delegate, kv)` as its delegate, then runs
`ring_membership` around its life: the KV store starts, a lifecycler registers the agent
(instance id = node name, address = its gossip address), and on the way out the instance
leaves the ring *before* the agent leaves the cluster, so the LEFT tombstone still has
someone to go to (dskit#881).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from trio_gossip.core.ring.codec import RING_CODEC
from trio_gossip.shell.kv.compose import KVWithDelegate, with_kv
from trio_gossip.shell.kv.store import KVStore
from trio_gossip.shell.ring.client import ring_page
from trio_gossip.shell.ring.lifecycler import Lifecycler, lifecycler

if TYPE_CHECKING:
    from trio_gossip.apps.agent.http import Request, Response
    from trio_gossip.shell.memberlist import Memberlist
    from trio_gossip.shell.node.delegate import Delegate

__all__ = ["KVWithDelegate", "ring_delegate", "ring_handler", "ring_membership", "ring_store"]


def ring_store() -> KVStore:
    """The KV store an agent keeps its ring in."""
    return KVStore([RING_CODEC])


def ring_delegate(inner: Delegate, kv: KVStore | None) -> Delegate:
    """`inner` alone, or `inner` and the ring's store as one delegate."""
    return inner if kv is None else with_kv(inner, kv)


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
