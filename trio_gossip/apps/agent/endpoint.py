"""The agent's whole HTTP endpoint: the JSON API, ``/metrics``, behind the `Guard`."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from trio_gossip.apps.agent.api import AgentAPI
from trio_gossip.apps.agent.guard import Guard
from trio_gossip.apps.agent.http import Handler, Request, Response, error
from trio_gossip.apps.agent.keyring_file import write_keyring_file
from trio_gossip.apps.agent.options import AgentOptions

if TYPE_CHECKING:
    from trio_gossip.apps.agent.runner import Agent

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


def metrics_handler(agent: Agent, opts: AgentOptions) -> Handler:
    """``GET /metrics``: the node's (and with --ring the KV store's and the ring's) metrics
    in Prometheus' text format, from a registry of the agent's own."""
    try:
        from prometheus_client import CollectorRegistry, generate_latest  # noqa: PLC0415

        from trio_gossip.apps.metrics import (  # noqa: PLC0415
            KVCollector,
            MemberlistCollector,
            RingCollector,
        )
    except ImportError:

        async def missing(request: Request) -> Response:
            return error(501, "metrics need the 'metrics' extra (trio-gossip[metrics])")

        return missing
    registry = CollectorRegistry()
    registry.register(MemberlistCollector(agent.node))
    if agent.kv is not None and opts.ring:
        registry.register(KVCollector(agent.kv))
        registry.register(RingCollector(agent.kv, opts.ring, instance_id=opts.name))

    async def serve(request: Request) -> Response:
        return Response(200, generate_latest(registry).decode(), PROMETHEUS_TEXT)

    return serve


def endpoint(opts: AgentOptions, agent: Agent) -> Handler:
    """The handler `serve_http` runs for ``--http``."""
    node = agent.node
    api = AgentAPI(node, agent.delegate, agent.book, node.keyring, agent.join)
    if opts.keyring_file is not None:
        api.on_keyring_change = partial(write_keyring_file, opts.keyring_file)
    if agent.kv is not None and opts.ring:
        from trio_gossip.apps.agent import ring  # noqa: PLC0415

        api.extra_routes["/v1/ring"] = ring.ring_handler(agent.kv, opts.ring)
    api.extra_routes["/metrics"] = metrics_handler(agent, opts)
    return Guard.around(api.handle, token=opts.http_token, hosts=opts.http_hosts)
