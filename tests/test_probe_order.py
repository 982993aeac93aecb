"""The probe order's O(1) appends (core/membership/probe_order.py): laid out lazily, it holds
exactly the names memberlist's append-and-swap gives, whenever it is read."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from trio_gossip.core.membership.member import Member
from trio_gossip.core.membership.probe_order import ProbeOrder
from trio_gossip.core.membership.state import MembershipState
from trio_gossip.wire.messages import NodeState


@given(st.lists(st.tuples(st.integers(0, 10**6), st.booleans()), max_size=60),
       st.sets(st.integers(0, 59)))  # fmt: skip
def test_appends_lay_out_as_memberlists_append_and_swap(
    ops: list[tuple[int, bool]], read_at: set[int]
) -> None:
    """Any run of appends, read at any points in between (each read lays out a prefix of
    the chain), holds what a list appended and swapped eagerly holds."""
    eager: list[str] = ["self"]
    order: tuple[str, ...] | ProbeOrder = ("self",)
    kept = []
    for i, (draw, swap) in enumerate(ops):
        name = f"n{i}"
        j = draw % len(eager) if swap else None
        eager.append(name)
        if j is not None:
            eager[j], eager[-1] = eager[-1], eager[j]
        order = ProbeOrder(order, name, j)
        kept.append((order, tuple(eager)))
        if i in read_at:
            assert order == tuple(eager)
    for lazy, expected in kept:  # earlier versions keep their own names
        assert len(lazy) == len(expected)
        assert lazy == expected
        assert tuple(lazy) == expected
        assert hash(lazy) == hash(expected)


def test_reads_like_a_tuple() -> None:
    order = ProbeOrder(ProbeOrder(("a", "b"), "c", 0), "d", None)
    assert list(order) == ["c", "b", "a", "d"]
    assert order[0] == "c"
    assert order[-1] == "d"
    assert order[1:3] == ("b", "a")
    assert "a" in order
    assert "z" not in order
    assert order.index("a") == 2
    assert order == ("c", "b", "a", "d")
    assert ("c", "b", "a", "d") == order  # noqa: SIM300 - a tuple on the left: the reflected ==
    assert order != ("c", "b", "a")
    assert order == ProbeOrder(("c", "b", "a"), "d", None)
    assert repr(order) == repr(("c", "b", "a", "d"))


def test_a_state_with_appends_equals_one_built_from_tuples() -> None:
    rng = random.Random(3)
    state = MembershipState("n0")
    for i in range(50):
        m = Member(f"n{i}", bytes((10, 0, 0, i)), 7946, b"", 1, NodeState.ALIVE, 0.0)
        state = state.put_member(m, rng)
    assert isinstance(state.probe_order, ProbeOrder)
    assert state.num_nodes == 50
    flat = MembershipState(state.local_name, state.members, tuple(state.probe_order),
                           live_count=state.live_count)  # fmt: skip
    assert flat == state
    assert sorted(state.probe_order) == sorted(f"n{i}" for i in range(50))
