"""dskit's ring merge, exactly: ring/model.go ``Desc.Merge`` / ``mergeWithTime``.

This is dskit's rule, weak spots included, so that a Python node converges with Go nodes:

- Each instance record is last-writer-wins on its ``timestamp`` (Unix **seconds**). On equal
  timestamps the only accepted change is to LEFT ("LEFT wins ties"); any other difference at an
  equal timestamp is never resolved, and two nodes may keep different records.
- With ``local_cas`` the incoming ring is the complete desired state: a local instance missing
  from it becomes a LEFT tombstone, without tokens, stamped ``now``. Only for a local CAS.
- When an update changed some tokens and a token is then owned twice, ``resolveConflicts`` runs
  over the whole ring: a LEAVING owner loses to a non-LEAVING one, else the smaller ID wins.
- The change returned holds the updated instances only, with their records after the merge.

Everything is pure: ``now`` is an argument, the inputs are never modified.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

import immutables

from trio_gossip.wire.dskit.ring_desc import Desc, InstanceDesc, InstanceState
from trio_gossip.wire.dskit.tokens import EMPTY_TOKENS, Tokens, as_tokens

_LEFT = InstanceState.LEFT
_LEAVING = InstanceState.LEAVING


@dataclass(frozen=True, slots=True)
class MergeResult:
    """The ring after a merge and the change to gossip (None when nothing changed)."""

    desc: Desc
    change: Desc | None


def normalize_instance(inst: InstanceDesc, like: InstanceDesc | None = None) -> InstanceDesc:
    """model.go normalizeIngestersMap for one record: LEFT loses its tokens; else sorted, unique.

    Whether a token list is already so is remembered by the list (Tokens.normal), so a ring
    merged again and again is checked once. ``like`` is the receiver's record of the same
    instance: a heartbeat carries the tokens the receiver holds, and the same bytes need no
    second look (Tokens.normalized).
    """
    if inst.state == _LEFT:
        return replace(inst, tokens=EMPTY_TOKENS) if inst.tokens else inst
    tokens = as_tokens(inst.tokens)
    norm = tokens.normalized(as_tokens(like.tokens) if like is not None else None)
    return inst if norm is tokens else replace(inst, tokens=norm)


def normalize(desc: Desc) -> Desc:
    """model.go normalizeIngestersMap: every record normalized (a new Desc if any changed)."""
    out: dict[str, InstanceDesc] | None = None
    for name, inst in desc.instances.items():
        norm = normalize_instance(inst)
        if norm is not inst:
            if out is None:
                out = dict(desc.instances)
            out[name] = norm
    return desc if out is None else Desc(out)


def conflicting_tokens_exist(instances: Mapping[str, InstanceDesc]) -> bool:
    """model.go conflictingTokensExist: some token appears twice over all token lists."""
    seen: set[int] = set()
    total = 0
    for inst in instances.values():
        tokens = as_tokens(inst.tokens).ints()
        seen.update(tokens)
        total += len(tokens)
        if len(seen) != total:
            return True
    return False


def resolve_conflicts(instances: Mapping[str, InstanceDesc]) -> dict[str, InstanceDesc]:
    """model.go resolveConflicts: give each token owned more than once to one winner.

    LEFT instances own nothing. Among the others, a LEAVING owner loses to a non-LEAVING one,
    otherwise the smaller instance ID wins. This is a total order, so the result does not depend
    on the order of the map (Go iterates its map in random order). Every instance's token list is
    rebuilt, sorted, from the tokens it won; it may end up empty.
    """
    owner: dict[int, str] = {}
    rank: dict[str, tuple[bool, str]] = {}
    for key, inst in instances.items():
        if inst.state == _LEFT:
            continue
        my_rank = (inst.state == _LEAVING, key)
        rank[key] = my_rank
        for token in inst.tokens:
            prev = owner.get(token)
            if prev is None or my_rank < rank[prev]:
                owner[token] = key
    won: dict[str, list[int]] = {key: [] for key in instances}
    for token in sorted(owner):
        won[owner[token]].append(token)
    out: dict[str, InstanceDesc] = {}
    for key, inst in instances.items():
        tokens = Tokens(won[key])
        out[key] = inst if tokens == inst.tokens else replace(inst, tokens=tokens)
    return out


def merge(current: Desc, incoming: Desc, *, local_cas: bool, now: float) -> MergeResult:
    """``current.Merge(incoming, local_cas)`` at time ``now`` (Unix seconds), as dskit does it.

    ``current`` must be normalized (as dskit requires of the receiver; every result of this
    function is). ``incoming`` need not be.
    """
    other = incoming.instances
    cur = current.instances
    # A persistent map: a heartbeat touches one entry of a large ring, so copying the ring for
    # each merge (the price of keeping it immutable) would dominate. Go merges in place.
    base = cur if isinstance(cur, immutables.Map) else immutables.Map(cur)
    this = base.mutate()
    updated: list[str] = []
    tokens_changed = False

    for name, received in other.items():
        ting = this.get(name)
        # normalizeIngestersMap(other) first, one record at a time: each record on its own.
        oing = normalize_instance(received, ting)
        # A missing instance reads as Go's zero value: timestamp 0, state ACTIVE, no tokens.
        t_timestamp = ting.timestamp if ting is not None else 0
        if oing.timestamp > t_timestamp:
            if (ting.tokens if ting is not None else EMPTY_TOKENS) != oing.tokens:
                tokens_changed = True
            this[name] = oing
            updated.append(name)
        elif (
            oing.timestamp == t_timestamp
            and (ting.state if ting is not None else InstanceState.ACTIVE) != _LEFT
            and oing.state == _LEFT
        ):
            this[name] = oing  # LEFT is accepted even when the timestamp has not changed
            updated.append(name)

    if local_cas:
        # Breaks commutativity, which is why dskit allows it only for a local CAS. "now" and not
        # the old timestamp, so that the tombstone beats heartbeats already in flight. (Names in
        # ``other`` are skipped, so the instances to look at are the receiver's own.)
        now_seconds = math.floor(now)
        for name, ting in base.items():
            if name not in other and ting.state != _LEFT:
                this[name] = replace(ting, state=_LEFT, tokens=EMPTY_TOKENS, timestamp=now_seconds)
                updated.append(name)

    if not updated:
        return MergeResult(current, None)

    merged: Mapping[str, InstanceDesc] = this.finish()
    if tokens_changed and conflicting_tokens_exist(merged):
        merged = immutables.Map(resolve_conflicts(merged))

    return MergeResult(Desc(merged), Desc({name: merged[name] for name in updated}))


def remove_tombstones(desc: Desc, limit: float | None) -> tuple[Desc, int, int]:
    """model.go RemoveTombstones: drop LEFT instances older than ``limit`` (Unix seconds).

    ``limit=None`` is Go's zero time: every LEFT instance goes. Returns the ring, the number of
    tombstones kept and the number removed.
    """
    kept = 0
    gone: list[str] = []
    for name, inst in desc.instances.items():
        if inst.state == _LEFT:
            if limit is None or inst.timestamp < limit:
                gone.append(name)
            else:
                kept += 1
    if not gone:
        return desc, kept, 0
    instances = desc.instances
    if isinstance(instances, immutables.Map):
        mutation = instances.mutate()
        for name in gone:
            del mutation[name]
        return Desc(mutation.finish()), kept, len(gone)
    dropped = set(gone)
    return Desc({k: v for k, v in instances.items() if k not in dropped}), kept, len(gone)


def merge_content(desc: Desc) -> tuple[str, ...]:
    """model.go MergeContent: the instance IDs a value (or a change) holds."""
    return tuple(desc.instances)
