"""``/memberlist``, ``/ring`` and ``POST /ring/forget`` of real agents over plain HTTP.

Two agents in a ring on loopback (tests/status_support.py); the second one's name and tag
carry ``<script>``, which every page must show as text.
"""

from __future__ import annotations

import argparse
import json

from status_support import HOSTILE_NAME, HOSTILE_TAG, Answer, request, ring_ids, two_agents, until

from trio_gossip.apps.agent.command import agent_options, configure_agent
from trio_gossip.apps.agent.options import AgentOptions
from trio_gossip.apps.agent.runner import Agent, open_agent
from trio_gossip.core.ring.instance import InstanceDesc, InstanceState
from trio_gossip.core.ring.model import Ring
from trio_gossip.shell.kv.history import KVMessage, MessageBuffer

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def escaped(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&#34;").replace("'", "&#39;"))  # fmt: skip


def assert_html_without_scripts(answer: Answer) -> None:
    assert answer.status == 200, answer.body
    assert answer.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in answer.headers["content-security-policy"]
    assert "<script" not in answer.body.lower()


async def test_memberlist_page_shows_members_keys_and_history_escaped() -> None:
    async with two_agents() as (a, b):
        assert a.history is not None
        await until(lambda: len(a.history.sent) > 0 and len(a.history.received) > 0)
        # b's join was a push/pull: a received b's ring key in b's state and sent its own.
        for buffer in (a.history.received, a.history.sent):
            pulled = [m for m in buffer if m.lane == "push/pull"]
            assert pulled
            assert all(a.history.decode(m) is not None for m in pulled)
            assert {p.key for m in pulled if (p := a.history.decode(m)) is not None} == {"ring"}
        page = await request(a.http_address, "GET", "/memberlist")
        assert_html_without_scripts(page)
        body = page.body
        assert escaped(HOSTILE_NAME) in body
        assert escaped(f"note={HOSTILE_TAG}") in body
        for member in (a, b):
            host, port = member.node.local_member.address
            assert f"{host}:{port}" in body
        assert 'id="member-count">2<' in body
        assert 'id="health-score">0<' in body
        # The ring key with its encoded size; the history with both directions.
        assert '<td class="key">ring</td>' in body
        size = len(a.kv.replica.entries["ring"].encoded(a.kv.codecs))  # type: ignore[union-attr]
        assert f'id="kv-total">{size}<' in body
        assert 'id="received"' in body
        assert 'id="sent"' in body
        assert "<td>own</td>" in body  # our own heartbeats, queued for gossip
        assert "<td>push/pull</td>" in body
        assert escaped(f"instance/{HOSTILE_NAME}") in body
        # The second agent runs no history: the page says how to turn it on.
        other = await request(b.http_address, "GET", "/memberlist")
        assert_html_without_scripts(other)
        assert 'id="history-off"' in other.body


async def test_ring_page_shows_instances_escaped_and_tokens_on_request() -> None:
    async with two_agents() as (a, b):
        page = await request(a.http_address, "GET", "/ring")
        assert_html_without_scripts(page)
        assert escaped(HOSTILE_NAME) in page.body
        assert page.body.count('class="state state-ACTIVE">ACTIVE<') == 2
        assert page.body.count('<td class="num">128</td>') == 2  # tokens per instance
        assert "Forget</button>" not in page.body  # both are healthy
        assert 'class="tokens"' not in page.body
        with_tokens = await request(a.http_address, "GET", "/ring?tokens=1")
        assert with_tokens.body.count('class="tokens"') == 2
        off = await request(b.http_address, "GET", "/ring")
        assert 'id="forget-off"' in off.body


async def _add_ghost(agent: Agent, name: str, *, age: float = 90.0) -> None:
    """An instance whose heartbeat stopped ``age`` seconds ago, past the 60 s heartbeat
    timeout (a crashed member), and younger than the store's 300 s tombstone horizon, which
    peers ignore older records behind."""
    assert agent.kv is not None
    then = agent.kv.now() - age
    ghost = InstanceDesc(name, addr="192.0.2.1:7946", state=InstanceState.ACTIVE,
                         tokens=(11, 22, 33), registered_at=then)  # fmt: skip

    def put(ring: Ring | None) -> Ring:
        assert ring is not None
        return ring.put(ghost, now=then, writer="test").heartbeat(name, now=then)

    await agent.kv.cas("ring", put)


async def test_forget_is_post_only_same_origin_opt_in_and_for_unhealthy_instances() -> None:
    ghost = "ghost-<b>1</b>"
    async with two_agents() as (a, b):
        await _add_ghost(a, ghost)
        await until(lambda: ghost in ring_ids(b))
        assert a.http_address is not None
        host = f"127.0.0.1:{a.http_address[1]}"
        page = await request(a.http_address, "GET", "/ring")
        assert page.body.count("Forget</button>") == 1
        assert f'value="{escaped(ghost)}"' in page.body
        assert escaped(ghost) in page.body
        assert "UNHEALTHY" in page.body

        got = await request(a.http_address, "GET", f"/ring/forget?forget={ghost}")
        assert got.status == 405
        assert got.headers["allow"] == "POST"

        form = f"forget={ghost}".encode()
        foreign = await request(a.http_address, "POST", "/ring/forget", form,
                                {**FORM, "Origin": "http://evil.example"})  # fmt: skip
        assert foreign.status == 403
        assert "Origin" in foreign.body

        refused = await request(b.http_address, "POST", "/ring/forget", form, FORM)
        assert refused.status == 403
        assert "--ring-forget" in refused.body

        healthy = await request(a.http_address, "POST", "/ring/forget",
                                json.dumps({"forget": "py-a"}).encode(),
                                {"Content-Type": "application/json"})  # fmt: skip
        assert healthy.status == 409
        assert "healthy" in json.loads(healthy.body)["error"]
        assert ring_ids(a) == {"py-a", HOSTILE_NAME, ghost}

        done = await request(a.http_address, "POST", "/ring/forget", form,
                             {**FORM, "Origin": f"http://{host}"})  # fmt: skip
        assert done.status == 303
        assert done.headers["location"] == "/ring"
        listed = await request(a.http_address, "GET", "/v1/ring")
        assert ghost not in {s["id"] for s in json.loads(listed.body)["shards"]}
        await until(lambda: ghost not in ring_ids(b))  # the tombstone was gossiped
        again = await request(a.http_address, "POST", "/ring/forget", form, FORM)
        assert again.status == 409


async def test_status_pages_without_a_ring() -> None:
    opts = AgentOptions(name="py-solo", bind=("127.0.0.1", 0), http=("127.0.0.1", 0),
                        profile="local")  # fmt: skip
    async with open_agent(opts) as agent:
        page = await request(agent.http_address, "GET", "/memberlist")
        assert_html_without_scripts(page)
        assert "runs no KV store" in page.body
        ring = await request(agent.http_address, "GET", "/ring")
        assert ring.status == 404
        assert "--ring NAME" in ring.body
        forget = await request(agent.http_address, "POST", "/ring/forget", b"forget=x", FORM)
        assert forget.status == 404


def test_the_history_buffer_is_bounded_by_bytes() -> None:
    """dskit's addMessageToBuffer: the newest messages whose sizes fit the limit."""
    buffer = MessageBuffer(100)
    for i in range(10):
        buffer.add(KVMessage(i, 0.0, bytes(30), 0))
    assert [m.id for m in buffer] == [7, 8, 9]
    assert buffer.size == 90
    buffer.add(KVMessage(10, 0.0, bytes(150), 0))  # bigger than the whole buffer
    assert len(buffer) == 0
    assert buffer.size == 0


def test_the_history_flag_is_off_by_default_and_sets_the_buffer() -> None:
    parser = argparse.ArgumentParser()
    configure_agent(parser)
    assert agent_options(parser.parse_args(["--name", "a"])).message_history_buffer_bytes == 0
    on = parser.parse_args(["--name", "a", "--message-history-buffer-bytes", "65536"])
    assert agent_options(on).message_history_buffer_bytes == 65536
