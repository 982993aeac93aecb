"""The agent's whole HTTP endpoint: the JSON API, ``/metrics``, the status pages
``/memberlist`` and ``/ring``, behind the `Guard`."""

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


def status_pages(api: AgentAPI, opts: AgentOptions, agent: Agent) -> None:
    """``/memberlist`` always; ``/ring`` and ``POST /ring/forget`` with ``--ring``."""
    from trio_gossip.apps.agent.memberlist_page import memberlist_handler  # noqa: PLC0415
    from trio_gossip.apps.agent.pages import html_message  # noqa: PLC0415

    name = agent.node.local_member.name
    api.extra_routes["/memberlist"] = memberlist_handler(agent)
    if agent.kv is None or not opts.ring:

        async def no_ring(request: Request) -> Response:
            text = "this agent is in no hash ring: start it with --ring NAME"
            return html_message(404, name, "No ring", text)

        api.extra_routes["/ring"] = no_ring
        return
    from trio_gossip.apps.agent import ring_status  # noqa: PLC0415

    api.extra_routes["/ring"] = ring_status.ring_status_handler(
        agent.kv, opts.ring, node=name, forget=opts.ring_forget
    )
    api.extra_actions["/ring/forget"] = ring_status.forget_handler(
        agent.kv, opts.ring, node=name, forget=opts.ring_forget
    )


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
    status_pages(api, opts, agent)
    return Guard.around(api.handle, token=opts.http_token, hosts=opts.http_hosts)
