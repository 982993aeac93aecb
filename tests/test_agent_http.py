"""The agent's tiny HTTP/1.0 server and the ``members`` client, with a stand-in handler."""

from __future__ import annotations

import io
import json

import pytest
import trio
import trio.testing

from trio_gossip.apps.agent.http import Request, Response, error, handle_connection, serve_http
from trio_gossip.apps.agent.members import EndpointError, fetch_json, format_table, print_members

MEMBERS = [
    {
        "name": "serf-a",
        "addr": "127.0.0.1",
        "port": 7946,
        "state": "alive",
        "tags": {"role": "web", "dc": "lo"},
        "incarnation": 1,
    },
    {
        "name": "py-1",
        "addr": "127.0.0.2",
        "port": 7947,
        "state": "failed",
        "tags": {},
        "incarnation": 3,
    },
]


async def _handler(request: Request) -> Response:
    if request.path == "/v1/members":
        return Response(200, MEMBERS)
    if request.path == "/echo":
        return Response(200, {"method": request.method, "query": request.query})
    if request.path == "/boom":
        raise RuntimeError("handler bug")
    return error(404, "no such endpoint")


async def _exchange(raw: bytes) -> tuple[int, dict[str, str], object]:
    client, server = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(handle_connection, _handler, server)
        await client.send_all(raw)
        data = b""
        while chunk := await client.receive_some(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = dict(line.split(": ", 1) for line in lines[1:])
    assert lines[0].startswith("HTTP/1.0 ")
    assert int(headers["Content-Length"]) == len(body)
    return status, headers, json.loads(body)


async def test_get_with_query_and_percent_encoding() -> None:
    status, headers, body = await _exchange(b"GET /echo?key=a%2Bb%3D&x=1 HTTP/1.0\r\n\r\n")
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert body == {"method": "GET", "query": {"key": "a+b=", "x": "1"}}


async def test_post_form_body_joins_the_query() -> None:
    raw = b"POST /echo?a=1 HTTP/1.0\r\nContent-Length: 10\r\n\r\nkey=abc%3D"
    status, _, body = await _exchange(raw)
    assert status == 200
    assert body == {"method": "POST", "query": {"a": "1", "key": "abc="}}


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"NONSENSE\r\n\r\n", 400),
        (b"GET / HTTP/1.0\r\nno-colon-here\r\n\r\n", 400),
        (b"GET /nowhere HTTP/1.0\r\n\r\n", 404),
        (b"GET /boom HTTP/1.0\r\n\r\n", 500),
        (b"POST /echo HTTP/1.0\r\nContent-Length: 99999\r\n\r\n", 413),
        (b"POST /echo HTTP/1.0\r\nContent-Length: x\r\n\r\n", 400),
        (b"GET /" + b"a" * 9000 + b" HTTP/1.0\r\n", 413),
    ],
)
async def test_bad_requests_get_an_error_not_a_crash(raw: bytes, status: int) -> None:
    got, _, body = await _exchange(raw)
    assert got == status
    assert isinstance(body, dict)
    assert body["error"]


async def test_a_silent_client_times_out(autojump_clock: trio.testing.MockClock) -> None:
    client, server = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(handle_connection, _handler, server)
        await client.send_all(b"GET /echo HTTP/1.0\r\n")  # never finishes the head
        data = b""
        while chunk := await client.receive_some(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.0 408 ")


async def test_a_client_that_hangs_up_is_tolerated() -> None:
    client, server = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(handle_connection, _handler, server)
        await client.send_all(b"GET /ec")
        await client.aclose()


async def test_members_client_against_a_real_socket() -> None:
    async with trio.open_nursery() as nursery:
        address = await nursery.start(serve_http, "127.0.0.1", 0, _handler)
        out = io.StringIO()
        await trio.to_thread.run_sync(lambda: print_members(address, as_json=False, out=out))
        lines = out.getvalue().splitlines()
        assert lines[0].split() == ["serf-a", "127.0.0.1:7946", "alive", "dc=lo,role=web"]
        assert lines[1].split() == ["py-1", "127.0.0.2:7947", "failed"]
        out = io.StringIO()
        await trio.to_thread.run_sync(lambda: print_members(address, as_json=True, out=out))
        assert json.loads(out.getvalue()) == MEMBERS
        with pytest.raises(EndpointError, match="404"):
            await trio.to_thread.run_sync(fetch_json, address, "/v1/nothing")
        nursery.cancel_scope.cancel()


def test_members_client_reports_an_unreachable_agent() -> None:
    with pytest.raises(EndpointError, match="cannot reach"):
        fetch_json(("127.0.0.1", 1), "/v1/members")


def test_table_format() -> None:
    assert format_table([]) == ""
    table = format_table(MEMBERS)
    assert table.endswith("\n")
    assert len(table.splitlines()) == 2
