"""The lookup structure of a ring: every owned token, sorted, with its one owner.

It depends only on the records' `topology()` (tokens, zone, LEAVING, registration,
read-only), never on heartbeats or other states, so heartbeats and most state changes
reuse it, and a change to a few records patches it (`updated`) instead of re-sorting every
token. Lookups read the current state and heartbeat from the ring's maps.

Token conflicts (two live instances claiming one token) are settled here, the same way on
every node: a LEAVING claimant loses to one that is not leaving, then the earlier
``registered_at`` wins, then the smaller id. Records keep the tokens they claimed; the
losers just don't own them, and `owned_tokens` lets a lifecycler notice and pick others.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from trio_gossip.core.ring.instance import InstanceDesc, InstanceState

RING_SIZE = 2**32
# Patch the index while the claims to move are under this share of all tokens; past it a
# rebuild (one sort of every token) is cheaper.
_PATCH_SHARE = 8


def priority(desc: InstanceDesc) -> tuple[bool, float, str]:
    """Conflict order: the smallest wins."""
    return (desc.state is InstanceState.LEAVING, desc.registered_at, desc.id)


@attrs.frozen(eq=False)
class ZoneView:
    """The tokens owned in one zone (or the whole ring): a ring of its own for walks."""

    tokens: Sequence[int]
    owners: Sequence[str]


@attrs.frozen(eq=False)
class TokenIndex:
    # Sorted, unique. An array, not a list: splicing it is a memcpy, where a list of 500k
    # distinct ints costs a reference-count pass (and cache misses) per copy.
    tokens: array[int]
    owners: list[str]  # the owning instance of each token
    contested: Mapping[int, tuple[str, ...]]  # token -> every live claimant, winner first
    owned: Mapping[str, int]  # tokens owned per instance that owns any
    instances: Mapping[str, InstanceDesc]  # the records this index reflects (for `updated`)
    zones: tuple[str, ...] = attrs.field(init=False)  # sorted zones of owning instances
    zone_of: Mapping[str, int] = attrs.field(init=False)  # owner -> position in `zones`
    zone_sizes: tuple[int, ...] = attrs.field(init=False)  # owning instances per zone
    read_only: frozenset[str] = attrs.field(init=False)  # owners flagged read-only
    # Derived data filled on first use (per-zone views, shuffle shards); topology-only,
    # so it stays valid as long as the index is reused.
    cache: dict[Any, Any] = attrs.field(init=False, factory=dict, repr=False)

    def __attrs_post_init__(self) -> None:
        descs = [self.instances[i] for i in self.owned]
        zones = tuple(sorted({d.zone for d in descs}))
        position = {z: n for n, z in enumerate(zones)}
        zone_of = {d.id: position[d.zone] for d in descs}
        sizes = [0] * len(zones)
        for zone in zone_of.values():
            sizes[zone] += 1
        object.__setattr__(self, "zones", zones)
        object.__setattr__(self, "zone_of", zone_of)
        object.__setattr__(self, "zone_sizes", tuple(sizes))
        object.__setattr__(self, "read_only", frozenset(d.id for d in descs if d.read_only))

    @classmethod
    def build(cls, instances: Mapping[str, InstanceDesc]) -> TokenIndex:
        claimants = sorted((d for d in instances.values() if d.tokens), key=priority)
        owner_of: dict[int, str] = {}
        contested: dict[int, list[str]] = {}
        for desc in claimants:  # best first, so the first claim of a token is the winner
            clash = owner_of.keys() & desc.tokens
            for token in clash:
                contested.setdefault(token, [owner_of[token]]).append(desc.id)
            fresh = desc.tokens if not clash else [t for t in desc.tokens if t not in clash]
            owner_of.update(dict.fromkeys(fresh, desc.id))
        tokens = array("I", sorted(owner_of))  # sorted runs, one per claimant: timsort merges
        owned = {d.id: len(d.tokens) for d in claimants}
        for claimants_of_token in contested.values():
            for loser in claimants_of_token[1:]:
                owned[loser] -= 1
        return cls(
            tokens=tokens,
            owners=list(map(owner_of.__getitem__, tokens)),
            contested={t: tuple(c) for t, c in contested.items()},
            owned={i: n for i, n in owned.items() if n},
            instances=instances,
        )

    def updated(self, instances: Mapping[str, InstanceDesc], ids: Iterable[str]) -> TokenIndex:
        """The index of `instances`, where only the records of `ids` may differ from ours:
        patched when few tokens move, rebuilt otherwise."""
        moves = self._moves(instances, ids)
        claims = sum(len(d.tokens) for pair in moves for d in pair if d is not None)
        if claims * _PATCH_SHARE > len(self.tokens):
            return TokenIndex.build(instances)
        return self.patched(instances, ids)

    def patched(self, instances: Mapping[str, InstanceDesc], ids: Iterable[str]) -> TokenIndex:
        """Like `updated`, always by patching (what `updated` picks for small changes)."""
        moves = self._moves(instances, ids)
        if not moves:
            return self  # our records differ from `instances` only off-topology
        return _Patch(self, instances).apply(moves)

    def _moves(
        self, instances: Mapping[str, InstanceDesc], ids: Iterable[str]
    ) -> list[tuple[InstanceDesc | None, InstanceDesc | None]]:
        pairs = ((self.instances.get(i), instances.get(i)) for i in ids)
        return [
            (old, new)
            for old, new in pairs
            if (old.topology() if old else None) != (new.topology() if new else None)
        ]

    @property
    def instance_count(self) -> int:
        """Instances that own at least one token."""
        return len(self.owned)

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
        if instance_id not in self.owned:
            return ()
        return tuple(t for t, o in zip(self.tokens, self.owners, strict=True) if o == instance_id)

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
        owned = dict.fromkeys(self.owned, 0)
        for view in views:
            tokens, owners = view.tokens, view.owners
            if not tokens:
                continue
            previous = tokens[-1] - RING_SIZE  # the wrap-around range ends at tokens[0]
            for token, owner in zip(tokens, owners, strict=True):
                owned[owner] += token - previous
                previous = token
        return {i: n / RING_SIZE for i, n in owned.items()}


@attrs.frozen(eq=False)
class PendingIndex:
    """An index of an earlier ring plus the ids whose records changed since: patched into
    this ring's index on first lookup, so rings nobody looks up cost no index work."""

    base: TokenIndex
    ids: frozenset[str]

    def resolve(self, instances: Mapping[str, InstanceDesc]) -> TokenIndex:
        return self.base.updated(instances, self.ids)


