"""The agent's HTTP endpoint on Hypercorn, over real loopback sockets, with its guard."""

from __future__ import annotations

import http.client
import io
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio

from trio_gossip.apps.agent.control_token import TOKEN_ENV, read_token
from trio_gossip.apps.agent.guard import Guard
from trio_gossip.apps.agent.http import Request, Response, error, serve_http
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
        body = request.json_object() if request.method == "POST" else None
        return Response(200, {"method": request.method, "query": request.query, "body": body})
    if request.path == "/boom":
        raise RuntimeError("handler bug")
    return error(404, "no such endpoint")


@asynccontextmanager
async def served(token: str | None = None) -> AsyncIterator[tuple[str, int]]:
    async with trio.open_nursery() as nursery:
        handler = Guard.around(_handler, token=token, hosts=["agent.internal"])
        yield await nursery.start(serve_http, "127.0.0.1", 0, handler)
        nursery.cancel_scope.cancel()


Answer = tuple[int, dict[str, str], object]


def _request(address: tuple[str, int], method: str, path: str, body: bytes | None = None,
             headers: dict[str, str] | None = None) -> Answer:  # fmt: skip
    conn = http.client.HTTPConnection(*address, timeout=5)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        return response.status, dict(response.getheaders()), json.loads(data)
    finally:
        conn.close()


async def request(address: tuple[str, int], method: str, path: str, body: bytes | None = None,
                  headers: dict[str, str] | None = None) -> Answer:  # fmt: skip
    return await trio.to_thread.run_sync(lambda: _request(address, method, path, body, headers))


JSON = {"Content-Type": "application/json"}


async def test_get_with_query_and_post_with_a_json_body() -> None:
    async with served() as address:
        status, headers, body = await request(address, "GET", "/echo?key=a%2Bb%3D&x=1")
        assert status == 200
        assert headers["content-type"] == "application/json"
        assert body == {"method": "GET", "query": {"key": "a+b=", "x": "1"}, "body": None}
        status, _, body = await request(address, "POST", "/echo", b'{"key": "abc="}', JSON)
        assert status == 200
        assert body == {"method": "POST", "query": {}, "body": {"key": "abc="}}


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "status", "words"),
    [
        ("GET", "/nowhere", None, {}, 404, "no such"),
        ("GET", "/boom", None, {}, 500, "internal"),
        ("POST", "/echo", b"key=abc", {"Content-Type": "application/x-www-form-urlencoded"},
         400, "JSON object"),
        ("POST", "/echo", b"{not json", JSON, 400, "not valid JSON"),
        ("POST", "/echo", b"[1, 2]", JSON, 400, "JSON object"),
        ("POST", "/echo", b"x" * 70000, JSON, 413, "over"),
        ("GET", "/echo", None, {"Host": "evil.example"}, 403, "Host"),
        ("POST", "/echo", b"{}", {**JSON, "Host": "evil.example:80"}, 403, "Host"),
        ("POST", "/echo", b"{}", {**JSON, "Origin": "http://evil.example"}, 403, "Origin"),
    ],
)  # fmt: skip
async def test_bad_or_foreign_requests_get_a_clear_error_not_a_crash(  # noqa: PLR0917
    method: str, path: str, body: bytes | None, headers: dict[str, str], status: int, words: str
) -> None:
    async with served() as address:
        got, _, answer = await request(address, method, path, body, headers)
        assert got == status
        assert isinstance(answer, dict)
        assert words in answer["error"]
        # The server is still there.
        assert (await request(address, "GET", "/v1/members"))[0] == 200


async def test_allowed_host_names_and_same_origin_pass() -> None:
    async with served() as address:
        host = f"127.0.0.1:{address[1]}"
        for headers in ({"Host": "localhost"}, {"Host": f"agent.internal:{address[1]}"},
                        {"Host": host, "Origin": f"http://{host}"}):  # fmt: skip
            assert (await request(address, "POST", "/echo", b"{}", {**JSON, **headers}))[0] == 200


async def test_a_token_guards_changes_only() -> None:
    async with served(token="s3cret") as address:
        assert (await request(address, "GET", "/v1/members"))[0] == 200
        status, _, body = await request(address, "POST", "/echo", b"{}", JSON)
        assert status == 401
        assert isinstance(body, dict)
        assert "Bearer" in body["error"]
        wrong = {**JSON, "Authorization": "Bearer nope"}
        assert (await request(address, "POST", "/echo", b"{}", wrong))[0] == 401
        right = {**JSON, "Authorization": "Bearer s3cret"}
        assert (await request(address, "POST", "/echo", b"{}", right))[0] == 200


def test_the_token_comes_from_a_file_or_the_environment(tmp_path: object) -> None:
    import pathlib  # noqa: PLC0415

    path = pathlib.Path(str(tmp_path)) / "token"
    path.write_text("abc\n")
    assert read_token(str(path), {}) == "abc"
    assert read_token(None, {TOKEN_ENV: "xyz"}) == "xyz"
    assert read_token(None, {}) is None
    path.write_text("")
    with pytest.raises(ValueError, match="empty"):
        read_token(str(path), {})
    with pytest.raises(ValueError, match="--http-token-file"):
        read_token(str(path) + ".missing", {})


async def test_members_client_against_a_real_socket() -> None:
    async with served() as address:
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


def test_members_client_reports_an_unreachable_agent() -> None:
    with pytest.raises(EndpointError, match="cannot reach"):
        fetch_json(("127.0.0.1", 1), "/v1/members")


def test_table_format() -> None:
    assert format_table([]) == ""
    table = format_table(MEMBERS)
    assert table.endswith("\n")
    assert len(table.splitlines()) == 2
