"""Helpers for the dskit wire-mode tests (tests/test_dskit_*.py): the Go reference peer built
from grafana/dskit (tests/peers/dskit) and conversions between its JSON and our objects."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from trio_gossip.wire.dskit import Desc, InstanceDesc, InstanceState

PEERS = Path(__file__).parent / "peers"
PEER_DIR = PEERS / "dskit"
PEER_BIN = PEERS / "bin" / "dskit"


def _stale() -> bool:
    if not PEER_BIN.exists():
        return True
    built = PEER_BIN.stat().st_mtime
    return any(p.stat().st_mtime > built for p in PEER_DIR.iterdir())


def peer_binary() -> Path:
    """The dskit peer, built with tests/peers/build.sh if it is missing or older than its source.

    Skips when Go is not there, unless TRIO_GOSSIP_REQUIRE_INTEROP=1 (CI), where it fails.
    """
    if _stale():
        go = shutil.which("go")
        if go is None and not PEER_BIN.exists():
            if os.environ.get("TRIO_GOSSIP_REQUIRE_INTEROP") == "1":
                pytest.fail("the dskit Go peer is not built and Go is not on PATH")
            pytest.skip("the dskit Go peer is not built and Go is not on PATH")
        if go is not None:
            done = subprocess.run(
                ["bash", str(PEERS / "build.sh"), "dskit"],
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
            )
            if done.returncode != 0:
                pytest.fail(f"building the dskit peer failed:\n{done.stdout}\n{done.stderr}")
    return PEER_BIN


def oracle(subcommand: str, request: dict[str, Any] | None = None, *args: str) -> dict[str, Any]:
    """Run one offline subcommand of the peer with a JSON request; its JSON answer."""
    done = subprocess.run(
        [str(peer_binary()), subcommand, *args],
        input=json.dumps(request or {}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"dskit peer {subcommand} failed: {done.stderr}")
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def instance_from_json(j: dict[str, Any]) -> InstanceDesc:
    state = j["state"]
    return InstanceDesc(
        addr=j["addr"],
        timestamp=j["timestamp"],
        state=InstanceState(state) if 0 <= state <= 4 else state,
        tokens=tuple(j["tokens"]),
        zone=j["zone"],
        registered_timestamp=j["registered_timestamp"],
        id=j["id"],
        read_only_updated_timestamp=j["read_only_updated_timestamp"],
        read_only=j["read_only"],
        versions=tuple((k, v) for k, v in j["versions"]),
    )


def instance_to_json(key: str, inst: InstanceDesc) -> dict[str, Any]:
    """The peer's JSON form of one instance (versions sorted by key)."""
    return {
        "key": key,
        "id": inst.id,
        "addr": inst.addr,
        "timestamp": inst.timestamp,
        "state": int(inst.state),
        "tokens": list(inst.tokens),
        "zone": inst.zone,
        "registered_timestamp": inst.registered_timestamp,
        "read_only_updated_timestamp": inst.read_only_updated_timestamp,
        "read_only": inst.read_only,
        "versions": [list(kv) for kv in sorted(inst.versions)],
    }


def desc_to_json(desc: Desc | None) -> list[dict[str, Any]] | None:
    """The peer's JSON form of a ring: instances sorted by key."""
    if desc is None:
        return None
    return [instance_to_json(k, desc.instances[k]) for k in sorted(desc.instances)]


def desc_from_json(instances: list[dict[str, Any]]) -> Desc:
    return Desc({j["key"]: instance_from_json(j) for j in instances})
