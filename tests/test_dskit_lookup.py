"""dskit's ring lookups against dskit itself: for 1,000 random keys and 100 tenant IDs on rings
made by dskit's token generator (with unhealthy, LEAVING, JOINING, PENDING and read-only
instances), ``RingView`` answers as ring.Ring does: Get (RF 3, zone-aware or not) for every
operation, GetAllHealthy, GetReplicationSetForOperation (max errors, max unavailable zones),
ShuffleShard (MD5-seeded Go math/rand), ShuffleShardWithLookback, and Get on the shards."""

from __future__ import annotations

import random
import time
from dataclasses import replace
from typing import Any

import pytest
from dskit_support import oracle

from trio_gossip.core.dskit import ops
from trio_gossip.core.dskit.errors import RingLookupError
from trio_gossip.core.dskit.merge import remove_tombstones
from trio_gossip.core.dskit.ring import ReplicationSet, RingConfig, RingView
from trio_gossip.wire.dskit import Desc, decode_desc, encode_desc

OPS = {
    "write": ops.WRITE,
    "write_no_extend": ops.WRITE_NO_EXTEND,
    "read": ops.READ,
    "reporting": ops.REPORTING,
}
LOOKBACK = 1800.0
SHARD_SIZES = [0, 3, 4, 9]


def _set_json(get: Any, sort: bool) -> dict[str, Any]:
    try:
        rs: ReplicationSet = get()
    except RingLookupError as exc:
        return {"max_errors": 0, "max_unavailable_zones": 0, "error": str(exc)}
    ids = [inst.id for inst in rs.instances]
    out: dict[str, Any] = {
        "max_errors": rs.max_errors,
        "max_unavailable_zones": rs.max_unavailable_zones,
    }
    if ids:
        out["ids"] = sorted(ids) if sort else ids
    return out


def _compare(desc: Desc, config: RingConfig, now: int, seed: int) -> None:
    rng = random.Random(seed)
    keys = [rng.getrandbits(32) for _ in range(1000)]
    tenants = [f"tenant-{rng.getrandbits(40):x}" for _ in range(100)]
    shard_keys = keys[:5]
    go = oracle(
        "lookup",
        {
            "desc_hex": encode_desc(desc).hex(),
            "rf": config.replication_factor,
            "zone_aware": config.zone_awareness_enabled,
            "heartbeat_timeout": config.heartbeat_timeout,
            "excluded_zones": sorted(config.excluded_zones),
            "keys": keys,
            "ops": list(OPS),
            "tenants": tenants,
            "shard_sizes": SHARD_SIZES,
            "lookback": LOOKBACK,
            "now": now,
            "shard_keys": shard_keys,
        },
    )
    at = go["now_start"]
    assert go["now_end"] - now < 40  # the ring's healthy/unhealthy margins still hold
    view = RingView.from_desc(remove_tombstones(desc, None)[0], config)
    assert view.zones() == (go["zones"] or [])
    for name, op in OPS.items():
        ours = [_set_json(lambda k=key, o=op: view.get(k, o, at), False) for key in keys]
        assert ours == go["get"][name], name
        assert _set_json(lambda o=op: view.get_all_healthy(o, at), True) == go["all_healthy"][name]
        assert (
            _set_json(lambda o=op: view.get_replication_set_for_operation(o, at), True)
            == go["for_op"][name]
        ), name
    shards = iter(go["shards"])
    for tenant in tenants:
        for size in SHARD_SIZES:
            expected = next(shards)
            shard = view.shuffle_shard(tenant, size)
            assert sorted(shard.instances) == expected["ids"], (tenant, size)
            lookback = view.shuffle_shard_with_lookback(tenant, size, LOOKBACK, now)
            assert sorted(lookback.instances) == expected["lookback_ids"], (tenant, size)
            got = [
                _set_json(lambda k=k, s=shard: s.get(k, ops.WRITE, at), False) for k in shard_keys
            ]
            assert got == expected["get"], (tenant, size)


@pytest.fixture(scope="module")
def mixed_ring() -> tuple[Desc, int]:
    now = int(time.time())
    made = oracle(
        "gen-ring",
        None,
        "-seed",
        "21",
        "-instances",
        "36",
        "-tokens",
        "128",
        "-mixed",
        "-now",
        str(now),
    )
    return decode_desc(bytes.fromhex(made["desc_hex"])), now


def test_zone_aware_rf3(mixed_ring: tuple[Desc, int]) -> None:
    desc, now = mixed_ring
    _compare(desc, RingConfig(replication_factor=3, zone_awareness_enabled=True), now, 1)


def test_not_zone_aware_with_an_excluded_zone(mixed_ring: tuple[Desc, int]) -> None:
    desc, now = mixed_ring
    _compare(desc, RingConfig(replication_factor=3), now, 2)
    _compare(desc, RingConfig(replication_factor=3, excluded_zones=frozenset({"zone-c"})), now, 3)


def test_one_unhealthy_zone_is_dropped_whole(mixed_ring: tuple[Desc, int]) -> None:
    """Healthy everywhere but one stale instance in zone-b: the zone goes, the set still holds;
    with a second failing zone, too many zones are unavailable."""
    desc, now = mixed_ring
    fresh = {k: replace(v, timestamp=now, state=0) for k, v in desc.instances.items()}
    one = dict(fresh)
    stale_b = next(k for k, v in fresh.items() if v.zone == "zone-b")
    one[stale_b] = replace(fresh[stale_b], timestamp=now - 3600)
    config = RingConfig(replication_factor=3, zone_awareness_enabled=True)
    _compare(Desc(one), config, now, 4)
    view = RingView.from_desc(Desc(one), config)
    rs = view.get_replication_set_for_operation(ops.WRITE, now)
    assert rs.max_unavailable_zones == 0
    assert {i.zone for i in rs.instances} == {"zone-a", "zone-c"}
    two = dict(one)
    stale_c = next(k for k, v in fresh.items() if v.zone == "zone-c")
    two[stale_c] = replace(fresh[stale_c], state=1)  # LEAVING: not healthy for writes
    _compare(Desc(two), config, now, 5)


def test_empty_and_tiny_rings() -> None:
    now = int(time.time())
    made = oracle(
        "gen-ring", None, "-seed", "3", "-instances", "2", "-tokens", "3", "-now", str(now)
    )
    config = RingConfig(replication_factor=3, zone_awareness_enabled=True)
    _compare(decode_desc(bytes.fromhex(made["desc_hex"])), config, now, 6)
    _compare(Desc(), config, now, 7)
