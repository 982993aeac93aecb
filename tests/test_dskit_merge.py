"""dskit's ring merge against dskit itself: ring/model.go Desc.Merge on many generated cases
(token conflicts, LEFT tombstones, equal timestamps, unsorted and repeated tokens, localCAS) gives
the same ring and the same change as ``trio_gossip.core.dskit.merge``."""

from __future__ import annotations

import random

from dskit_support import desc_to_json, oracle

from trio_gossip.core.dskit.merge import merge, normalize, remove_tombstones
from trio_gossip.wire.dskit import Desc, InstanceDesc, InstanceState, encode_desc

IDS = ["a", "b", "c", "d", "e", "f"]
STATES = [
    InstanceState.ACTIVE,
    InstanceState.ACTIVE,
    InstanceState.LEAVING,
    InstanceState.PENDING,
    InstanceState.JOINING,
    InstanceState.LEFT,
]


def _instance(rng: random.Random, key: str, normalized: bool) -> InstanceDesc:
    state = rng.choice(STATES)
    tokens = [rng.randrange(40) for _ in range(rng.randrange(6))]  # a small space: conflicts
    if normalized:
        tokens = [] if state == InstanceState.LEFT else sorted(set(tokens))
    return InstanceDesc(
        addr=f"10.0.0.{ord(key)}:9095",
        timestamp=rng.choice([0, 100, 100, 101, 102]),  # equal timestamps are common
        state=state,
        tokens=tuple(tokens),
        zone=rng.choice(["", "z1", "z2"]),
        registered_timestamp=rng.choice([0, 50]),
        id=rng.choice([key, ""]),
        read_only=rng.random() < 0.1,
        versions=((1, rng.randrange(3)),) if rng.random() < 0.2 else (),
    )


def _ring(rng: random.Random, normalized: bool) -> Desc:
    keys = rng.sample(IDS, rng.randrange(len(IDS) + 1))
    return Desc({k: _instance(rng, k, normalized) for k in keys})


def _cases(seed: int, count: int) -> list[tuple[Desc, Desc, bool]]:
    rng = random.Random(seed)
    cases = []
    for i in range(count):
        # dskit requires a normalized receiver; an un-normalized one still happens when a
        # first value is stored as received (memberlist_client.go computeNewValue), so some
        # receivers are left raw too.
        current = _ring(rng, normalized=i % 5 != 0)
        incoming = _ring(rng, normalized=False)
        if rng.random() < 0.5 and current.instances:  # an update of a known instance
            key = rng.choice(list(current.instances))
            old = current.instances[key]
            bumped = InstanceDesc(
                addr=old.addr,
                timestamp=old.timestamp + rng.choice([0, 0, 1]),
                state=rng.choice(STATES),
                tokens=(*old.tokens, rng.randrange(40)),
                zone=old.zone,
                id=key,
            )
            incoming = Desc({**incoming.instances, key: bumped})
        cases.append((current, incoming, rng.random() < 0.3))
    return cases


def test_merge_equals_dskit_on_generated_cases() -> None:
    cases = _cases(seed=14, count=600)
    answer = oracle(
        "merge",
        {
            "cases": [
                {"a_hex": encode_desc(a).hex(), "b_hex": encode_desc(b).hex(), "local_cas": cas}
                for a, b, cas in cases
            ]
        },
    )
    conflicts = tombstoned = unchanged = 0
    for (current, incoming, local_cas), go in zip(cases, answer["results"], strict=True):
        result = merge(current, incoming, local_cas=local_cas, now=go["now"])
        assert desc_to_json(result.desc) == go["merged"], (current, incoming, local_cas)
        assert desc_to_json(result.change) == go["change"], (current, incoming, local_cas)
        unchanged += result.change is None
        tombstoned += local_cas and any(
            i.state == InstanceState.LEFT and i.timestamp == go["now"]
            for i in result.desc.instances.values()
        )
        if result.change is not None:  # did resolveConflicts move a token?
            sources = {**current.instances, **normalize(incoming).instances}
            conflicts += any(
                sources[k].tokens != v.tokens
                for k, v in result.desc.instances.items()
                if v.state != InstanceState.LEFT
            )
    # The generator reaches every branch of Merge often.
    assert unchanged > 30
    assert tombstoned > 30
    assert conflicts > 30


def test_merge_keeps_inputs_and_returns_the_receiver_when_nothing_changes() -> None:
    ring = Desc({"a": InstanceDesc(timestamp=5, tokens=(1, 2))})
    stale = Desc({"a": InstanceDesc(timestamp=4, tokens=(3,), state=InstanceState.LEAVING)})
    result = merge(ring, stale, local_cas=False, now=10)
    assert result.desc is ring
    assert result.change is None


def test_equal_timestamps_left_wins_anything_else_is_ignored() -> None:
    ring = Desc({"a": InstanceDesc(timestamp=5, tokens=(1, 2))})
    same_second = Desc({"a": InstanceDesc(timestamp=5, tokens=(9,), zone="other")})
    assert merge(ring, same_second, local_cas=False, now=10).change is None
    left = Desc({"a": InstanceDesc(timestamp=5, state=InstanceState.LEFT, tokens=(1,))})
    result = merge(ring, left, local_cas=False, now=10)
    assert result.desc.instances["a"] == InstanceDesc(timestamp=5, state=InstanceState.LEFT)


def test_remove_tombstones() -> None:
    ring = Desc(
        {
            "old": InstanceDesc(timestamp=99, state=InstanceState.LEFT),
            "edge": InstanceDesc(timestamp=100, state=InstanceState.LEFT),
            "live": InstanceDesc(timestamp=1, state=InstanceState.ACTIVE),
        }
    )
    kept, total, removed = remove_tombstones(ring, 100.0)  # strictly before the limit goes
    assert (sorted(kept.instances), total, removed) == (["edge", "live"], 1, 1)
    kept, total, removed = remove_tombstones(ring, 99.5)
    assert (sorted(kept.instances), total, removed) == (["edge", "live"], 1, 1)
    kept, total, removed = remove_tombstones(ring, None)  # Go's zero time: all of them
    assert (sorted(kept.instances), total, removed) == (["live"], 0, 2)
    assert remove_tombstones(kept, None)[0] is kept
