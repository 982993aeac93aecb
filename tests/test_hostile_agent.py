"""Hostile input against a live ``trio-gossip agent`` in a three-agent cluster: mutated
datagrams from the real vectors and hostile TCP streams (lying lengths, oversized frames,
half-open connections, slow senders, a connection flood). The agent must keep answering probes
(its peers never declare it dead), count what it refuses, keep running, and keep its RSS bounded.

Everything runs in a network namespace of its own, so a mutated message naming a random
address (an indirect ping, an alive) sends nothing beyond it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
from hostile_support import Hostile
from interop.cli_agent import CliAgent
from interop.procs import ProcessGroup, network_namespace, rss_kib, wait_until

pytestmark = pytest.mark.lab

DATAGRAMS = 20_000
RATE = 3_000.0  # datagrams a second: bounded, and within what one agent reads on loopback
ROUNDS = 40  # rounds of lying / oversized / mutated streams
FLOOD = 120  # half-open connections at once, under memberlist's 128 inbound push/pulls
HOLD = 3.0  # seconds each half-open connection stays open (the local profile's tcp_timeout is 1)
RSS_GROWTH_KIB = 24 * 1024  # bound on the target's RSS growth over the whole attack


@pytest.fixture
def netns() -> Iterator[str]:
    with network_namespace() as ns:
        yield ns


async def test_agent_survives_hostile_input(tmp_path: Path, netns: str) -> None:
    group = ProcessGroup()
    try:
        target = CliAgent("target", "127.0.0.1", tmp_path, netns=netns)
        group.add(target.process)
        target.wait_ready()
        peers = []
        for name in ("peer-1", "peer-2"):
            peer = CliAgent(name, "127.0.0.1", tmp_path, join=[target.address], netns=netns)
            group.add(peer.process)
            peers.append(peer.wait_ready())
        for agent in (target, *peers):
            wait_until(lambda a=agent: len(a.members()) == 3, 20.0, what=f"{agent.name} sees 3")
        await _attack(target, peers)
    finally:
        group.close()


async def _attack(target: CliAgent, peers: list[CliAgent]) -> None:
    before = target.stats()["node"]
    rss_before = rss_kib(target.process.pid)
    hostile = Hostile(target.netns, target.bind, seed=11)
    sent = hostile.sent
    verdicts: list[str] = []  # every state a peer gave the target while under attack

    async def watch(done: trio.Event) -> None:
        while not done.is_set():
            for peer in peers:
                states = await trio.to_thread.run_sync(peer.states)
                verdicts.append(states.get("target", "missing"))
            await trio.sleep(0.2)

    done = trio.Event()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(watch, done)
        async with trio.open_nursery() as attack:
            attack.start_soon(hostile.datagrams, DATAGRAMS, RATE)
            attack.start_soon(hostile.streams, ROUNDS, FLOOD, HOLD)
        # A probe round after the attack: the peers still hear from the target.
        await trio.sleep(2.0)
        done.set()

    assert target.process.alive(), f"target exited:\n{target.process.log()}"
    after = target.stats()["node"]
    rss_after = rss_kib(target.process.pid)
    received = after["packets_received"] - before["packets_received"]
    bad = after["bad_packets"] - before["bad_packets"]
    bad_streams = after["bad_streams"] - before["bad_streams"]
    print(
        f"sent {sent}; received {received}, bad_packets +{bad}, bad_streams +{bad_streams},"
        f" rss {rss_before} -> {rss_after} KiB, last_bad_stream {after['last_bad_stream']!r}"
    )

    # No false death: every peer listed the target alive at every poll (suspect is allowed:
    # a suspicion the target refutes is the protocol working).
    assert verdicts, "the watcher never polled"
    assert set(verdicts) <= {"alive", "suspect"}, sorted(set(verdicts))
    for peer in peers:
        assert peer.states()["target"] == "alive"
    # Each datagram our own decoder refuses is counted as bad (the engine also counts decodable
    # messages it refuses).
    # The kernel may drop some when the machine is busy; each lost one lowers the bad count by
    # at most one (the peers' own gossip in `received` is well under the 1% slack).
    assert received >= sent.datagrams * 0.8
    assert sent.datagrams_bad > DATAGRAMS // 4
    lost = max(0, sent.datagrams - received)
    assert bad >= sent.datagrams_bad - lost - sent.datagrams * 0.01
    # Each lying or oversized stream is refused and counted (half-open and slow ones time out).
    lying = sum(sent.streams[k] for k in ("encrypt_length_lie", "pushpull_nodes_oversized",
                                          "pushpull_state_oversized"))  # fmt: skip
    assert bad_streams >= lying
    assert rss_after - rss_before <= RSS_GROWTH_KIB, (rss_before, rss_after)
    # Every refusal is counted under a reason, and the half-open and slow streams as time-outs.
    reasons = after["bad_input_reasons"]
    print("reasons:", json.dumps(reasons, indent=1, sort_keys=True))
    assert sum(n for r, n in reasons.items() if r.startswith("packet: ")) >= bad * 0.95
    assert reasons.get("stream: timed out", 0) >= FLOOD * 0.9
    assert "other" not in reasons, sorted(reasons)
    rounds = sent.streams["pushpull_nodes_oversized"]
    assert reasons["stream: pushPull: node count # outside #"] >= rounds
    assert reasons["stream: pushPull: user data length # outside #"] >= rounds
    log = target.process.log()
    assert "Traceback" not in log, log[-4000:]
