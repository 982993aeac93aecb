"""Scenario 4: memberlist labels (v0.3.0+) between trio_gossip and Go memberlist v0.7.0.

The same label joins both ways; a different label, or a label on one side only, is refused
both ways, and the refusal is counted (trio_gossip's bad stream counter, Go's log). Go's
SkipInboundLabelCheck is tested where our side needs no change: an unlabelled trio node can
join a labelled Go node that skips the inbound check (the first step of a label roll-out).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from interop.go_peer import GoPeer, GoPeers, Timing, go_peers
from interop.trio_side import Observers, eventually, run

from trio_gossip import JoinError, Memberlist, open_memberlist

pytestmark = pytest.mark.interop

TIMING = Timing(profile="local", probe_interval=0.5, push_pull_interval=2.0)
CONVERGENCE = 2 * 2.0 + 5.0
BOUND = 5.0  # a refusal is one TCP exchange on loopback


def trio_config(name: str, label: str) -> object:
    return TIMING.config(name=name, bind_addr="127.0.0.1", bind_port=0, label=label)


def address(node: Memberlist) -> str:
    return f"127.0.0.1:{node.local_member.port}"


async def test_same_label_joins_both_ways(tmp_path: Path) -> None:
    with go_peers(tmp_path) as peers:
        go = await run(lambda: peers.start(count=2, label="team-a", timing=TIMING))
        async with open_memberlist(trio_config("py-1", "team-a")) as node:  # type: ignore[arg-type]
            assert await node.join([go.address("go-0")]) == 1
            other = await run(
                lambda: peers.start(
                    prefix="gob-", label="team-a", join=[address(node)], timing=TIMING
                )
            )
            assert other.join_errors == {}
            every = Observers({go: None, other: None}, [node])
            for name in ["go-0", "go-1", "gob-0", "py-1"]:
                await every.wait(name, "alive", CONVERGENCE)
            for peer in (go, other):
                for name in peer.names:
                    assert await run(peer.log_count, name, "label") == 0


@pytest.mark.parametrize(
    ("trio_label", "go_label"),
    [("team-a", "team-b"), ("team-a", ""), ("", "team-a")],
    ids=["different", "trio-only", "go-only"],
)
async def test_label_mismatch_is_refused_both_ways(
    tmp_path: Path, trio_label: str, go_label: str
) -> None:
    with go_peers(tmp_path) as peers:
        go = await run(lambda: peers.start(label=go_label, timing=TIMING))
        async with open_memberlist(trio_config("py-1", trio_label)) as node:  # type: ignore[arg-type]
            await _refused_both_ways(peers, go, node, trio_label, go_label)


async def _refused_both_ways(
    peers: GoPeers, go: GoPeer, node: Memberlist, trio_label: str, go_label: str
) -> None:
    # trio -> Go: Go's handleConn discards the stream (net.go) and says why in its log.
    with pytest.raises(JoinError):
        await node.join([go.address("go-0")])
    discarded = f'discarding stream with unacceptable label "{trio_label}"'

    async def go_logged() -> int:
        return await run(go.log_count, "go-0", discarded)

    await eventually(go_logged, BOUND, f"go-0 to log {discarded!r}")

    # Go -> trio: our listener refuses Go's stream and counts it.
    before = node.statistics().bad_streams
    result = await run(go.join, "go-0", [address(node)])
    assert result["joined"] == 0, result
    assert "error" in result, result

    async def counted() -> bool:
        return node.statistics().bad_streams > before

    await eventually(counted, BOUND, "py-1 to count the refused stream")

    # Nothing formed on either side.
    assert [m.name for m in node.members()] == ["py-1"]
    assert set(await run(go.states, "go-0")) == {"go-0"}
    assert go_label or trio_label  # one side at least has a label


async def test_go_skipping_the_inbound_check_takes_unlabelled_trio_traffic(
    tmp_path: Path,
) -> None:
    """Go with label + SkipInboundLabelCheck accepts our unlabelled streams and packets (its
    handleConn and ingestPacket treat them as carrying its label); what it sends carries its
    label header, which an unlabelled trio_gossip node refuses: we have no such setting."""
    with go_peers(tmp_path) as peers:
        go = await run(
            lambda: peers.start(label="team-a", skip_inbound_label_check=True, timing=TIMING)
        )
        async with open_memberlist(trio_config("py-1", "")) as node:  # type: ignore[arg-type]
            assert await node.join([go.address("go-0")]) == 1

            async def go_knows_us() -> bool:
                return (await run(go.states, "go-0")).get("py-1") in ("alive", "suspect")

            await eventually(go_knows_us, BOUND, "go-0 to learn py-1 from its push/pull")
            assert await run(go.log_count, "go-0", "label") == 0

            # Go's own packets carry the label header: refused by our unlabelled node.
            before = node.statistics().bad_packets

            async def refused() -> bool:
                return node.statistics().bad_packets > before

            await eventually(refused, BOUND, "py-1 to refuse go-0's labelled packets")
