"""A tiny HTTP/1.0 server on Trio: one request per connection, JSON answers, then close.

Enough for an agent's status and control endpoint without a new dependency. Requests are
bounded in size and time, and nothing a client sends can end the server.
"""

from __future__ import annotations

import json
import logging
import urllib.parse
from collections.abc import Awaitable, Callable
from functools import partial

import attrs
import trio

log = logging.getLogger("trio_gossip.apps.agent.http")

MAX_HEAD = 8192
MAX_BODY = 8192
REQUEST_TIMEOUT = 5.0
REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    413: "Payload Too Large",
    500: "Internal Server Error",
}


@attrs.frozen
class Request:
    method: str
    path: str
    query: dict[str, str]  # URL query, plus a form-encoded POST body


@attrs.frozen
class Response:
    status: int
    body: object  # serialised as JSON

    def encode(self) -> bytes:
        payload = json.dumps(self.body, indent=2, sort_keys=True).encode() + b"\n"
        head = (
            f"HTTP/1.0 {self.status} {REASONS.get(self.status, 'Unknown')}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n"
            "Connection: close\r\n\r\n"
        )
        return head.encode("ascii") + payload


def error(status: int, message: str) -> Response:
    return Response(status, {"error": message})


Handler = Callable[[Request], Awaitable[Response]]


class BadRequestError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def parse_head(head: bytes) -> tuple[str, str, dict[str, str], dict[str, str]]:
    """Method, path, query and headers (lower-case names) from the request head."""
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes any byte
        raise BadRequestError(400, "undecodable request") from None
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        raise BadRequestError(400, "malformed request line")
    method, target, _ = parts
    url = urllib.parse.urlsplit(target)
    query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise BadRequestError(400, f"malformed header line {line[:40]!r}")
        headers[name.strip().lower()] = value.strip()
    return method, urllib.parse.unquote(url.path), query, headers


async def read_request(stream: trio.abc.Stream) -> Request:
    buf = bytearray()
    while b"\r\n\r\n" not in buf:
        if len(buf) > MAX_HEAD:
            raise BadRequestError(413, "request head too large")
        data = await stream.receive_some(4096)
        if not data:
            raise BadRequestError(400, "connection closed inside the request head")
        buf += data
    head, _, body = bytes(buf).partition(b"\r\n\r\n")
    method, path, query, headers = parse_head(head)
    if method == "POST":
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError:
            raise BadRequestError(400, "bad Content-Length") from None
        if not 0 <= length <= MAX_BODY:
            raise BadRequestError(413, "request body too large")
        while len(body) < length:
            data = await stream.receive_some(length - len(body))
            if not data:
                raise BadRequestError(400, "connection closed inside the request body")
            body += data
        form = urllib.parse.parse_qsl(body[:length].decode("latin-1"), keep_blank_values=True)
        query = {**query, **dict(form)}
    return Request(method, path, query)


async def _answer(handler: Handler, stream: trio.abc.Stream) -> Response:
    try:
        with trio.move_on_after(REQUEST_TIMEOUT):
            return await handler(await read_request(stream))
    except BadRequestError as exc:
        return error(exc.status, str(exc))
    return error(408, "request timed out")


async def handle_connection(handler: Handler, stream: trio.abc.Stream) -> None:
    """Read one request, answer it, close. Never raises for anything the client does."""
    async with stream:
        try:
            try:
                response = await _answer(handler, stream)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                raise
            except Exception:  # a bug in a handler: answer 500, keep serving
                log.exception("HTTP handler failed")
                response = error(500, "internal error")
            with trio.move_on_after(REQUEST_TIMEOUT):
                await stream.send_all(response.encode())
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass


async def serve_http(
    host: str,
    port: int,
    handler: Handler,
    *,
    task_status: trio.TaskStatus[tuple[str, int]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until cancelled; reports the bound (host, port) to ``nursery.start``."""
    listeners = await trio.open_tcp_listeners(port, host=host)
    sockname = listeners[0].socket.getsockname()
    task_status.started((str(sockname[0]), int(sockname[1])))
    await trio.serve_listeners(partial(handle_connection, handler), listeners)
