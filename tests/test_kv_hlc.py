"""Version stamps: the next stamp always advances; times keep their millisecond exactly."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_gossip.core.kv.hlc import Version, quantize, to_ms, version_from_plain, version_to_plain
from trio_gossip.wire.errors import DecodeError

versions = st.builds(Version, st.integers(0, 10**13), st.integers(0, 5), st.text(max_size=3))
times = st.floats(0, 10**10, allow_nan=False)


@given(versions, times, st.text(max_size=3))
def test_next_is_strictly_greater_whatever_the_clock(v: Version, now: float, writer: str) -> None:
    following = v.next(now, writer)
    assert following > v
    assert following.ms >= to_ms(now)
    assert following.writer == writer
    assert v.bump() > v


def test_next_counts_within_one_millisecond_and_resets_after() -> None:
    v = Version.ZERO.next(1.0, "a")
    assert v == Version(1000, 0, "a")
    assert v.next(1.0002, "b") == Version(1000, 1, "b")
    assert v.next(0.5, "b") == Version(1000, 1, "b")  # clock went back
    assert v.next(1.002, "b") == Version(1002, 0, "b")


def test_writer_breaks_the_last_tie() -> None:
    assert Version(5, 1, "a") < Version(5, 1, "b") < Version(5, 2, "a") < Version(6, 0, "")


@given(times)
def test_quantize_is_idempotent_and_survives_the_wire(t: float) -> None:
    q = quantize(t)
    assert quantize(q) == q
    assert to_ms(q) == to_ms(t)
    assert to_ms(q) / 1000.0 == q


def test_non_finite_time_is_refused() -> None:
    with pytest.raises(ValueError, match="finite"):
        to_ms(float("nan"))


@given(versions)
def test_plain_round_trip(v: Version) -> None:
    assert version_from_plain(version_to_plain(v)) == v


@pytest.mark.parametrize(
    "plain", [None, (1, 2), (1, 2, 3), (-1, 0, ""), (0, True, ""), (2**63, 0, ""), [0, 0, ""]]
)
def test_bad_plain_version(plain: object) -> None:
    with pytest.raises(DecodeError):
        version_from_plain(plain)
