"""``/metrics`` scraped over HTTP from a live agent in a small real-socket cluster.

Two agents run here on loopback UDP/TCP, a third is a separate ``trio-gossip agent`` process;
``kill -9`` of that process must raise the scraped dead verdicts (memberlist's
``memberlist.msg.dead``, state.go deadNode) and a KV CAS must raise dskit's
``memberlist_client_cas_attempt_total`` (dskit kv/memberlist/memberlist_client.go CAS).
"""

from __future__ import annotations

import http.client
import signal
import subprocess
import sys
from contextlib import AsyncExitStack

import trio
from prometheus_client.parser import text_string_to_metric_families

from trio_gossip.apps.agent.options import AgentOptions
from trio_gossip.apps.agent.runner import Agent, open_agent

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str) -> Samples:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _get(address: tuple[str, int]) -> tuple[int, str]:
    conn = http.client.HTTPConnection(*address, timeout=5)
    try:
        conn.request("GET", "/metrics")
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


async def scrape(agent: Agent) -> Samples:
    assert agent.http_address is not None
    status, text = await trio.to_thread.run_sync(_get, agent.http_address)
    assert status == 200, text
    return samples(text)


async def until(check: object, timeout: float) -> None:
    with trio.fail_after(timeout):
        while not check():  # type: ignore[operator]
            await trio.sleep(0.05)


async def test_kill_9_and_a_cas_move_the_scraped_metrics() -> None:
    loopback = ("127.0.0.1", 0)
    a_opts = AgentOptions(name="live-a", bind=loopback, http=loopback, profile="local",
                          ring="ring")  # fmt: skip
    b_opts = AgentOptions(name="live-b", bind=loopback, profile="local", ring="ring")
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(open_agent(a_opts))
        b = await stack.enter_async_context(open_agent(b_opts))
        seed = "{}:{}".format(*a.node.local_member.address)
        await b.join([seed])
        argv = [sys.executable, "-m", "trio_gossip", "agent", "--name", "live-c",
                "--bind", "127.0.0.1:0", "--profile", "local", "--ring", "ring",
                "--join", seed]  # fmt: skip
        proc = await trio.lowlevel.open_process(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            await until(lambda: a.node.num_members() == 3, timeout=30)
            await until(lambda: a.kv is not None and len(a.kv.get("ring").live()) == 3, 30)
            before = await scrape(a)
            assert before["memberlist_node_instances", (("node_state", "alive"),)] == 3
            assert before["memberlist_client_cluster_members_count", ()] == 3
            assert before["memberlist_msg_dead", ()] == 0
            assert before["memberlist_udp_received", ()] > 0
            assert before["cortex_ring_members", (("name", "ring"), ("state", "ACTIVE"))] == 3

            proc.send_signal(signal.SIGKILL)  # no leave: peers must find it dead
            await proc.wait()
            # local profile: suspicion 3 x max(1, log10 3) x 1 s probe interval, plus probes.
            await until(lambda: a.node.num_members() == 2, timeout=30)
            after = await scrape(a)
            assert after["memberlist_msg_dead", ()] == before["memberlist_msg_dead", ()] + 1
            assert after["memberlist_msg_suspect", ()] >= 1
            assert after["memberlist_node_instances", (("node_state", "dead"),)] == 1
            assert after["memberlist_udp_received", ()] > before["memberlist_udp_received", ()]

            cas = after["memberlist_client_cas_attempt_total", ()]
            assert a.kv is not None
            await a.kv.cas("ring", lambda value: None)  # a CAS that changes nothing
            later = await scrape(a)
            assert later["memberlist_client_cas_attempt_total", ()] >= cas + 1
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
