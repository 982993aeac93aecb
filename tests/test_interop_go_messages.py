"""Scenario 2: user messages between trio_gossip and Go memberlist v0.7.0, both ways, best
effort (one UDP packet) and reliable (a TCP stream).

The reliable ones are longer than 127 bytes, so Go's userMsgHeader carries UserMsgLen in
go-msgpack v2's signed form (``d1 ..``), which our stream decoder must take.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from interop.go_peer import Timing, go_peers
from interop.trio_side import Inbox, eventually, resend_until, run

from trio_gossip import open_memberlist

pytestmark = pytest.mark.interop

TIMING = Timing(profile="local", probe_interval=0.5, push_pull_interval=2.0)
BOUND = 5.0  # loopback: a stream arrives at once, a datagram is resent every 0.5 s


async def test_user_messages_both_ways(tmp_path: Path) -> None:
    with go_peers(tmp_path) as peers:
        go = await run(lambda: peers.start(count=2, timing=TIMING))
        inbox = Inbox()
        config = TIMING.config(name="py-1", bind_addr="127.0.0.1", bind_port=0)
        async with open_memberlist(config, delegate=inbox) as node:
            await node.join([go.address("go-0")])

            async def all_know_all() -> bool:
                census = await run(go.census, ["py-1"])
                go_know = all(c["states"]["py-1"] == "alive" for c in census.values())
                return go_know and all(node.member(n) is not None for n in go.names)

            # Join news reaches every node by gossip, or at the latest by the next push/pull.
            await eventually(all_know_all, 2 * 2.0 + BOUND, "the three nodes to know each other")

            def go_got(name: str, data: bytes) -> object:
                async def check() -> bool:
                    return data in await run(go.messages, name)

                return check

            def trio_got(data: bytes) -> object:
                async def check() -> bool:
                    return data in inbox.messages

                return check

            # trio -> Go
            best = b"best-effort from py-1"
            reliable = b"reliable from py-1 " + bytes(range(256)) * 2
            await resend_until(
                lambda: node.send_best_effort("go-0", best),
                go_got("go-0", best),  # type: ignore[arg-type]
                BOUND,
                "go-0 to get py-1's best-effort message",
            )
            await node.send_reliable("go-1", reliable)
            await eventually(go_got("go-1", reliable), BOUND, "go-1 to get py-1's reliable one")  # type: ignore[arg-type]

            # Go -> trio
            best_go = b"best-effort from go-1"
            reliable_go = b"reliable from go-0 " + bytes(range(255, -1, -1)) * 2
            await resend_until(
                lambda: run(lambda: go.send("go-1", "py-1", best_go, reliable=False)),
                trio_got(best_go),  # type: ignore[arg-type]
                BOUND,
                "py-1 to get go-1's best-effort message",
            )
            await run(lambda: go.send("go-0", "py-1", reliable_go, reliable=True))
            await eventually(trio_got(reliable_go), BOUND, "py-1 to get go-0's reliable one")  # type: ignore[arg-type]

            assert inbox.messages.count(reliable_go) == 1
            for name in go.names:
                errors = {k: v for k, v in (await run(go.logs, name)).items() if "[ERR]" in k}
                assert not errors, errors
