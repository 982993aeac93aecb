"""Agents in a hash ring (``agent --ring``): one ring, /v1/ring, and ``trio-gossip ring``."""

from __future__ import annotations

import io
import json
from contextlib import AsyncExitStack, redirect_stdout
from typing import Any

import trio
import trio.testing

from trio_gossip.apps.agent.http import Request
from trio_gossip.apps.agent.options import AgentOptions
from trio_gossip.apps.agent.ring import ring_handler
from trio_gossip.apps.agent.runner import Agent, open_agent
from trio_gossip.apps.cli import main
from trio_gossip.apps.sim.ring_cluster import wait_until
from trio_gossip.core.ring.instance import InstanceState
from trio_gossip.core.ring.view import render_table
from trio_gossip.shell.kv.store import KVStore
from trio_gossip.transport.memory import MemoryNetwork


def store_of(agent: Agent) -> KVStore:
    assert agent.kv is not None
    return agent.kv


async def test_agents_share_one_ring_and_leave_it(autojump_clock: trio.testing.MockClock) -> None:
    net = MemoryNetwork(seed=71)
    async with AsyncExitStack() as stack:
        agents = []
        for i in range(3):
            opts = AgentOptions(name=f"a{i}", ring="collectors", ring_zone=f"z{i % 2}")
            agents.append(
                await stack.enter_async_context(open_agent(opts, transport=net.add_node()))
            )
        host, port = agents[0].node.local_member.address
        for agent in agents[1:]:
            await agent.join([f"{host}:{port}"])
        stores = [store_of(a) for a in agents]
        names = {"a0", "a1", "a2"}

        def ring_ids(kv: KVStore) -> set[str]:
            ring = kv.get("collectors")
            return set() if ring is None else {d.id for d in ring.live()}

        await wait_until(lambda: all(ring_ids(kv) == names for kv in stores), 30.0)
        page = (await ring_handler(stores[0], "collectors")(Request("GET", "/v1/ring", {}))).body
        assert isinstance(page, dict)
        assert {s["id"] for s in page["shards"]} == names
        assert {s["zone"] for s in page["shards"]} == {"z0", "z1"}
        assert page["shards"][0]["address"] == "{}:{}".format(*agents[0].node.local_member.address)
        assert "a1" in render_table(page)
        # Serf's side of the delegate still works next to the ring.
        # (a ring agent announces the KV in a tag, so only KV peers get KV traffic)
        assert agents[1].delegate.tags_of(agents[0].node.local_member.meta) == {
            "trio-gossip-kv": "1"
        }
        await stack.aclose()  # a2, a1 then a0 leave the ring, then the cluster
    # The last one out is a0: it saw the others' LEFT tombstones before it went.
    final = stores[0].replica.entries["collectors"].value
    assert {d.id for d in final.instances.values() if d.is_tombstone} >= {"a1", "a2"}


async def test_agent_leave_leaves_the_ring_before_the_cluster(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """dskit's order: the instance's LEFT tombstone reaches the others while the agent is
    still a member; only then does it leave the cluster (what SIGTERM runs)."""
    net = MemoryNetwork(seed=72)
    async with AsyncExitStack() as stack:
        a, b = [
            await stack.enter_async_context(
                open_agent(AgentOptions(name=name, ring="ring"), transport=net.add_node())
            )
            for name in ("a", "b")
        ]
        await b.join(["{}:{}".format(*a.node.local_member.address)])
        kv_b = store_of(b)
        await wait_until(lambda: kv_b.get("ring") is not None
                         and kv_b.get("ring").instance("a") is not None, 30.0)  # fmt: skip
        seen: dict[str, float] = {}

        async def observe() -> None:
            while len(seen) < 2:
                ring = kv_b.get("ring")
                if "ring" not in seen and ring is not None and ring.instance("a") is None:
                    seen["ring"] = trio.current_time()
                member = b.node.member("a")
                if "cluster" not in seen and member is not None and not member.is_live:
                    seen["cluster"] = trio.current_time()
                await trio.sleep(0.01)

        # Both must show within two push/pull intervals (anti-entropy repairs a lost copy).
        with trio.fail_after(2 * a.node.config.push_pull_interval):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(observe)
                await a.leave()
        assert a.lifecycler is not None
        assert a.lifecycler.state is InstanceState.LEFT
        assert seen["ring"] < seen["cluster"]


def test_ring_command_prints_an_agents_ring() -> None:
    """Real sockets on loopback: an agent with --ring --http, then the CLI against it."""

    async def scenario() -> dict[str, Any]:
        opts = AgentOptions(name="solo", bind=("127.0.0.1", 0), http=("127.0.0.1", 0),
                            ring="ring", profile="local")  # fmt: skip
        with trio.fail_after(20):
            async with open_agent(opts) as agent:
                assert agent.http_address is not None
                await wait_until(lambda: store_of(agent).get("ring") is not None, 10, step=0.05)
                host, port = agent.http_address
                table, as_json = io.StringIO(), io.StringIO()

                def run_cli() -> tuple[int, int]:
                    with redirect_stdout(table):
                        first = main(["ring", "--http", f"{host}:{port}"])
                    with redirect_stdout(as_json):
                        second = main(["ring", "--http", f"{host}:{port}", "--json", "--tokens"])
                    return first, second

                assert await trio.to_thread.run_sync(run_cli) == (0, 0)
        page: dict[str, Any] = json.loads(as_json.getvalue())
        page["table"] = table.getvalue()
        return page

    page = trio.run(scenario)
    assert [s["id"] for s in page["shards"]] == ["solo"]
    assert len(page["shards"][0]["token_list"]) == 128
    assert "solo" in page["table"]
    assert "1 instances" in page["table"]
    assert main(["ring", "--http", "127.0.0.1:1"]) == 1  # nobody there
