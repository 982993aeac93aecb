"""Label roll-out and refusals against Go memberlist v0.7.0.

1. ``skip_inbound_label_check``: as Go's SkipInboundLabelCheck (net.go, ingestPacket and
   handleConn), a node takes unlabelled packets and streams as if they carried its own label
   (which is then the GCM associated data), and refuses labelled ones ("unexpected double
   label header"), so a label can be rolled out in a live cluster without a split.
2. A refused label is counted for every packet and logged once per peer and label, at warning
   level, naming both labels.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from interop.go_peer import Timing, go_peers
from interop.trio_side import eventually, run

from trio_gossip import Config, open_memberlist

pytestmark = pytest.mark.interop

TIMING = Timing(profile="local", probe_interval=0.5, push_pull_interval=2.0)
BOUND = 5.0


async def test_trio_skip_inbound_label_check_takes_unlabelled_go_streams(tmp_path: Path) -> None:
    config: Config = TIMING.config(
        name="py-1",
        bind_addr="127.0.0.1",
        bind_port=0,
        label="team-a",
        skip_inbound_label_check=True,
    )
    with go_peers(tmp_path) as peers:
        async with open_memberlist(config) as node:
            seed = f"127.0.0.1:{node.local_member.port}"
            go = await run(lambda: peers.start(join=[seed], timing=TIMING))
            assert go.join_errors == {}  # our node took Go's unlabelled push/pull
            assert node.member("go-0") is not None
            # A labelled stream is refused by a node that skips the check, as Go does.
            labelled = await run(lambda: peers.start(prefix="gl-", label="team-a", timing=TIMING))
            result = await run(labelled.join, "gl-0", [seed])
            assert result["joined"] == 0, result


async def test_refused_label_is_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="trio_gossip")
    with go_peers(tmp_path) as peers:
        go = await run(
            lambda: peers.start(label="team-a", skip_inbound_label_check=True, timing=TIMING)
        )
        config = TIMING.config(name="py-1", bind_addr="127.0.0.1", bind_port=0)
        async with open_memberlist(config) as node:
            await node.join([go.address("go-0")])

            async def refused_many() -> bool:
                return node.statistics().bad_packets >= 5

            await eventually(refused_many, BOUND, "py-1 to refuse five labelled packets")
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and "label" in r.getMessage()
    ]
    assert len(warnings) == 1, warnings
    assert "team-a" in warnings[0]
