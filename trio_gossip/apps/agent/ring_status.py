"""``GET /ring`` (the hash ring as HTML) and ``POST /ring/forget`` (forget an instance).

The facts are dskit's ring page (ring/ring_http.go ``ringPageHandler``, ring_status.gohtml):
each instance's zone, state (UNHEALTHY past the heartbeat timeout), address, registration,
heartbeat age, tokens and ownership, and a Forget button. dskit forgets any instance on any
POST to the page; here forgetting is off unless the agent runs with ``--ring-forget``, it is
its own POST-only route (so a GET, a link or an ``<img>`` cannot reach it, and the `Guard`
refuses foreign origins and wants the token when one is set), and only an UNHEALTHY instance
may be forgotten: removing a live one would only make it register again at its next beat.
"""

from __future__ import annotations

import urllib.parse
from typing import TYPE_CHECKING, Any

from trio_gossip.apps.agent.http import BadRequestError, Response, error
from trio_gossip.apps.agent.pages import age_text, clock_text, html_message, render
from trio_gossip.core.ring.lookup import DEFAULT_HEARTBEAT_TIMEOUT
from trio_gossip.core.ring.model import Ring
from trio_gossip.shell.kv.store import KeyDeletedError
from trio_gossip.shell.ring.client import ring_page

if TYPE_CHECKING:
    from trio_gossip.apps.agent.http import Handler, Request
    from trio_gossip.shell.kv.store import KVStore

FORM = "application/x-www-form-urlencoded"


class NotForgettableError(Exception):
    """Raised inside the CAS: the instance is healthy or gone; nothing is written."""


def _row(shard: dict[str, Any], now: float, whole: dict[str, float]) -> dict[str, Any]:
    beat = float(shard["last_heartbeat"])
    return {
        "id": shard["id"],
        "zone": shard["zone"] or "-",
        "state": shard["state"] if shard["healthy"] else "UNHEALTHY",
        "healthy": shard["healthy"],
        "address": shard["address"] or "-",
        "registered": clock_text(shard["registered_at"]) if shard["registered_at"] else "-",
        "heartbeat": f"{age_text(now - beat)} ({clock_text(beat)})" if beat else "never",
        "tokens": shard["tokens"],
        # dskit's page: the share of the whole ring, as humanFloat (%.3g) prints it.
        "owned": f"{100 * whole.get(shard['id'], 0.0):.3g}",
        "owned_in_zone": f"{100 * shard['ownership']:.3g}",  # what zone-aware lookups see
        "token_list": shard.get("token_list", ()),
    }


def ring_status_handler(kv: KVStore, ring_key: str, *, node: str, forget: bool) -> Handler:
    """``GET /ring[?key=K][&tokens=1]``."""

    async def handle(request: Request) -> Response:
        key = request.query.get("key") or ring_key
        show_tokens = request.query.get("tokens", "") in ("1", "true", "yes")
        page = ring_page(kv, key, tokens=show_tokens)
        now = float(page["now"])
        ring = kv.get(key)
        whole = ring.ownership(per_zone=False) if isinstance(ring, Ring) else {}
        return render(
            "ring.html", node=node, now=clock_text(now), key=key, digest=page["digest"],
            heartbeat_timeout=page["heartbeat_timeout"], forget=forget and key == ring_key,
            show_tokens=show_tokens, instances=[_row(s, now, whole) for s in page["shards"]],
        )  # fmt: skip

    return handle


def _instance_id(request: Request) -> tuple[str, bool]:
    """The instance to forget and whether the request came from the page's form."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == FORM:
        try:
            fields = urllib.parse.parse_qs(request.body.decode(), strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            raise BadRequestError(400, "the form body does not parse") from None
        values = fields.get("forget", [])
        if len(values) != 1 or not values[0]:
            raise BadRequestError(400, "the form needs one field forget=INSTANCE_ID")
        return values[0], True
    return request.field("forget"), False  # a JSON body {"forget": "INSTANCE_ID"}


def forget_handler(kv: KVStore, ring_key: str, *, node: str, forget: bool) -> Handler:
    """``POST /ring/forget`` with ``forget=ID`` (the page's form) or ``{"forget": "ID"}``."""

    async def handle(request: Request) -> Response:
        instance, from_form = _instance_id(request)
        if not forget:
            message = "forgetting ring instances is off: start the agent with --ring-forget"
            return html_message(403, node, "Refused", message) if from_form else error(
                403, message)  # fmt: skip
        now = kv.now()

        def unregister(ring: Ring | None) -> Ring:
            # Decided in the writer, on the current ring: nothing can beat it in between.
            desc = ring.instance(instance) if isinstance(ring, Ring) else None
            if ring is None or desc is None:
                raise NotForgettableError(f"no instance {instance!r} in ring {ring_key!r}")
            beat = ring.heartbeat_at(instance)
            if beat > 0 and now - beat <= DEFAULT_HEARTBEAT_TIMEOUT:
                raise NotForgettableError(
                    f"instance {instance!r} is healthy (heartbeat {now - beat:.1f} s ago):"
                    " only an UNHEALTHY instance can be forgotten")  # fmt: skip
            return ring.remove(instance, now=now, writer=node)

        try:
            await kv.cas(ring_key, unregister)
        except (NotForgettableError, KeyDeletedError) as exc:
            return html_message(409, node, "Not forgotten", str(exc)) if from_form else error(
                409, str(exc))  # fmt: skip
        if from_form:  # Post/Redirect/Get, as dskit does, so a reload does not post again
            return Response(303, f"forgot {instance}", "text/plain; charset=utf-8",
                            headers=(("location", "/ring"),))  # fmt: skip
        return Response(200, {"forgotten": instance, "ring": ring_key})

    return handle
