"""Counters.plus: the step's counts added by position must equal adding them by name."""

from __future__ import annotations

import attrs
import pytest

from trio_gossip.core.engine.state import Counters

NAMES = [a.name for a in attrs.fields(Counters)]


@pytest.mark.parametrize("name", NAMES)
def test_plus_adds_to_the_named_counter_only(name: str) -> None:
    start = Counters(*range(1, len(NAMES) + 1))
    after = start.plus({name: 5})
    for other in NAMES:
        expected = getattr(start, other) + (5 if other == name else 0)
        assert getattr(after, other) == expected, other


def test_plus_adds_several_and_leaves_the_original_unchanged() -> None:
    start = Counters(probes=2, catch_ups=1)
    after = start.plus({"probes": 3, "catch_ups": 4, "suspicions": 1})
    assert after == attrs.evolve(start, probes=5, catch_ups=5, suspicions=1)
    assert start == Counters(probes=2, catch_ups=1)


def test_plus_refuses_an_unknown_counter() -> None:
    with pytest.raises(KeyError):
        Counters().plus({"no_such_counter": 1})