class _Patch:
    """Moves a few instances' claims in a copy of an index, then splices the token list.

    Old claims are withdrawn, then new ones made, against `owner`, a staged view
    of token -> owner (None: the token leaves the ring); only the final owners are written,
    so the sorted lists are rebuilt once, from slices, whatever the number of moves.
    """

    def __init__(self, base: TokenIndex, instances: Mapping[str, InstanceDesc]) -> None:
        self.base = base
        self.instances = instances
        self.staged: dict[int, str | None] = {}
        self.contested = dict(base.contested)
        self.owned = dict(base.owned)

    def owner(self, token: int) -> str | None:
        if token in self.staged:
            return self.staged[token]
        tokens = self.base.tokens
        position = bisect_left(tokens, token)
        if position < len(tokens) and tokens[position] == token:
            return self.base.owners[position]
        return None

    def give(self, token: int, new: str | None) -> None:
        old = self.owner(token)
        if old == new:
            return
        for instance_id, step in ((old, -1), (new, 1)):
            if instance_id is not None:
                self.owned[instance_id] = self.owned.get(instance_id, 0) + step
        self.staged[token] = new

    def apply(self, moves: list[tuple[InstanceDesc | None, InstanceDesc | None]]) -> TokenIndex:
        # Every old claim goes first: a rival still holding a token while being ranked
        # could be a record that no longer exists.
        for old, _ in moves:
            if old is not None and old.tokens:
                self.withdraw(old.id, old.tokens)
        for _, new in moves:
            if new is not None and new.tokens:
                self.claim(new.id, new.tokens)
        return TokenIndex(
            *self.splice(),
            contested=self.contested,
            owned={i: n for i, n in self.owned.items() if n},
            instances=self.instances,
        )

    def withdraw(self, instance_id: str, tokens: Iterable[int]) -> None:
        for token in tokens:
            rivals = self.contested.pop(token, None)
            if rivals is None:
                self.give(token, None)
                continue
            remaining = tuple(c for c in rivals if c != instance_id)
            if len(remaining) > 1:
                self.contested[token] = remaining
            self.give(token, remaining[0])

    def claim(self, instance_id: str, tokens: Iterable[int]) -> None:
        for token in tokens:
            holder = self.owner(token)
            if holder is None:
                self.give(token, instance_id)
                continue
            rivals = (*self.contested.get(token, (holder,)), instance_id)
            ranked = tuple(sorted(rivals, key=lambda i: priority(self.instances[i])))
            self.contested[token] = ranked
            self.give(token, ranked[0])

    def splice(self) -> tuple[array[int], list[str]]:
        base_tokens, owners = self.base.tokens, self.base.owners.copy()
        removed: list[int] = []
        added: list[tuple[int, str]] = []
        for token, owner in self.staged.items():
            position = bisect_left(base_tokens, token)
            present = position < len(base_tokens) and base_tokens[position] == token
            if present and owner is None:
                removed.append(position)
            elif present:
                assert owner is not None
                owners[position] = owner
            elif owner is not None:
                added.append((token, owner))
        if not added and not removed:
            return base_tokens, owners  # only owners changed: the token array is shared
        # Events in list order; an insertion before position p sorts ahead of deleting p.
        events = sorted(
            [(bisect_left(base_tokens, t), 0, t, o) for t, o in added]
            + [(p, 1, 0, "") for p in removed]
        )
        tokens = array("I")
        new_owners: list[str] = []
        start = 0
        for position, kind, token, owner in events:
            tokens += base_tokens[start:position]
            new_owners += owners[start:position]
            if kind == 0:
                tokens.append(token)
                new_owners.append(owner)
                start = position
            else:
                start = position + 1
        tokens += base_tokens[start:]
        new_owners += owners[start:]
        return tokens, new_owners
