"""Scenario 6: protocol versions 2 to 5, compression on and off, CRC on, in one cluster of
Go memberlist v0.7.0 and trio_gossip nodes.

Each Go process runs one version with compression on or off; each trio node another mix.
Every node must see every other alive, and user messages and metadata must cross between any
two versions, with nothing refused or complained about on either side.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import pytest
from interop.go_peer import GoPeer, Timing, go_peers
from interop.trio_side import Inbox, Observers, eventually, resend_until, run

from trio_gossip import Memberlist, open_memberlist

pytestmark = pytest.mark.interop

TIMING = Timing(profile="local", probe_interval=0.5, push_pull_interval=2.0)
CONVERGENCE = 2 * 2.0 + 5.0
BOUND = 5.0
VERSIONS = (2, 3, 4, 5)


@asynccontextmanager
async def trio_nodes(inboxes: dict[int, Inbox]) -> AsyncIterator[list[Memberlist]]:
    """One trio node per version, compression off for 2 and 4, on for 3 and 5 (the reverse
    of the Go processes)."""
    async with AsyncExitStack() as stack:
        nodes = []
        for v, inbox in inboxes.items():
            config = TIMING.config(
                name=f"py{v}",
                bind_addr="127.0.0.1",
                bind_port=0,
                protocol_version=v,
                enable_compression=v % 2 == 1,
            )
            nodes.append(await stack.enter_async_context(open_memberlist(config, delegate=inbox)))
        yield nodes


async def exchange(node: Memberlist, inbox: Inbox, go: GoPeer, go_name: str) -> None:
    """Best-effort and reliable user messages from ``node`` to ``go_name`` and back."""
    me = node.local_member.name
    best, reliable = f"{me}->{go_name}".encode(), f"{me}=>{go_name}".encode() * 20
    back, back_reliable = f"{go_name}->{me}".encode(), f"{go_name}=>{me}".encode() * 20

    async def go_got(data: bytes) -> bool:
        return data in await run(go.messages, go_name)

    async def trio_got(data: bytes) -> bool:
        return data in inbox.messages

    async def send_back() -> None:
        await run(lambda: go.send(go_name, me, back, reliable=False))

    await resend_until(
        lambda: node.send_best_effort(go_name, best),
        lambda: go_got(best),
        BOUND,
        f"{go_name} to get {me}'s best-effort message",
    )
    await node.send_reliable(go_name, reliable)
    await eventually(lambda: go_got(reliable), BOUND, f"{go_name} to get {me}'s reliable one")
    await resend_until(
        send_back, lambda: trio_got(back), BOUND, f"{me} to get {go_name}'s best-effort message"
    )
    await run(lambda: go.send(go_name, me, back_reliable, reliable=True))
    await eventually(lambda: trio_got(back_reliable), BOUND, f"{me} to get the reliable one")


async def test_versions_2_to_5_and_compression_mixed(tmp_path: Path) -> None:
    with go_peers(tmp_path) as peers:
        gos: dict[int, GoPeer] = {}
        for v in VERSIONS:
            join = [gos[2].address("go2-0")] if gos else []
            gos[v] = await run(
                lambda v=v, join=join: peers.start(  # type: ignore[misc]
                    prefix=f"go{v}-",
                    protocol_version=v,
                    compression=v % 2 == 0,  # on for 2 and 4, off for 3 and 5
                    join=join,
                    timing=TIMING,
                )
            )
        seed = gos[2].address("go2-0")
        inboxes = {v: Inbox(meta=f"py{v}".encode()) for v in VERSIONS}
        async with trio_nodes(inboxes) as nodes:
            trios = dict(zip(VERSIONS, nodes, strict=True))
            for node in nodes:
                await node.join([seed])
            every = Observers(dict.fromkeys(gos.values()), nodes)
            for v in VERSIONS:
                await every.wait(f"go{v}-0", "alive", CONVERGENCE)
                await every.wait(f"py{v}", "alive", CONVERGENCE)

            # Messages across versions: trio v2 with Go v5, trio v5 with Go v2, trio v3 with
            # Go v4 (each pair also differs in compression).
            await exchange(trios[2], inboxes[2], gos[5], "go5-0")
            await exchange(trios[5], inboxes[5], gos[2], "go2-0")
            await exchange(trios[3], inboxes[3], gos[4], "go4-0")

            # Metadata from the v2 trio node reaches the v5 Go node, and back.
            inboxes[2].meta = b"py2-updated"
            assert await trios[2].update_metadata(timeout=BOUND)

            async def go_sees() -> bool:
                m = (await run(gos[5].members, "go5-0")).get("py2")
                return m is not None and m["meta"] == b"py2-updated".hex()

            await eventually(go_sees, CONVERGENCE, "go5-0 to see py2's new metadata")
            await run(gos[2].update_meta, "go2-0", b"go2-updated")

            async def trio_sees() -> bool:
                m = trios[5].member("go2-0")
                return m is not None and m.meta == b"go2-updated"

            await eventually(trio_sees, CONVERGENCE, "py5 to see go2-0's new metadata")

            for node in nodes:
                stats = node.statistics()
                assert (stats.bad_packets, stats.bad_streams) == (0, 0), node.local_member.name
            for go in gos.values():
                for name in go.names:
                    logs = await run(go.logs, name)
                    assert not [k for k in logs if "[ERR]" in k or "[WARN]" in k], logs
