"""The agent's HTTP routes: members, statistics, health and keyring rotation, as JSON."""

from __future__ import annotations

import base64
import time
from collections.abc import Awaitable, Callable, Sequence

import attrs

from trio_gossip.apps.agent.book import MemberBook
from trio_gossip.apps.agent.delegate import AgentDelegate
from trio_gossip.apps.agent.http import BadRequestError, Request, Response, error
from trio_gossip.apps.agent.nameprobe import NameConflictError
from trio_gossip.apps.agent.options import parse_join_target, parse_key
from trio_gossip.core.membership.member import Member
from trio_gossip.shell.memberlist import Memberlist
from trio_gossip.wire import Keyring
from trio_gossip.wire.errors import JoinError
from trio_gossip.wire.messages import NodeState

STATE_NAMES = {
    NodeState.ALIVE: "alive",
    NodeState.SUSPECT: "suspect",
    NodeState.DEAD: "failed",  # Serf's word for a member memberlist declared dead
    NodeState.LEFT: "left",
}


Action = Callable[[Request], Awaitable[Response]]
Joiner = Callable[[Sequence[str]], Awaitable[int]]


def member_json(member: Member, delegate: AgentDelegate) -> dict[str, object]:
    return {
        "name": member.name,
        "addr": member.host,
        "port": member.port,
        "tags": delegate.tags_of(member.meta),
        "state": STATE_NAMES.get(member.state, str(member.state)),
        "incarnation": member.incarnation,
        "protocol": [member.pmin, member.pmax, member.pcur],
        "delegate": [member.dmin, member.dmax, member.dcur],
    }


def _b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


@attrs.define
class AgentAPI:
    node: Memberlist
    delegate: AgentDelegate
    book: MemberBook
    keyring: Keyring | None
    joiner: Joiner | None = None
    started: float = attrs.field(factory=time.monotonic)
    # More read-only routes by path (e.g. /v1/ring when the agent is in a hash ring).
    extra_routes: dict[str, Action] = attrs.field(factory=dict)
    # More routes that change something: POST only, with a JSON body.
    extra_actions: dict[str, Action] = attrs.field(factory=dict)
    # Called after the keyring changed (--keyring-file writes it back, as Serf does).
    on_keyring_change: Callable[[Keyring], None] | None = None

    async def handle(self, request: Request) -> Response:
        route = self._routes().get(request.path.rstrip("/") or "/")
        if route is None:
            return error(404, f"no such endpoint {request.path!r}")
        methods, action = route
        if request.method not in methods:
            return Response(
                405, {"error": f"{request.method} not allowed on {request.path}: use {methods[0]}"},
                headers=(("allow", ", ".join(methods)),),
            )  # fmt: skip
        try:
            return await action(request)
        except BadRequestError as exc:
            return error(exc.status, str(exc))

    def _routes(self) -> dict[str, tuple[tuple[str, ...], Action]]:
        # Nothing that changes state answers GET: a link or an <img> cannot drive it.
        read, write = ("GET",), ("POST",)
        return {
            "/v1/members": (read, self.members),
            "/v1/stats": (read, self.stats),
            "/v1/health": (read, self.health),
            "/v1/keys": (read, self.keys),
            "/v1/keys/install": (write, self.install_key),
            "/v1/keys/use": (write, self.use_key),
            "/v1/keys/remove": (write, self.remove_key),
            "/v1/join": (write, self.join),
            **{path: (read, action) for path, action in self.extra_routes.items()},
            **{path: (write, action) for path, action in self.extra_actions.items()},
        }

    # ---- reading --------------------------------------------------------------------------

    async def members(self, request: Request) -> Response:
        live = {m.name: m for m in self.node.members()}
        departed = [m for name, m in self.book.departed.items() if name not in live]
        rows = [member_json(m, self.delegate) for m in [*live.values(), *departed]]
        rows.sort(key=lambda row: str(row["name"]))
        return Response(200, rows)

    async def stats(self, request: Request) -> Response:
        node = self.node
        me = node.local_member
        return Response(
            200,
            {
                "name": me.name,
                "addr": me.host,
                "port": me.port,
                "incarnation": me.incarnation,
                "members": node.num_members(),
                "health_score": node.health_score,
                "encrypted": self.keyring is not None,
                "keys": len(self.keyring.keys) if self.keyring is not None else 0,
                "uptime": round(time.monotonic() - self.started, 3),
                "node": attrs.asdict(node.statistics()),
                "agent": self.delegate.statistics(),
            },
        )

    async def health(self, request: Request) -> Response:
        return Response(
            200,
            {
                "status": "ok",
                "members": self.node.num_members(),
                "health_score": self.node.health_score,
            },
        )

    async def keys(self, request: Request) -> Response:
        if self.keyring is None:
            return error(400, "encryption is not enabled on this agent")
        return Response(
            200,
            {
                "primary": _b64(self.keyring.primary_key),
                "keys": [_b64(k) for k in self.keyring.keys],
            },
        )

    # ---- keyring rotation ---------------------------------------------------------------------

    async def _key_op(self, request: Request, op: str) -> Response:
        if self.keyring is None:
            return error(400, "encryption is not enabled on this agent")
        try:
            key = parse_key(request.field("key"))
            getattr(self.keyring, op)(key)
        except ValueError as exc:
            return error(400, str(exc))
        if self.on_keyring_change is not None:
            try:
                self.on_keyring_change(self.keyring)
            except OSError as exc:
                return error(500, f"the key was changed but the keyring file was not: {exc}")
        return await self.keys(request)

    async def install_key(self, request: Request) -> Response:
        return await self._key_op(request, "add_key")

    async def use_key(self, request: Request) -> Response:
        return await self._key_op(request, "use_key")

    async def remove_key(self, request: Request) -> Response:
        return await self._key_op(request, "remove_key")

    # ---- joining ------------------------------------------------------------------------------

    async def join(self, request: Request) -> Response:
        """``POST /v1/join {"address": "HOST:PORT"}``: what ``serf join`` does through Serf's
        RPC."""
        if self.joiner is None:
            return error(400, "joining is not available on this endpoint")
        try:
            address = parse_join_target(request.field("address"))
            joined = await self.joiner([address])
        except NameConflictError as exc:  # our name is taken there: nothing was claimed
            return error(409, str(exc))
        except (ValueError, JoinError) as exc:
            return error(400, str(exc))
        return Response(200, {"joined": joined})
