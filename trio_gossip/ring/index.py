"""The lookup structure of a ring: every owned token, sorted, with its one owner.

It depends only on the records' `topology()` (tokens, zone, LEAVING, registration,
read-only), never on heartbeats or other states, so heartbeats and most state changes
reuse it. Lookups read the current state and heartbeat from the ring's maps.

Token conflicts (two live instances claiming one token) are settled here, the same way on
every node: a LEAVING claimant loses to one that is not leaving, then the earlier
``registered_at`` wins, then the smaller id. Records keep the tokens they claimed; the
losers just don't own them, and `owned_tokens` lets a lifecycler notice and pick others.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from trio_gossip.ring.instance import InstanceDesc, InstanceState

RING_SIZE = 2**32


def _priority(desc: InstanceDesc) -> tuple[bool, float, str]:
    return (desc.state is InstanceState.LEAVING, desc.registered_at, desc.id)


@attrs.frozen(eq=False)
class ZoneView:
    """The tokens owned in one zone (or the whole ring): a ring of its own for walks."""

    tokens: list[int]
    owners: list[int]


@attrs.frozen(eq=False)
class TokenIndex:
    """Ordinals number the claimants by conflict priority; `ids` maps them back."""

    tokens: list[int]  # sorted, unique
    owners: list[int]  # ordinal of each token's owner
    ids: tuple[str, ...]
    zone_of: tuple[int, ...]  # ordinal -> position in `zones`
    zones: tuple[str, ...]  # sorted names of the zones that own tokens
    zone_sizes: tuple[int, ...]  # instances owning at least one token, per zone
    read_only: tuple[bool, ...]  # per ordinal
    # Derived data filled on first use (per-zone views, shuffle shards); topology-only,
    # so it stays valid as long as the index is reused.
    cache: dict[Any, Any] = attrs.field(factory=dict, repr=False)

    @classmethod
    def build(cls, instances: Mapping[str, InstanceDesc]) -> TokenIndex:
        claimants = sorted((d for d in instances.values() if d.tokens), key=_priority)
        owner_of: dict[int, int] = {}
        # Lowest priority first, so each winner overwrites the tokens it shares.
        for ordinal in range(len(claimants) - 1, -1, -1):
            owner_of.update(dict.fromkeys(claimants[ordinal].tokens, ordinal))
        tokens = sorted(owner_of)
        owners = list(map(owner_of.__getitem__, tokens))
        owning = set(owners)
        zones = tuple(sorted({claimants[o].zone for o in owning}))
        zone_pos = {z: i for i, z in enumerate(zones)}
        zone_of = tuple(zone_pos.get(d.zone, -1) for d in claimants)
        sizes = [0] * len(zones)
        for o in owning:
            sizes[zone_of[o]] += 1
        return cls(
            tokens=tokens,
            owners=owners,
            ids=tuple(d.id for d in claimants),
            zone_of=zone_of,
            zones=zones,
            zone_sizes=tuple(sizes),
            read_only=tuple(d.read_only for d in claimants),
        )

    @property
    def instance_count(self) -> int:
        """Instances that own at least one token."""
        return sum(self.zone_sizes)

    def zone_view(self, zone: int) -> ZoneView:
        """The tokens owned in zone number `zone`, in ring order (cached)."""
        key = ("zone", zone)
        view = self.cache.get(key)
        if view is None:
            zone_of = self.zone_of
            pairs = [
                (t, o) for t, o in zip(self.tokens, self.owners, strict=True) if zone_of[o] == zone
            ]
            view = ZoneView([t for t, _ in pairs], [o for _, o in pairs])
            self.cache[key] = view
        return view

    def owned_tokens(self, instance_id: str) -> tuple[int, ...]:
        """The tokens `instance_id` actually owns after conflict resolution."""
        try:
            ordinal = self.ids.index(instance_id)
        except ValueError:
            return ()
        return tuple(t for t, o in zip(self.tokens, self.owners, strict=True) if o == ordinal)

    def ownership(self, *, per_zone: bool) -> dict[str, float]:
        """Fraction of the key space each owning instance serves.

        A token serves the keys from the previous token (inclusive) up to itself
        (exclusive), because a key goes to the first token strictly greater than it. With
        `per_zone`, each zone is its own ring (zone-aware replication puts a copy of every
        key in each zone), so the fractions of one zone add up to 1.
        """
        views = (
            [self.zone_view(z) for z in range(len(self.zones))]
            if per_zone
            else [ZoneView(self.tokens, self.owners)]
        )
        owned = [0] * len(self.ids)
        for view in views:
            tokens, owners = view.tokens, view.owners
            if not tokens:
                continue
            previous = tokens[-1] - RING_SIZE  # the wrap-around range ends at tokens[0]
            for token, owner in zip(tokens, owners, strict=True):
                owned[owner] += token - previous
                previous = token
        return {self.ids[o]: n / RING_SIZE for o, n in enumerate(owned) if n}
