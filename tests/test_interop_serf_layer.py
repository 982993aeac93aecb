"""Serf's own layer through a trio_gossip node run in-process: push/pull user state handed on
between Serf agents byte for byte, and Serf events and queries delivered to the user-message
hook without disturbing the node."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import msgpack
import pytest
from interop.aio import eventually, in_thread, options
from interop.lab import Lab, open_lab
from interop.serf import SerfAgent

from trio_gossip.apps.agent.runner import Agent, open_agent
from trio_gossip.apps.agent.serf import SerfMessageType, message_type

pytestmark = pytest.mark.interop


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    yield from open_lab(tmp_path)


def _decode(message: bytes) -> dict[str, object]:
    body = msgpack.unpackb(message[1:], raw=True)
    return {k.decode(): v for k, v in body.items()}


async def test_serf_joins_trio_nodes_and_its_state_is_handed_on(lab: Lab) -> None:
    async with (
        open_agent(options("py-1", lab.address())) as t1,
        open_agent(options("py-2", lab.address())) as t2,
    ):
        py1 = "{}:{}".format(*t1.node.local_member.address)
        await t2.join([py1])

        a = await in_thread(lambda: lab.serf("serf-a", tags={"role": "web"}))
        for i in range(3):  # move serf-a's event clock before it meets anyone
            await in_thread(a.rpc().event, f"e{i}", b"x")
        a_event_time = int((await in_thread(a.rpc().stats))["serf"]["event_time"])
        assert a_event_time == 4  # starts at 1, one tick per event

        assert await in_thread(a.rpc().join, py1) == 1  # a Serf agent joins the trio nodes

        async def merged() -> bytes:
            # py-1 answers with its own state first and merges serf-a's just after.
            return t1.delegate.last_state_received

        received = await eventually(merged, 5.0, "py-1 to merge serf-a's push/pull")
        assert message_type(received) is SerfMessageType.PUSH_PULL
        state = _decode(received)
        assert state["EventLTime"] == a_event_time
        assert b"serf-a" in state["StatusLTimes"]  # type: ignore[operator]
        # Lossless: the bytes are exactly one msgpack value that re-encodes to itself.
        assert (
            b"\x02" + msgpack.packb(msgpack.unpackb(received[1:], raw=True), use_bin_type=False)
            == received
        )

        b = await in_thread(lambda: lab.serf("serf-b"))
        assert int((await in_thread(b.rpc().stats))["serf"]["event_time"]) == 1
        assert await in_thread(b.rpc().join, py1) == 1  # b meets only py-1
        assert t1.delegate.last_state_sent == received  # handed on byte for byte
        # b learned serf-a's event clock from it, as from a Serf peer.
        assert int((await in_thread(b.rpc().stats))["serf"]["event_time"]) == a_event_time

        async def converged() -> bool:
            views = [await in_thread(s.statuses) for s in (a, b)]
            ours = [{m.name for m in t.node.members()} for t in (t1, t2)]
            names = {"serf-a", "serf-b", "py-1", "py-2"}
            return all(set(v) == names and set(v.values()) == {"alive"} for v in views) and all(
                o == names for o in ours
            )

        await eventually(converged, 5.0, "all four to list each other alive")
        assert t1.node.statistics().bad_packets == 0


async def test_serf_events_and_queries_reach_the_user_message_hook(lab: Lab) -> None:
    a = await in_thread(lambda: lab.serf("serf-a"))
    b = await in_thread(lambda: lab.serf("serf-b"))
    await in_thread(b.rpc().join, a.gossip_address)
    async with open_agent(options("py-1", lab.address())) as t:
        seen: list[bytes] = []
        t.delegate.listeners.append(seen.append)
        await t.join([a.gossip_address])
        await eventually(lambda: _all_alive(a, b, t), 5.0, "the cluster to form")

        await in_thread(a.rpc().event, "deploy", b"v1.2.3")

        async def got(kind: SerfMessageType, name: bytes) -> dict[str, object] | None:
            for message in seen:
                if message_type(message) is kind and _decode(message).get("Name") == name:
                    return _decode(message)
            return None

        event = await eventually(
            lambda: got(SerfMessageType.USER_EVENT, b"deploy"), 5.0, "the user event"
        )
        assert event["Payload"] == b"v1.2.3"

        rpc = "{}:{}".format(*a.rpc_address)
        query = await in_thread(
            lambda: subprocess.run(
                [
                    "serf",
                    "query",
                    f"-rpc-addr={rpc}",
                    "-timeout=1s",
                    "-format=json",
                    "ping-q",
                    "hello",
                ],
                capture_output=True,
                text=True,
                timeout=20,
                check=True,
            )
        )
        answer = json.loads(query.stdout)
        # We ack queries that ask for acks, as a Serf member does (and so count in serf query).
        assert set(answer["Acks"]) == {"serf-a", "serf-b", "py-1"}
        q = await eventually(lambda: got(SerfMessageType.QUERY, b"ping-q"), 5.0, "the query")
        assert q["Payload"] == b"hello"
        assert q["SourceNode"] == b"serf-a"

        # Undisturbed: two more probe rounds go by, nothing rejected, everyone still alive.
        probes = t.node.statistics().probes

        async def probed() -> bool:
            return t.node.statistics().probes >= probes + 2

        await eventually(probed, 5.0, "two more probe rounds")
        stats = t.node.statistics()
        assert stats.bad_packets == 0
        assert stats.user_messages_received >= 2
        assert await _all_alive(a, b, t)
        assert t.delegate.received["user_event"] >= 1
        assert t.delegate.received["query"] >= 1


async def _all_alive(a: SerfAgent, b: SerfAgent, t: Agent) -> bool:
    names = {"serf-a", "serf-b", "py-1"}
    for serf in (a, b):
        view = await in_thread(serf.statuses)
        if set(view) != names or set(view.values()) != {"alive"}:
            return False
    ours = {m.name: m.state.name for m in t.node.members()}
    return set(ours) == names and set(ours.values()) == {"ALIVE"}
