"""What every request to the agent's endpoint passes before a route sees it.

The endpoint can install keys, join clusters and forget ring instances, so a web page the
operator happens to visit must not be able to drive it:

- ``Host`` must be an IP literal, ``localhost``, or a name given with ``--http-host``. A DNS
  rebinding attack needs a host name of the attacker's, so that name is refused.
- ``Origin``, when a browser sends one, must be this endpoint itself (``http://<Host>``):
  a cross-site ``fetch`` or form post is refused before it reaches a route.
- Changes need ``POST`` (a route that changes something refuses ``GET``) and, when a token is
  set (``--http-token-file`` or the ``TRIO_GOSSIP_HTTP_TOKEN`` environment variable, never the
  command line), ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import hmac
import ipaddress
import urllib.parse
from collections.abc import Iterable

import attrs

from trio_gossip.apps.agent.http import Handler, Request, Response, error

SAFE_METHODS = ("GET", "HEAD")


def _host_name(host_header: str) -> str:
    """The host part of a ``Host`` header (``[v6]:port``, ``name:port`` or a bare name)."""
    text = host_header.strip().lower()
    if text.startswith("["):
        return text[1:].partition("]")[0]
    if text.count(":") == 1:
        return text.partition(":")[0]
    return text


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


@attrs.define
class Guard:
    """Wraps a handler with the checks above; refusals are counted by reason."""

    handler: Handler
    token: str | None = None
    hosts: frozenset[str] = frozenset()  # extra Host names allowed (--http-host)
    refused: dict[str, int] = attrs.field(factory=dict)

    @classmethod
    def around(cls, handler: Handler, *, token: str | None = None,
               hosts: Iterable[str] = ()) -> Guard:  # fmt: skip
        return cls(handler, token, frozenset(h.lower() for h in hosts))

    def _refuse(self, reason: str, status: int, message: str) -> Response:
        self.refused[reason] = self.refused.get(reason, 0) + 1
        return error(status, message)

    async def __call__(self, request: Request) -> Response:
        host = request.headers.get("host")
        if host is not None:
            name = _host_name(host)
            if not (_is_ip(name) or name == "localhost" or name in self.hosts):
                return self._refuse(
                    "host", 403,
                    f"Host {host!r} is not this endpoint's (use its IP address, localhost,"
                    " or allow the name with --http-host)",
                )  # fmt: skip
        origin = request.headers.get("origin")
        if origin is not None:
            url = urllib.parse.urlsplit(origin)
            if host is None or url.scheme not in ("http", "https") or url.netloc != host:
                return self._refuse(
                    "origin", 403, f"Origin {origin!r} is not this endpoint: cross-site"
                    " requests are refused"
                )  # fmt: skip
        if request.method not in SAFE_METHODS and self.token is not None:
            given = request.headers.get("authorization", "")
            scheme, _, value = given.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                value.strip().encode(), self.token.encode()
            ):
                return self._refuse(
                    "token", 401, "this endpoint needs Authorization: Bearer <token> for changes"
                )
        return await self.handler(request)
