"""Gossip encryption with real Serf agents: a shared key forms a mixed cluster and can be
rotated without losing anyone; different keys form nothing and are rejected on both sides."""

from __future__ import annotations

import base64
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from interop.lab import Lab, Watch, alive, open_lab
from interop.procs import wait_until
from interop.serf import SerfRPCError

from trio_gossip.apps.agent.runner import REJECTION_CHECK_INTERVAL
from trio_gossip.wire import Keyring, encode_packet
from trio_gossip.wire.messages import Ping

pytestmark = pytest.mark.interop


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    yield from open_lab(tmp_path)


K1 = os.urandom(32)
K2 = os.urandom(16)
K3 = os.urandom(24)


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def serf_keys(lab: Lab, op: str, key: bytes | None = None) -> dict[str, Any]:
    """``serf keys`` through serf-a: a query to every member, trio agents included, which
    answer it; Serf fails the call unless every member reported success."""
    answer = lab.serfs["serf-a"].rpc().key(op, key)
    assert answer["NumResp"] == answer["NumNodes"] == len(lab.serfs) + len(lab.trios), answer
    assert answer["NumErr"] == 0, answer
    return answer


def test_shared_key_mixed_cluster_and_rotation_without_losing_anyone(lab: Lab) -> None:
    names = ["serf-a", "serf-b", "py-1", "py-2"]
    a = lab.serf("serf-a", key=K1)
    lab.serf("serf-b", key=K1).rpc().join(a.gossip_address)
    t1 = lab.trio("py-1", keys=[K1], join=[a.gossip_address])
    t2 = lab.trio("py-2", keys=[K1], join=[lab.serfs["serf-b"].gossip_address])
    lab.wait_views(alive(*names), 5.0, "the encrypted mixed cluster to form")
    assert serf_keys(lab, "list-keys")["Keys"] == {b64(K1): 4}

    watch = Watch(lab, names)
    try:
        # K1 -> K2 with Serf's own tool alone: the trio agents answer its queries and follow.
        serf_keys(lab, "install-key", K2)
        serf_keys(lab, "use-key", K2)
        serf_keys(lab, "remove-key", K1)
        for t in (t1, t2):
            assert t.get("/v1/keys") == {"primary": b64(K2), "keys": [b64(K2)]}
        # K2 -> K3 with our endpoint on ours and `serf keys` on theirs, step by step: install
        # everywhere, then switch everyone, then drop the old key.
        for op, serf_op, key in (("install", "install-key", K3), ("use", "use-key", K3),
                                 ("remove", "remove-key", K2)):  # fmt: skip
            for t in (t1, t2):
                t.key(op, key)
            serf_keys(lab, serf_op, key)
        # A few more probe rounds on the new key alone.
        probes = t1.stats()["node"]["probes"]
        wait_until(lambda: t1.stats()["node"]["probes"] >= probes + 3, 10.0, what="probes")
    finally:
        watch.stop()
    assert watch.polls > 10
    assert watch.lost == []
    lab.wait_views(alive(*names), 1.0, "everyone still alive")
    assert serf_keys(lab, "list-keys")["Keys"] == {b64(K3): 4}
    for t in (t1, t2):
        assert t.get("/v1/keys") == {"primary": b64(K3), "keys": [b64(K3)]}
        stats = t.stats()
        assert (stats["node"]["bad_packets"], stats["node"]["bad_streams"]) == (0, 0)
        assert stats["agent"]["serf_key_queries_answered"] >= 6
    # Only the new key gets in now.
    late = lab.trio("py-late", keys=[K3], join=[a.gossip_address])
    lab.wait_views(alive(*names, "py-late"), 5.0, "a node with only the new key to join")
    assert late.stats()["node"]["bad_packets"] == 0


def test_different_keys_form_nothing_and_both_sides_reject(lab: Lab) -> None:
    x = lab.serf("serf-x", key=K2)
    y = lab.trio("py-y", keys=[K1])

    # Serf joins us: we cannot decrypt its push/pull, count it, log it, answer an error.
    with pytest.raises(SerfRPCError):
        x.rpc().join(y.gossip_address)
    wait_until(lambda: y.stats()["node"]["bad_streams"] >= 1, 5.0, what="py-y to count it")
    # The agent sums up rejections every REJECTION_CHECK_INTERVAL (5 s): within two of them.
    wait_until(lambda: "rejected" in y.process.log(), 2 * REJECTION_CHECK_INTERVAL + 1.0,
               what="py-y to log it")  # fmt: skip

    # We join Serf: Serf cannot decrypt ours and logs it; our agent reports a failed join.
    z = lab.trio("py-z", keys=[K1], join=[x.gossip_address], wait=False)
    assert z.process.wait(30.0) == 1
    assert "failed to join" in z.process.log()
    wait_until(
        lambda: "No installed keys could decrypt" in x.process.log(),
        5.0,
        what="serf-x to log the rejection",
    )

    # A UDP packet under a foreign key is counted and logged too, and changes nothing.
    stray = encode_packet([Ping(1, "py-y")], keyring=Keyring([K2]))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(stray, y.bind)
    wait_until(lambda: y.stats()["node"]["bad_packets"] >= 1, 5.0, what="the stray packet")

    assert x.process.alive()
    assert y.process.alive()
    assert x.statuses() == {"serf-x": "alive"}
    assert y.statuses() == {"py-y": "alive"}
    assert "Traceback" not in y.process.log()
