"""``/metrics`` of live agents: memberlist's, dskit's KV and ring names, values that move."""

from __future__ import annotations

import http.client
from contextlib import AsyncExitStack

import trio
import trio.testing
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from trio_gossip.apps.agent.endpoint import endpoint
from trio_gossip.apps.agent.http import Request
from trio_gossip.apps.agent.options import AgentOptions
from trio_gossip.apps.agent.runner import Agent, open_agent
from trio_gossip.apps.metrics import MemberlistCollector
from trio_gossip.transport.memory import MemoryNetwork


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:  # Samples
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[s.name, tuple(sorted(s.labels.items()))] = s.value
    return out


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(agent: Agent, opts: AgentOptions) -> Samples:
    response = await endpoint(opts, agent)(Request("GET", "/metrics"))
    assert response.status == 200
    assert response.content_type.startswith("text/plain; version=0.0.4")
    return samples(str(response.body))


async def until(check: object, timeout: float = 120.0) -> None:
    with trio.fail_after(timeout):
        while not check():  # type: ignore[operator]
            await trio.sleep(0.1)


async def test_a_kill_raises_dead_verdicts_and_a_cas_raises_attempts(
    autojump_clock: trio.testing.MockClock,
) -> None:
    net = MemoryNetwork(seed=11)
    async with AsyncExitStack() as stack:
        optss = [AgentOptions(name=f"py-{i}", ring="ring", ring_zone=f"z{i % 2}")
                 for i in range(3)]  # fmt: skip
        agents = [await stack.enter_async_context(open_agent(o, transport=net.add_node()))
                  for o in optss]  # fmt: skip
        a = agents[0]
        seed = "{}:{}".format(*a.node.local_member.address)
        for x in agents[1:]:
            await x.join([seed])
        await until(lambda: all(x.node.num_members() == 3 for x in agents))
        await until(lambda: a.kv is not None and len(a.kv.get("ring").live()) == 3)
        before = await scrape(a, optss[0])
        assert before["memberlist_node_instances", (("node_state", "alive"),)] == 3
        assert before["memberlist_client_cluster_members_count", ()] == 3
        assert before["memberlist_msg_alive", ()] >= 3  # ourselves and two joiners
        assert before["memberlist_msg_dead", ()] == 0
        assert before["memberlist_health_score", ()] == 0
        assert before["memberlist_client_kv_store_count", ()] == 1
        assert before["trio_gossip_kv_value_bytes", (("key", "ring"),)] > 0
        assert before["cortex_ring_members", (("name", "ring"), ("state", "ACTIVE"))] == 3
        assert before["cortex_ring_tokens_total", (("name", "ring"),)] > 0
        zone0 = (("state", "ACTIVE"), ("zone", "z0"))
        assert before["trio_gossip_ring_members_by_zone", zone0] == 2
        cas = before["memberlist_client_cas_attempt_total", ()]
        assert cas >= 1
        # The joins were push/pulls, one address each.
        assert before["trio_gossip_join_attempts_total", ()] == 0  # a was joined, not joining
        b_samples = await scrape(agents[1], optss[1])
        assert b_samples["trio_gossip_join_attempts_total", ()] == 1
        assert b_samples["trio_gossip_join_failures_total", ()] == 0
        # A datagram that is not memberlist is counted under its reason.
        stranger = net.add_node()
        await stranger.send_packet(a.node.local_member.address, b"\xfe garbage")
        await until(lambda: a.node.statistics().bad_packets >= 1)
        bad = {labels: v for (name, labels), v in (await scrape(a, optss[0])).items()
               if name == "trio_gossip_bad_input_total"}  # fmt: skip
        assert sum(bad.values()) == 1
        assert all(label[0][1].startswith("packet: ") for label in bad)

        net.kill(agents[2].node.local_member.host)
        await until(lambda: a.node.num_members() == 2)
        after = await scrape(a, optss[0])
        assert after["memberlist_msg_dead", ()] == before["memberlist_msg_dead", ()] + 1
        assert after["memberlist_msg_suspect", ()] >= 1
        assert after["memberlist_node_instances", (("node_state", "dead"),)] == 1
        # By type: the probes that found the kill, and their answers before it.
        assert after["trio_gossip_messages_sent_total", (("type", "ping"),)] >= 1
        assert after["trio_gossip_messages_received_total", (("type", "ack"),)] >= 1
        assert after["trio_gossip_messages_sent_total", (("type", "suspect"),)] >= 1
        # The lifecycler's heartbeats are CAS operations on the ring.
        await until(lambda: a.kv is not None and a.kv.statistics().cas_attempts > cas)
        later = await scrape(a, optss[0])
        assert later["memberlist_client_cas_attempt_total", ()] > cas
        assert later["memberlist_client_cas_success_total", ()] >= 1


async def test_an_app_registers_the_collector_in_its_own_registry(
    autojump_clock: trio.testing.MockClock,
) -> None:
    net = MemoryNetwork(seed=12)
    async with open_agent(AgentOptions(name="solo"), transport=net.add_node()) as agent:
        registry = CollectorRegistry()
        registry.register(MemberlistCollector(agent.node))
        text = generate_latest(registry).decode()
        assert "# TYPE memberlist_msg_dead untyped" in text
        assert "# TYPE memberlist_client_cas_attempt_total counter" not in text  # no KV here
        got = samples(text)
        assert got["memberlist_node_instances", (("node_state", "alive"),)] == 1
        assert ("cortex_ring_members", (("name", "ring"), ("state", "ACTIVE"))) not in got


async def test_a_live_agent_serves_metrics_over_http() -> None:
    opts = AgentOptions(name="solo", bind=("127.0.0.1", 0), http=("127.0.0.1", 0),
                        profile="local")  # fmt: skip
    async with open_agent(opts) as agent:
        assert agent.http_address is not None

        def get() -> tuple[int, str, str]:
            conn = http.client.HTTPConnection(*agent.http_address, timeout=5)  # type: ignore[misc]
            conn.request("GET", "/metrics")
            r = conn.getresponse()
            return r.status, r.getheader("content-type") or "", r.read().decode()

        status, kind, text = await trio.to_thread.run_sync(get)
        assert status == 200
        assert kind.startswith("text/plain")
        got = samples(text)
        assert got["memberlist_client_cluster_members_count", ()] == 1
        assert ("memberlist_udp_sent", ()) in got
        assert ("memberlist_tcp_accept", ()) in got
