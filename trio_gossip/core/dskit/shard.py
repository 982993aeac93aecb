"""dskit's shuffle-shard helpers (grafana/dskit ring/shard/shard.go)."""

from __future__ import annotations

import hashlib
import math

_MAX_INT = (1 << 63) - 1


def shuffle_shard_seed(identifier: str, zone: str) -> int:
    """shard.go ShuffleShardSeed: the first 8 bytes of MD5(identifier [+ 0x00 + zone]) as a
    big-endian int64."""
    hasher = hashlib.md5(identifier.encode("utf-8", "surrogateescape"))
    if zone:
        hasher.update(b"\x00")
        hasher.update(zone.encode("utf-8", "surrogateescape"))
    return int.from_bytes(hasher.digest()[:8], "big", signed=True)


def shuffle_shard_expected_instances_per_zone(shard_size: int, num_zones: int) -> int:
    """shard.go ShuffleShardExpectedInstancesPerZone: ceil(size / zones) in float64, as Go."""
    if shard_size == _MAX_INT:
        return _MAX_INT
    if num_zones == 0:
        return _MAX_INT  # Go divides by zero into +Inf; no zone is then visited anyway
    return math.ceil(shard_size / num_zones)
