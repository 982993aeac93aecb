"""A dskit ring as the ring page model that ``core.ring.view.render_table`` draws (instance,
zone, state, address, heartbeat age, tokens, owned %), and as JSON for ``--json``.

Health is dskit's (ring/model.go IsHeartbeatHealthy): a heartbeat within the timeout. Ownership
is the share of the 32-bit token space each instance's tokens close (dskit's ring status page,
ring/http.go: a token owns the range from the token before it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from trio_gossip.wire.dskit.ring_desc import Desc, InstanceState, encode_desc

TOKEN_SPACE = 1 << 32
HEARTBEAT_TIMEOUT = 60.0
"""dskit's -ring.heartbeat-timeout default (one minute)."""


def ownership(desc: Desc) -> dict[str, float]:
    """Instance ID -> share of the token space it owns (LEFT instances hold no tokens)."""
    owners = sorted((t, name) for name, inst in desc.instances.items() for t in inst.tokens)
    shares: dict[str, float] = dict.fromkeys(desc.instances, 0.0)
    for i, (token, name) in enumerate(owners):
        previous = owners[i - 1][0]  # the first token wraps around to the last one
        shares[name] += ((token - previous) % TOKEN_SPACE or TOKEN_SPACE) / TOKEN_SPACE
    return shares


def _state_name(state: int) -> str:
    try:
        return InstanceState(state).name
    except ValueError:
        return str(state)


def ring_page(
    desc: Desc, now: float, *, heartbeat_timeout: float = HEARTBEAT_TIMEOUT, tokens: bool = False
) -> dict[str, Any]:
    """The page model of ``desc`` at ``now`` (Unix seconds), instances sorted by ID."""
    owned = ownership(desc)
    shards = []
    for name in sorted(desc.instances):
        inst = desc.instances[name]
        shard: dict[str, Any] = {
            "id": name,
            "zone": inst.zone,
            "state": _state_name(inst.state),
            "healthy": inst.timestamp > 0 and now - inst.timestamp <= heartbeat_timeout,
            "address": inst.addr,
            "registered_at": float(inst.registered_timestamp),
            "last_heartbeat": float(inst.timestamp),
            "read_only": inst.read_only,
            "tokens": len(inst.tokens),
            "ownership": owned.get(name, 0.0),
        }
        if tokens:
            shard["token_list"] = list(inst.tokens)
        shards.append(shard)
    return {
        "now": now,
        "heartbeat_timeout": heartbeat_timeout,
        "digest": hashlib.sha256(encode_desc(_sorted(desc))).hexdigest()[:12],
        "shards": shards,
    }


def _sorted(desc: Desc) -> Desc:
    instances: Mapping[str, Any] = {k: desc.instances[k] for k in sorted(desc.instances)}
    return Desc(instances)
