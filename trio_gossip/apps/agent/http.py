"""The agent's HTTP endpoint: a small ASGI application served by Hypercorn's Trio worker.

Hypercorn does the HTTP (parsing, keep-alive, timeouts, size limits); this module turns one
ASGI request into a `Request`, asks the handler, and sends its `Response` back. Nothing a
client sends can end the server: a bad request is a 4xx, a bug in a handler a 500.
"""

from __future__ import annotations

import json
import logging
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import trio

log = logging.getLogger("trio_gossip.apps.agent.http")

MAX_BODY = 65536
REQUEST_TIMEOUT = 5.0

JSON = "application/json"
HTML = "text/html; charset=utf-8"


@attrs.frozen
class Request:
    method: str
    path: str
    query: dict[str, str] = attrs.field(factory=dict)  # the URL query
    headers: dict[str, str] = attrs.field(factory=dict)  # lower-case names
    body: bytes = b""

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object, or BadRequestError saying why it is not one."""
        kind = self.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != JSON:
            raise BadRequestError(
                400,
                f"{self.method} {self.path} needs a JSON object body with Content-Type: {JSON}"
                f" (got {kind or 'no Content-Type'})",
            )
        try:
            value = json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadRequestError(400, f"request body is not valid JSON: {exc}") from None
        if not isinstance(value, dict):
            raise BadRequestError(400, "request body must be a JSON object, e.g. {\"key\": ...}")
        return value

    def field(self, name: str) -> str:
        """A string field of the JSON body (BadRequestError when missing or not a string)."""
        value = self.json_object().get(name)
        if not isinstance(value, str):
            raise BadRequestError(400, f"the JSON body needs a string field {name!r}")
        return value


@attrs.frozen
class Response:
    status: int
    body: object  # serialised as JSON unless content_type says otherwise (then a str)
    content_type: str = JSON
    headers: tuple[tuple[str, str], ...] = ()

    def encode(self) -> bytes:
        if self.content_type == JSON:
            return json.dumps(self.body, indent=2, sort_keys=True).encode() + b"\n"
        return str(self.body).encode()


def error(status: int, message: str) -> Response:
    return Response(status, {"error": message})


Handler = Callable[[Request], Awaitable[Response]]


class BadRequestError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


ASGIReceive = Callable[[], Awaitable[dict[str, Any]]]
ASGISend = Callable[[dict[str, Any]], Awaitable[None]]


@attrs.define
class App:
    """The ASGI application around a `Handler`."""

    handler: Handler

    async def __call__(self, scope: dict[str, Any], receive: ASGIReceive, send: ASGISend) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":  # websockets: not served
            return
        try:
            with trio.fail_after(REQUEST_TIMEOUT):
                response = await self._answer(scope, receive)
        except trio.TooSlowError:
            response = error(408, "request timed out")
        payload = response.encode()
        headers = [
            (b"content-type", response.content_type.encode()),
            (b"content-length", str(len(payload)).encode()),
            (b"cache-control", b"no-store"),
            (b"x-content-type-options", b"nosniff"),
            *((k.encode(), v.encode()) for k, v in response.headers),
        ]
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    async def _answer(self, scope: dict[str, Any], receive: ASGIReceive) -> Response:
        try:
            request = await read_request(scope, receive)
            return await self.handler(request)
        except BadRequestError as exc:
            return error(exc.status, str(exc))
        except Exception:  # a bug in a handler: answer 500, keep serving
            log.exception("HTTP handler failed")
            return error(500, "internal error")


async def _lifespan(receive: ASGIReceive, send: ASGISend) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def read_request(scope: dict[str, Any], receive: ASGIReceive) -> Request:
    headers: dict[str, str] = {}
    for name, value in scope.get("headers", ()):
        headers[name.decode("latin-1").lower()] = value.decode("latin-1")
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise BadRequestError(400, "client went away inside the request")
        body += message.get("body", b"")
        if len(body) > MAX_BODY:
            raise BadRequestError(413, f"request body over {MAX_BODY} bytes")
        if not message.get("more_body", False):
            break
    raw_query = scope.get("query_string", b"").decode("latin-1")
    query = dict(urllib.parse.parse_qsl(raw_query, keep_blank_values=True))
    return Request(scope["method"], scope["path"], query, headers, bytes(body))


def _bind(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def serve_http(
    host: str,
    port: int,
    handler: Handler,
    *,
    task_status: trio.TaskStatus[tuple[str, int]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until cancelled; reports the bound (host, port) to ``nursery.start``."""
    try:  # the 'http' extra: an agent without --http runs without it
        from hypercorn.config import Config as HypercornConfig  # noqa: PLC0415
        from hypercorn.trio import serve  # noqa: PLC0415
    except ImportError:
        raise OSError("--http needs the 'http' extra: install trio-gossip[http]") from None
    config = HypercornConfig()
    config.bind = [_bind(host, port)]
    config.errorlog = log
    config.accesslog = None
    config.h11_max_incomplete_size = 16384
    config.keep_alive_timeout = REQUEST_TIMEOUT
    config.graceful_timeout = 0.0
    config.server_names = []  # the handler checks Host itself (a clear 403, not a 404)

    async def run(task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED) -> None:
        app: Any = App(handler)  # an ASGI 3 callable; Hypercorn's types name every event
        await serve(app, config, task_status=task_status)

    async with trio.open_nursery() as nursery:
        binds: list[str] = await nursery.start(run)
        url = urllib.parse.urlsplit(binds[0])
        task_status.started((str(url.hostname), int(url.port or port)))
