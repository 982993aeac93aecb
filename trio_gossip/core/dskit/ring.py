"""dskit's ring lookups, exactly: ring/ring.go ``Ring`` as a pure, immutable view of one ring.Desc.

``RingView.from_desc`` does what dskit's ring client does with each ring it receives
(``updateRingState`` and ``setRingStateFromDesc``): drop excluded zones, set each instance's ID
from its key, and build the sorted tokens, the tokens of each zone and the owner of each token.
Lookups then follow ``Get`` (through ``findInstancesForKey`` and the replication strategy's
``Filter``), ``GetAllHealthy``, ``GetReplicationSetForOperation``, ``ShuffleShard`` and
``ShuffleShardWithLookback`` step for step. Where Go reads the clock, ``now`` (Unix seconds) is
an argument. The ring handed in should be what dskit's KV client hands out: tombstones removed.

Where Go's result depends on its random map order (a token owned by two instances in a ring
whose conflicts were never resolved), this view picks the instance that comes last in the Desc.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from enum import Enum

from trio_gossip.core.dskit.errors import (
    EmptyRingError,
    InconsistentTokensInfoError,
    NotEnoughReplicasError,
    ReplicationFactorError,
    TooManyUnhealthyInstancesError,
)
from trio_gossip.core.dskit.gorand import GoRand
from trio_gossip.core.dskit.ops import is_healthy_state, should_extend
from trio_gossip.core.dskit.shard import (
    shuffle_shard_expected_instances_per_zone,
    shuffle_shard_seed,
)
from trio_gossip.wire.dskit.ring_desc import Desc, InstanceDesc
from trio_gossip.wire.dskit.tokens import as_tokens

_MAX_UINT32 = 0xFFFFFFFF


class ReplicationStrategy(Enum):
    """replication_strategy.go: ``DEFAULT`` needs a quorum of the replica set,
    ``IGNORE_UNHEALTHY`` needs one healthy instance and allows a larger per-call RF."""

    DEFAULT = "default"
    IGNORE_UNHEALTHY = "ignore-unhealthy"


@dataclass(frozen=True, slots=True)
class RingConfig:
    """The parts of dskit's ring.Config that lookups read (defaults are dskit's flags')."""

    replication_factor: int = 3
    heartbeat_timeout: float = 60.0
    """Seconds; an instance is unhealthy when ``now - timestamp`` exceeds it."""
    zone_awareness_enabled: bool = False
    excluded_zones: frozenset[str] = frozenset()
    strategy: ReplicationStrategy = ReplicationStrategy.DEFAULT


@dataclass(frozen=True, slots=True)
class ReplicationSet:
    """ring.ReplicationSet: the instances to call and how many of them may fail."""

    instances: tuple[InstanceDesc, ...]
    max_errors: int = 0
    max_unavailable_zones: int = 0
    zone_awareness_enabled: bool = False


def search_token(tokens: list[int], key: int) -> int:
    """util.go searchToken: the index of the first token strictly greater than ``key``, wrapping
    to 0."""
    i = bisect_right(tokens, key)
    return 0 if i >= len(tokens) else i


def is_heartbeat_healthy(inst: InstanceDesc, heartbeat_timeout: float, now: float) -> bool:
    """model.go IsHeartbeatHealthy: ``now - timestamp <= heartbeat_timeout``."""
    return now - inst.timestamp <= heartbeat_timeout


def is_instance_healthy(inst: InstanceDesc, op: int, heartbeat_timeout: float, now: float) -> bool:
    """model.go InstanceDesc.IsHealthy: a healthy state for ``op`` and a fresh heartbeat."""
    return is_healthy_state(op, inst.state) and now - inst.timestamp <= heartbeat_timeout


def _include_read_only(inst: InstanceDesc, lookback: float, lookback_until: int) -> bool:
    # ring.go shouldIncludeReadonlyInstanceInTheShard
    if not inst.read_only:
        return True
    if lookback == 0:
        return False
    return not (
        lookback > 0
        and inst.read_only_updated_timestamp > 0
        and inst.read_only_updated_timestamp < lookback_until
    )


def token_distance(start: int, end: int) -> int:
    """util.go tokenDistance: the distance from one token to the next (a whole ring if equal)."""
    if start < end:
        return end - start
    return _MAX_UINT32 - start + end + 1


