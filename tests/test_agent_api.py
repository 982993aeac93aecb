"""The agent's HTTP routes against real nodes on a simulated network (mock clock)."""

from __future__ import annotations

import base64
import json
import urllib.parse
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import trio
import trio.testing

from trio_gossip.apps.agent.api import AgentAPI
from trio_gossip.apps.agent.http import Request
from trio_gossip.apps.agent.options import AgentOptions
from trio_gossip.apps.agent.runner import Agent, open_agent
from trio_gossip.apps.agent.serf import decode_intent
from trio_gossip.transport.memory import MemoryNetwork

K1 = bytes(range(32))
K2 = bytes(range(100, 116))


def api(agent: Agent) -> AgentAPI:
    return AgentAPI(agent.node, agent.delegate, agent.book, agent.node.keyring, agent.join)


async def call(agent: Agent, path: str, method: str = "GET", body: object = None,
               content_type: str = "application/json") -> tuple[int, Any]:  # fmt: skip
    url = urllib.parse.urlsplit(path)
    query = dict(urllib.parse.parse_qsl(url.query))
    raw = json.dumps(body).encode() if body is not None else b""
    headers = {"content-type": content_type} if body is not None else {}
    response = await api(agent).handle(Request(method, url.path, query, headers, raw))
    return response.status, response.body


async def post(agent: Agent, path: str, body: object) -> tuple[int, Any]:
    return await call(agent, path, "POST", body)


def _k(key: bytes) -> dict[str, str]:
    return {"key": base64.b64encode(key).decode()}


@asynccontextmanager
async def agents(
    net: MemoryNetwork, n: int, *, keys: tuple[bytes, ...] = ()
) -> AsyncIterator[list[Agent]]:
    async with AsyncExitStack() as stack:
        out = []
        for i in range(n):
            opts = AgentOptions(name=f"py-{i}", tags=(("idx", str(i)),), keys=keys)
            out.append(await stack.enter_async_context(open_agent(opts, transport=net.add_node())))
        yield out


def address(agent: Agent) -> str:
    host, port = agent.node.local_member.address
    return f"{host}:{port}"


async def until(check: Callable[[], bool], timeout: float = 60.0) -> None:
    with trio.fail_after(timeout):
        while not check():
            await trio.sleep(0.05)


async def two_probe_rounds(agent: Agent) -> None:
    probes = agent.node.statistics().probes
    await until(lambda: agent.node.statistics().probes >= probes + 2)


async def states(agent: Agent) -> dict[str, str]:
    status, body = await call(agent, "/v1/members")
    assert status == 200
    return {row["name"]: row["state"] for row in body}


async def test_members_stats_health_and_join(autojump_clock: trio.testing.MockClock) -> None:
    net = MemoryNetwork(seed=3)
    async with agents(net, 3) as (a, b, c):
        # A change never answers GET, even with the right query.
        status, body = await call(b, f"/v1/join?address={urllib.parse.quote(address(a))}")
        assert status == 405
        assert "use POST" in body["error"]
        assert b.node.num_members() == 1
        status, body = await post(b, "/v1/join", {"address": address(a)})
        assert (status, body) == (200, {"joined": 1})
        status, body = await post(c, "/v1/join", {"address": address(a)})
        assert status == 200
        # A form-encoded body is refused with a clear message, not read as an empty address.
        status, body = await call(c, "/v1/join", "POST", "address=x",
                                  content_type="application/x-www-form-urlencoded")
        assert status == 400
        assert "JSON object" in body["error"]
        status, body = await post(c, "/v1/join", ["not", "an", "object"])
        assert status == 400
        assert "JSON object" in body["error"]
        status, body = await post(c, "/v1/join", {"addr": "x"})
        assert status == 400
        assert "'address'" in body["error"]
        await until(lambda: all(x.node.num_members() == 3 for x in (a, b, c)))
        await until(lambda: a.delegate.received["join"] >= 2)  # b's and c's join intents

        status, rows = await call(a, "/v1/members")
        assert status == 200
        assert [r["name"] for r in rows] == ["py-0", "py-1", "py-2"]
        assert [r["tags"] for r in rows] == [{"idx": "0"}, {"idx": "1"}, {"idx": "2"}]
        assert {r["state"] for r in rows} == {"alive"}
        assert rows[1]["delegate"] == [2, 5, 5]

        status, stats = await call(a, "/v1/stats")
        assert status == 200
        assert stats["members"] == 3
        assert stats["node"]["push_pulls_received"] >= 2
        assert stats["agent"]["serf_messages_received"]["join"] >= 2
        assert await call(a, "/v1/health") == (
            200,
            {"status": "ok", "members": 3, "health_score": 0},
        )

        assert (await call(a, "/v1/members", method="POST"))[0] == 405
        assert (await call(a, "/v1/nothing"))[0] == 404
        assert (await call(a, "/v1/keys"))[0] == 400  # no encryption on these agents
        status, body = await post(a, "/v1/join", {"address": "nonsense:x"})
        assert status == 400
        status, body = await post(a, "/v1/join", {"address": "10.9.9.9:7946"})
        assert status == 400
        assert "10.9.9.9" in body["error"]


