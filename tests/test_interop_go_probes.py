"""Scenario 7: TCP fallback pings and indirect probes (with nacks) between trio_gossip and Go
memberlist v0.7.0.

Everything runs in a network namespace the test creates and deletes, where an nftables rule
in the output hook drops chosen UDP traffic (senders get EPERM from sendto; TCP still passes),
as tests/test_interop_tcp_fallback.py does for Serf. A ``trio-gossip agent`` (py-1) and a Go
peer with two nodes (go-0, go-1) form the cluster; the Go peer captures its traffic, which
trio_gossip.wire decodes to see the indirect pings, acks and nacks themselves.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from interop.cli_agent import SERF_DELEGATE_VERSION, CliAgent
from interop.go_peer import GoPeer, Timing, detection_bound, go_peers, port_of, read_capture
from interop.nft import add_output_chain, add_output_rule, flush_output_chain
from interop.procs import ProcessGroup, network_namespace, require
from interop.trio_side import Observers, eventually, run

from trio_gossip import Config
from trio_gossip.wire import Ack, IndirectPing, Nack, decode_packet_lenient

pytestmark = pytest.mark.interop

TABLE = "tggo"
TIMING = Timing(profile="local", probe_interval=0.5, push_pull_interval=2.0)
AGENT = Config.local()  # the agent's profile
CONVERGENCE = 2 * 2.0 + 5.0
# Each node probes each of its 2 peers within 2 of its probe intervals (round-robin); the
# slower side is the agent (1 s). Two such rounds, plus the probe timeout and slack.
PROBE_ROUNDS = 2 * 2 * AGENT.probe_interval + AGENT.probe_timeout + 2.0


@pytest.fixture
def netns() -> Iterator[str]:
    require("nft", "install nftables")
    with network_namespace() as ns:
        add_output_chain(ns, TABLE)
        yield ns


def drop_udp(ns: str, *, sport: int | None = None, dport: int) -> None:
    """Replace the rules with one dropping UDP to port ``dport`` (from ``sport`` if given)."""
    flush_output_chain(ns, TABLE)
    rule = ["ip", "daddr", "127.0.0.1"]
    if sport is not None:
        rule += ["udp", "sport", str(sport)]
    add_output_rule(ns, TABLE, *rule, "udp", "dport", str(dport), "counter", "drop")


def decoded(record: dict[str, object]) -> list[object]:
    return list(decode_packet_lenient(bytes.fromhex(str(record["hex"]))).messages)


def exchanges(capture: Path, node: str, peer_port: int, start: int) -> list[tuple[str, object]]:
    """Every message ``node`` sent to or received from ``peer_port`` in the capture's records
    from index ``start`` on: (direction, message)."""
    out = []
    for r in read_capture(capture)[start:]:
        if r["kind"] == "packet" and r["node"] == node and port_of(str(r["peer"])) == peer_port:
            out += [(str(r["dir"]), m) for m in decoded(r)]
    return out


def answered(seqs: set[int], replies: list[object], kind: type) -> set[int]:
    return {m.seq_no for m in replies if isinstance(m, kind)} & seqs  # type: ignore[attr-defined]


async def test_tcp_fallback_and_indirect_probes(tmp_path: Path, netns: str) -> None:
    capture = tmp_path / "go.capture.jsonl"
    group = ProcessGroup()
    with go_peers(tmp_path, netns=netns) as peers:
        try:
            go = await run(
                lambda: peers.start(
                    count=2, delegate_version=SERF_DELEGATE_VERSION, timing=TIMING, capture=capture
                )
            )

            def start_agent() -> CliAgent:
                agent = CliAgent(
                    "py-1", "127.0.0.1", tmp_path, join=[go.address("go-0")], netns=netns
                )
                group.add(agent.process)
                return agent.wait_ready()

            agent = await run(start_agent)
            await _scenario(netns, go, agent, capture)
        finally:
            group.close()


async def _scenario(ns: str, go: GoPeer, agent: CliAgent, capture: Path) -> None:
    every = Observers({go: None}, agents=[agent])
    names = ["go-0", "go-1", "py-1"]

    async def all_alive(what: str) -> None:
        for name in names:
            await every.wait(name, "alive", CONVERGENCE)

    await all_alive("the cluster to form in the namespace")
    py1, go0, go1 = agent.bind[1], go.nodes["go-0"][1], go.nodes["go-1"][1]

    async def tcp_successes() -> int:
        return int((await run(agent.stats))["node"]["tcp_fallback_successes"])

    async def go_warned(node: str, before: int) -> bool:
        fragment = "Was able to connect to py-1 over TCP but UDP probes failed"
        return await run(go.log_count, node, fragment) > before

    # UDP to py-1 dropped: its probes get no UDP ack and end in TCP pings Go answers; Go's
    # probes of it end in TCP pings it answers (Go logs that UDP failed but TCP worked).
    drop_udp(ns, dport=py1)
    before, warned = await tcp_successes(), await run(go.log_count, "go-0", "Was able")

    async def fallback_both_ways() -> bool:
        return await tcp_successes() >= before + 2 and await go_warned("go-0", warned)

    await eventually(fallback_both_ways, PROBE_ROUNDS, "TCP fallback pings both ways")
    await all_alive("everyone alive with UDP to py-1 dropped")

    # UDP to go-1 dropped: go-1 reaches py-1 only by TCP, and py-1 reaches go-1 only by TCP.
    # The indirect pings each sends through the other side's helper fail too, so each helper
    # answers with a nack (net.go handleIndirectPing), while the TCP pings keep go-1 alive.
    drop_udp(ns, dport=go1)
    before, warned = await tcp_successes(), await run(go.log_count, "go-1", "Was able")
    start = len(read_capture(capture))

    async def fallback_and_nacks() -> bool:
        seen = exchanges(capture, "go-0", py1, start)
        asked_go = {m.seq_no for d, m in seen if d == "in" and isinstance(m, IndirectPing)}
        asked_trio = {m.seq_no for d, m in seen if d == "out" and isinstance(m, IndirectPing)}
        go_nacked = answered(asked_go, [m for d, m in seen if d == "out"], Nack)
        trio_nacked = answered(asked_trio, [m for d, m in seen if d == "in"], Nack)
        fallback = await tcp_successes() > before and await go_warned("go-1", warned)
        return bool(fallback and go_nacked and trio_nacked)

    await eventually(fallback_and_nacks, PROBE_ROUNDS, "TCP pings with go-1, nacks both ways")
    await all_alive("everyone alive with UDP to go-1 dropped")

    # Only py-1 -> go-1 dropped: py-1's indirect ping through the Go helper go-0 succeeds.
    drop_udp(ns, sport=py1, dport=go1)
    start = len(read_capture(capture))

    async def relayed_by_go() -> bool:
        seen = exchanges(capture, "go-0", py1, start)
        asks = {
            m.seq_no
            for d, m in seen
            if d == "in" and isinstance(m, IndirectPing) and m.node == "go-1" and m.nack
        }
        return bool(answered(asks, [m for d, m in seen if d == "out"], Ack))

    await eventually(relayed_by_go, PROBE_ROUNDS, "go-0 to relay py-1's indirect ping to go-1")
    await all_alive("everyone alive with py-1 -> go-1 dropped")

    # Only go-0 -> go-1 dropped: go-0's indirect ping through the trio helper py-1 succeeds.
    drop_udp(ns, sport=go0, dport=go1)
    start = len(read_capture(capture))

    async def relayed_by_trio() -> bool:
        seen = exchanges(capture, "go-0", py1, start)
        asks = {
            m.seq_no
            for d, m in seen
            if d == "out" and isinstance(m, IndirectPing) and m.node == "go-1" and m.nack
        }
        return bool(answered(asks, [m for d, m in seen if d == "in"], Ack))

    await eventually(relayed_by_trio, PROBE_ROUNDS, "py-1 to relay go-0's indirect ping")
    await all_alive("everyone alive with go-0 -> go-1 dropped")

    # And with nothing dropped any more, go-1 stopping is seen as a failure by both sides.
    flush_output_chain(ns, TABLE)
    await run(go.shutdown, "go-1")
    survivors = Observers({go: ["go-0"]}, agents=[agent])
    await survivors.wait("go-1", "dead", detection_bound(AGENT, 3))