class RingView:
    """One ring as dskit's ring client sees it; immutable, so safe to share between readers."""

    __slots__ = (
        "_by_token",
        "_config",
        "_count_per_zone",
        "_instances",
        "_oldest_read_only_updated",
        "_oldest_registered",
        "_read_only_count",
        "_tokens",
        "_tokens_by_zone",
        "_zone_index",
        "_zones",
    )

    def __init__(
        self,
        instances: Mapping[str, InstanceDesc],
        config: RingConfig,
        by_token: Mapping[int, tuple[str, str]] | None = None,
    ) -> None:
        """A view of ``instances`` as given (use ``from_desc`` for a ring from the KV store).

        ``by_token`` is the token owner map to share with a parent ring (as buildRingForTheShard
        does); by default it is built from ``instances``.
        """
        self._config = config
        self._instances: Mapping[str, InstanceDesc] = instances
        by_zone: dict[str, list[int]] = {}
        count_per_zone: dict[str, int] = {}
        all_tokens: list[int] = []
        owners: dict[int, tuple[str, str]] = {}
        oldest_registered = 0
        any_unregistered = False
        read_only = 0
        oldest_read_only = 0
        for key, inst in instances.items():
            zone = inst.zone
            tokens = as_tokens(inst.tokens).ints()  # made from the packed varints once, here
            by_zone.setdefault(zone, []).extend(tokens)
            count_per_zone[zone] = count_per_zone.get(zone, 0) + 1
            all_tokens.extend(tokens)
            if by_token is None:
                owners.update(dict.fromkeys(tokens, (key, zone)))
            ts = inst.registered_timestamp
            if ts == 0:
                any_unregistered = True
            elif oldest_registered == 0 or ts < oldest_registered:
                oldest_registered = ts
            if inst.read_only:
                ro_ts = inst.read_only_updated_timestamp
                oldest_read_only = ro_ts if read_only == 0 else min(oldest_read_only, ro_ts)
                read_only += 1
        for tokens in by_zone.values():
            tokens.sort()
        all_tokens.sort()
        self._tokens = all_tokens
        self._tokens_by_zone = by_zone
        self._by_token: Mapping[int, tuple[str, str]] = owners if by_token is None else by_token
        self._zones = sorted(by_zone)
        self._zone_index = {zone: i for i, zone in enumerate(self._zones)}
        self._count_per_zone = count_per_zone
        self._oldest_registered = 0 if any_unregistered else oldest_registered
        self._read_only_count = read_only
        self._oldest_read_only_updated = oldest_read_only

    @classmethod
    def from_desc(cls, desc: Desc, config: RingConfig) -> RingView:
        """ring.go updateRingState: drop excluded zones, set IDs from keys, build the view."""
        instances: dict[str, InstanceDesc] = {}
        excluded = config.excluded_zones
        for key, inst in desc.instances.items():
            if excluded and inst.zone in excluded:
                continue
            instances[key] = inst if inst.id == key else replace(inst, id=key)
        return cls(instances, config)

    # --- what the view holds ------------------------------------------------------------

    @property
    def config(self) -> RingConfig:
        return self._config

    @property
    def instances(self) -> Mapping[str, InstanceDesc]:
        return self._instances

    @property
    def tokens(self) -> tuple[int, ...]:
        """Every token of the ring, sorted (a token owned twice appears twice)."""
        return tuple(self._tokens)

    def zones(self) -> list[str]:
        """ring.go Zones: the zones of the ring, sorted."""
        return list(self._zones)

    def instances_count(self) -> int:
        return len(self._instances)

    def instances_with_tokens_count(self) -> int:
        return sum(1 for inst in self._instances.values() if inst.tokens)

    def __iter__(self) -> Iterator[str]:
        return iter(self._instances)

    # --- health -------------------------------------------------------------------------

    def is_healthy(self, inst: InstanceDesc, op: int, now: float) -> bool:
        """ring.go Ring.IsHealthy with this ring's heartbeat timeout."""
        return is_instance_healthy(inst, op, self._config.heartbeat_timeout, now)

    # --- Get ----------------------------------------------------------------------------

    def get(self, key: int, op: int, now: float, *, replication_factor: int = 0) -> ReplicationSet:
        """ring.go Get / GetWithOptions: the replication set of a 32-bit key hash."""
        config = self._config
        if not self._tokens:
            raise EmptyRingError()
        rf = replication_factor
        if rf <= 0 or rf < config.replication_factor:
            rf = config.replication_factor
        expanded_ok = config.strategy is ReplicationStrategy.IGNORE_UNHEALTHY
        if rf > config.replication_factor and not expanded_ok:
            raise ReplicationFactorError(
                f"per-call replication factor {rf} cannot exceed the configured replication "
                f"factor {config.replication_factor} with this replication strategy"
            )
        instances = self._find_instances_for_key(key, op, rf)
        healthy, max_failure = self._filter(instances, op, rf, now)
        return ReplicationSet(tuple(healthy), max_errors=max_failure)

    def _find_instances_for_key(self, key: int, op: int, rf: int) -> list[InstanceDesc]:
        # ring.go findInstancesForKey
        tokens = self._tokens
        n_tokens = len(tokens)
        replica_set_size = rf
        max_zones = self._config.replication_factor
        max_instances = len(self._instances)
        zone_aware = self._config.zone_awareness_enabled
        target_per_zone = max(1, rf // max_zones)
        total: list[int] = []
        examined: list[int] = []
        found: list[int] = []
        if zone_aware:
            total = [self._count_per_zone.get(zone, 0) for zone in self._zones]
            examined = [0] * len(total)
            found = [0] * len(total)
        distinct: set[str] = set()
        out: list[InstanceDesc] = []
        i = search_token(tokens, key)
        iterations = 0
        while len(distinct) < min(max_instances, replica_set_size) and iterations < n_tokens:
            if zone_aware and all(
                f >= target_per_zone or e >= t
                for f, e, t in zip(found, examined, total, strict=True)
            ):
                break  # canStopLooking
            iterations += 1
            i %= n_tokens
            token = tokens[i]
            i += 1
            info = self._by_token.get(token)
            if info is None:
                raise InconsistentTokensInfoError()
            instance_id, zone = info
            if instance_id in distinct:
                continue
            zone_index = -1
            if zone_aware:
                zone_index = self._zone_index.get(zone, -1)
                if zone_index == -1:
                    raise InconsistentTokensInfoError(
                        f"the zone {zone!r} is not present in the ring zones {self._zones}"
                    )
                if zone != "":
                    if found[zone_index] >= target_per_zone:
                        continue
                    examined[zone_index] += 1
            distinct.add(instance_id)
            instance = self._instances[instance_id]
            if should_extend(op, instance.state):
                replica_set_size += 1
            elif zone_aware and zone != "":
                found[zone_index] += 1
            out.append(instance)
        return out

    def _filter(
        self, instances: list[InstanceDesc], op: int, rf: int, now: float
    ) -> tuple[list[InstanceDesc], int]:
        timeout = self._config.heartbeat_timeout
        healthy: list[InstanceDesc] = []
        unhealthy: list[str] = []
        for inst in instances:
            if is_instance_healthy(inst, op, timeout, now):
                healthy.append(inst)
            else:
                unhealthy.append(inst.addr)
        unhealthy_text = f" - unhealthy instances: {','.join(unhealthy)}" if unhealthy else ""
        if self._config.strategy is ReplicationStrategy.IGNORE_UNHEALTHY:
            # replication_strategy.go ignoreUnhealthyInstancesReplicationStrategy.Filter
            if not healthy:
                raise NotEnoughReplicasError(
                    f"at least 1 healthy replica required, could only find 0{unhealthy_text}"
                )
            return healthy, len(healthy) - 1
        # replication_strategy.go defaultReplicationStrategy.Filter
        rf = max(rf, len(instances))
        min_success = rf // 2 + 1
        if len(healthy) < min_success:
            zones = (
                " across different availability zones"
                if self._config.zone_awareness_enabled
                else ""
            )
            raise NotEnoughReplicasError(
                f"at least {min_success} live replicas required{zones}, "
                f"could only find {len(healthy)}{unhealthy_text}"
            )
        return healthy, len(healthy) - min_success

    # --- whole-ring operations ----------------------------------------------------------

    def get_all_healthy(self, op: int, now: float) -> ReplicationSet:
        """ring.go GetAllHealthy."""
        if not self._instances:
            raise EmptyRingError()
        timeout = self._config.heartbeat_timeout
        return ReplicationSet(
            tuple(
                inst
                for inst in self._instances.values()
                if is_instance_healthy(inst, op, timeout, now)
            )
        )

    def get_replication_set_for_operation(self, op: int, now: float) -> ReplicationSet:
        """ring.go GetReplicationSetForOperation: every instance to query, and the failures
        (instances, or zones when zone-aware) the operation tolerates."""
        if not self._tokens:
            raise EmptyRingError()
        config = self._config
        timeout = config.heartbeat_timeout
        healthy: list[InstanceDesc] = []
        zone_failures: set[str] = set()
        for inst in self._instances.values():
            if is_instance_healthy(inst, op, timeout, now):
                healthy.append(inst)
            else:
                zone_failures.add(inst.zone)
        max_errors = 0
        max_unavailable_zones = 0
        if config.zone_awareness_enabled:
            replicated_zones = min(len(self._zones), config.replication_factor)
            max_unavailable_zones = replicated_zones // 2
            if len(zone_failures) > max_unavailable_zones:
                raise TooManyUnhealthyInstancesError()
            if zone_failures:
                # A zone with one failing instance is dropped whole.
                healthy = [inst for inst in healthy if inst.zone not in zone_failures]
            max_unavailable_zones -= len(zone_failures)
        else:
            required = max(len(self._instances), config.replication_factor)
            required -= config.replication_factor // 2
            if len(healthy) < required:
                raise TooManyUnhealthyInstancesError()
            max_errors = len(healthy) - required
        return ReplicationSet(
            tuple(healthy),
            max_errors=max_errors,
            max_unavailable_zones=max_unavailable_zones,
            zone_awareness_enabled=config.zone_awareness_enabled,
        )

    def subring_for_operation_states(self, op: int) -> RingView:
        """ring.go GetSubringForOperationStates: instances in a healthy state for ``op``
        (no heartbeat check)."""
        shard = {k: v for k, v in self._instances.items() if is_healthy_state(op, v.state)}
        return RingView(shard, self._config, self._by_token)

    # --- shuffle sharding ---------------------------------------------------------------

    def shuffle_shard(self, identifier: str, size: int) -> RingView:
        """ring.go ShuffleShard: the subring of ``identifier`` (a tenant ID) of ``size``
        instances, spread over the zones when zone-aware; read-only instances left out."""
        if size <= 0:
            return self._filter_out_read_only(0, 0)
        return self._shuffle_shard(identifier, size, 0, 0)

    def shuffle_shard_with_lookback(
        self, identifier: str, size: int, lookback: float, now: float
    ) -> RingView:
        """ring.go ShuffleShardWithLookback: ShuffleShard plus every instance that may have
        been in the shard since ``now - lookback`` (seconds)."""
        if size <= 0:
            return self._filter_out_read_only(lookback, now)
        return self._shuffle_shard(identifier, size, lookback, now)

    def _shuffle_shard(self, identifier: str, size: int, lookback: float, now: float) -> RingView:
        lookback_until = math.floor(now - lookback)  # now.Add(-lookbackPeriod).Unix()
        if (
            lookback > 0
            and self._oldest_registered > 0
            and (self._oldest_registered >= lookback_until)
        ):
            return self
        if self._config.zone_awareness_enabled:
            per_zone = shuffle_shard_expected_instances_per_zone(size, len(self._zones))
            actual_zones = self._zones
        else:
            per_zone = size
            actual_zones = [""]
        shard: dict[str, InstanceDesc] = {}
        for zone in actual_zones:
            if self._config.zone_awareness_enabled:
                if per_zone >= self._count_per_zone.get(zone, 0):
                    for key, inst in self._instances.items():
                        if inst.zone == zone and _include_read_only(inst, lookback, lookback_until):
                            shard[key] = inst
                    continue
                tokens = self._tokens_by_zone.get(zone, [])
            else:
                tokens = self._tokens
            random = GoRand(shuffle_shard_seed(identifier, zone))
            self._pick_in_zone(shard, tokens, random, per_zone, (lookback, lookback_until))
        return RingView(shard, self._config, self._by_token)

    def _pick_in_zone(
        self,
        shard: dict[str, InstanceDesc],
        tokens: list[int],
        random: GoRand,
        per_zone: int,
        window: tuple[float, int],
    ) -> None:
        lookback, lookback_until = window
        n_tokens = len(tokens)
        picked = 0
        while picked < per_zone:
            picked += 1
            p = search_token(tokens, random.uint32())
            found = False
            for _ in range(n_tokens):
                p %= n_tokens
                token = tokens[p]
                p += 1
                info = self._by_token.get(token)
                if info is None:
                    raise InconsistentTokensInfoError()
                instance_id = info[0]
                if instance_id in shard:
                    continue
                inst = self._instances[instance_id]
                if not _include_read_only(inst, lookback, lookback_until):
                    continue
                shard[instance_id] = inst
                # With lookback, an instance registered or switched read-only within the
                # window joins the shard but does not count: keep looking.
                if lookback > 0 and inst.registered_timestamp >= lookback_until:
                    continue
                if lookback > 0 and (
                    inst.read_only or inst.read_only_updated_timestamp >= lookback_until
                ):
                    continue
                found = True
                break
            if not found:
                return

    def _filter_out_read_only(self, lookback: float, now: float) -> RingView:
        # ring.go filterOutReadOnlyInstances
        lookback_until = math.floor(now - lookback)
        if self._read_only_count == 0:
            return self
        if lookback > 0 and self._oldest_read_only_updated >= lookback_until:
            return self
        shard = {
            key: inst
            for key, inst in self._instances.items()
            if _include_read_only(inst, lookback, lookback_until)
        }
        return RingView(shard, self._config, self._by_token)

    # --- ownership ----------------------------------------------------------------------

    def count_tokens(self) -> dict[str, int]:
        """ring.go Desc.CountTokens: the ring range each instance owns, counted within its zone
        (out of 2^32 per zone)."""
        owned = dict.fromkeys(self._instances, 0)
        for tokens in self._tokens_by_zone.values():
            prev = tokens[-1] if tokens else 0
            for token in tokens:
                owner = self._by_token.get(token)
                if owner is not None:
                    owned[owner[0]] = owned.get(owner[0], 0) + token_distance(prev, token)
                prev = token
        return owned