async def test_failed_and_left_members_are_listed(autojump_clock: trio.testing.MockClock) -> None:
    net = MemoryNetwork(seed=4)
    async with agents(net, 4) as (a, b, c, d):
        for x in (b, c, d):
            await x.join([address(a)])
        await until(lambda: all(x.node.num_members() == 4 for x in (a, b, c, d)))

        await c.leave()  # the Serf way: leave intent, memberlist leave, a short stay
        net.kill(d.node.local_member.host)
        await until(lambda: a.book.departed.keys() == {"py-2", "py-3"})
        assert await states(a) == {
            "py-0": "alive",
            "py-1": "alive",
            "py-2": "left",
            "py-3": "failed",
        }
        # Serf needs py-2's leave intent to say "left": it reached a (relayed if need be).
        leaves = [decode_intent(m) for m in a.delegate.recent if m[:1] == b"\x00"]
        assert any(i.node == "py-2" for i in leaves)


async def test_key_rotation_through_the_api(autojump_clock: trio.testing.MockClock) -> None:
    net = MemoryNetwork(seed=5)
    async with agents(net, 2, keys=(K1,)) as (a, b):
        await b.join([address(a)])
        await until(lambda: all(x.node.num_members() == 2 for x in (a, b)))
        for op, key in (("install", K2), ("use", K2), ("remove", K1)):
            for x in (a, b):
                status, body = await post(x, f"/v1/keys/{op}", _k(key))
                assert status == 200, body
            await two_probe_rounds(a)
        assert await call(a, "/v1/keys") == (
            200,
            {"primary": base64.b64encode(K2).decode(), "keys": [base64.b64encode(K2).decode()]},
        )
        for x in (a, b):
            assert x.node.num_members() == 2
            assert x.node.statistics().bad_packets == 0

        status, body = await call(a, f"/v1/keys/install?key={base64.b64encode(K1).decode()}")
        assert status == 405  # GET never installs a key
        assert len((await call(a, "/v1/keys"))[1]["keys"]) == 1
        status, body = await post(a, "/v1/keys/remove", _k(K2))
        assert status == 400
        assert "primary" in body["error"]
        status, body = await post(a, "/v1/keys/use", _k(K1))
        assert status == 400
        assert "not installed" in body["error"]
        status, body = await post(a, "/v1/keys/install", {"key": "abc"})
        assert status == 400
        # A "+" in base64 arrives intact in JSON.
        plus = bytes([0xFB] * 16)
        raw = base64.b64encode(plus).decode()
        assert "+" in raw
        status, body = await post(a, "/v1/keys/install", {"key": raw})
        assert status == 200
        assert raw in body["keys"]
