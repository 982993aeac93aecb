"""The LWW map: a second Mergeable, held to the same laws as the ring."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_gossip.core.kv import LWW_CODEC, LWWEntry, LWWMap, Mergeable, Version
from trio_gossip.core.kv.codec import pack
from trio_gossip.wire.errors import DecodeError

entries = st.builds(
    LWWEntry,
    value=st.none() | st.sampled_from((b"", b"a", b"b")),
    version=st.builds(Version, st.integers(0, 3), st.integers(0, 1), st.sampled_from("ab")),
)
maps = st.dictionaries(st.sampled_from("pqrs"), entries, max_size=4).map(LWWMap)


def join(a: LWWMap, b: LWWMap) -> LWWMap:
    return a.merge(b).value


@given(maps, maps, maps)
def test_laws(a: LWWMap, b: LWWMap, c: LWWMap) -> None:
    assert join(a, b) == join(b, a)
    assert join(join(a, b), c) == join(a, join(b, c))
    assert a.merge(a).change is None
    result = a.merge(b)
    if result.change is not None:
        assert join(a, result.change) == result.value


@given(maps)
def test_codec_round_trip(value: LWWMap) -> None:
    assert LWW_CODEC.decode(LWW_CODEC.encode(value)) == value


@pytest.mark.parametrize(
    "plain",
    [
        [],
        {b"k": [None, 0, 0, ""]},
        {"k": [None, 0, 0]},
        {"k": ["v", 0, 0, ""]},
        {"k": [None, 0, -1, ""]},
    ],
)
def test_codec_refuses_bad_maps(plain: object) -> None:
    with pytest.raises(DecodeError):
        LWW_CODEC.decode(pack(plain))


def test_put_delete_and_tombstones() -> None:
    value: Mergeable = LWWMap()
    assert value.merge_content() == frozenset()
    m = LWWMap().put("k", b"v", now=10.0, writer="n1")
    assert m.get("k") == b"v"
    gone = m.delete("k", now=10.0, writer="n2")  # same millisecond: still newer
    assert gone.get("k") is None
    assert join(m, gone) == join(gone, m) == gone
    assert gone.remove_tombstones(9.0) == (gone, 0)
    assert gone.remove_tombstones(11.0) == (LWWMap(), 1)


def test_local_cas_and_horizon() -> None:
    m = LWWMap().put("a", b"1", now=10.0, writer="n").put("b", b"2", now=10.0, writer="n")
    desired = LWWMap({"a": LWWEntry(b"changed", Version.ZERO)})  # unstamped edit, b dropped
    result = m.merge(desired, local_cas=True).value
    assert result.get("a") == b"changed"
    assert result.get("b") is None
    assert "b" in result.entries  # as a tombstone
    old = LWWMap().put("c", b"3", now=1.0, writer="n")
    assert m.merge(old, horizon=5.0).change is None
    assert m.merge(old, horizon=0.5).value.get("c") == b"3"
