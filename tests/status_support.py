"""Two real agents in a ring on loopback for the status-page tests, and plain HTTP helpers.

``a`` serves HTTP with --ring-forget and a message history; ``b`` joins it with a hostile
name and tag (everything a page shows comes from the network) and serves HTTP without
--ring-forget.
"""

from __future__ import annotations

import http.client
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager

import attrs
import trio

from trio_gossip.apps.agent.options import AgentOptions
from trio_gossip.apps.agent.runner import Agent, open_agent

HOSTILE_NAME = "py-<script>document.title='pwned'</script>"
HOSTILE_TAG = '<script>alert("tag")</script>'
LOOPBACK = ("127.0.0.1", 0)


@attrs.frozen
class Answer:
    status: int
    headers: dict[str, str]
    body: str


def _request(address: tuple[str, int], method: str, path: str, body: bytes | None,
             headers: dict[str, str]) -> Answer:  # fmt: skip
    conn = http.client.HTTPConnection(*address, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read().decode()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
    finally:
        conn.close()


async def request(address: tuple[str, int] | None, method: str, path: str,
                  body: bytes | None = None, headers: dict[str, str] | None = None
                  ) -> Answer:  # fmt: skip
    assert address is not None
    return await trio.to_thread.run_sync(
        lambda: _request(address, method, path, body, headers or {})
    )


async def until(check: Callable[[], bool], timeout: float = 30.0) -> None:
    with trio.fail_after(timeout):
        while not check():
            await trio.sleep(0.05)


def ring_ids(agent: Agent) -> set[str]:
    ring = agent.kv.get("ring") if agent.kv is not None else None
    return {d.id for d in ring.live()} if ring is not None else set()


@asynccontextmanager
async def two_agents(history_bytes: int = 65536) -> AsyncIterator[tuple[Agent, Agent]]:
    a_opts = AgentOptions(name="py-a", bind=LOOPBACK, http=LOOPBACK, profile="local",
                          ring="ring", ring_forget=True,
                          message_history_buffer_bytes=history_bytes)  # fmt: skip
    b_opts = AgentOptions(name=HOSTILE_NAME, bind=LOOPBACK, http=LOOPBACK, profile="local",
                          ring="ring", tags=(("note", HOSTILE_TAG),))  # fmt: skip
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(open_agent(a_opts))
        b = await stack.enter_async_context(open_agent(b_opts))
        await b.join(["{}:{}".format(*a.node.local_member.address)])
        await until(lambda: a.node.num_members() == 2 and len(ring_ids(a)) == 2)
        await until(lambda: len(ring_ids(b)) == 2)
        yield a, b
