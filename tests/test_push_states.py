"""The push/pull table kept per member (shell/node/push_states.py) and the codec's memo of
entry bytes: an unchanged member is sent as the very same entry and bytes; a change is sent
as new ones; the bytes are always those of a fresh encoding."""

from __future__ import annotations

import random

import attrs
import pytest

from trio_gossip.core.membership.member import Member
from trio_gossip.core.membership.state import MembershipState
from trio_gossip.shell.node import push_states
from trio_gossip.shell.node.push_states import PushStates
from trio_gossip.wire import codec as wire_codec
from trio_gossip.wire.codec import (
    _encode_push_node_state,
    decode_push_node_state,
    encode_push_node_state,
)
from trio_gossip.wire.errors import DecodeError
from trio_gossip.wire.messages import NodeState, PushNodeState

VSN = bytes((1, 5, 2, 0, 0, 0))


def _table(n: int) -> MembershipState:
    state = MembershipState("n0")
    rng = random.Random(1)
    for i in range(n):
        m = Member(f"n{i}", bytes((10, 0, 0, i)), 7946, b"", 1, NodeState.ALIVE, 0.0, VSN)
        state = state.put_member(m, rng)
    return state


def test_an_unchanged_member_is_the_same_entry_and_a_changed_one_a_new_one() -> None:
    state = _table(5)
    states = PushStates()
    first = states.table(state)
    assert [s.name for s in first] == list(state.probe_order)
    assert all(type(s) is PushNodeState for s in first)
    again = states.table(state)
    assert all(a is b for a, b in zip(first, again, strict=True))
    changed = attrs.evolve(state.members["n3"], incarnation=2, state=NodeState.SUSPECT)
    after = states.table(state.put_member(changed))
    by_name = {s.name: s for s in after}
    assert by_name["n3"].incarnation == 2
    assert by_name["n3"].state == NodeState.SUSPECT
    assert by_name["n3"] is not {s.name: s for s in first}["n3"]
    assert all(by_name[s.name] is s for s in first if s.name != "n3")


def test_reaped_names_are_forgotten() -> None:
    states = PushStates()
    states.table(_table(200))
    small = _table(3)
    assert len(states.table(small)) == 3
    assert len(states._by_name) <= 2 * 3 + 64


def test_kept_bytes_are_a_fresh_encoding() -> None:
    entry = PushNodeState("a", bytes((10, 0, 0, 1)), 7946, b"m", 7, NodeState.ALIVE, VSN)
    assert encode_push_node_state(entry) == _encode_push_node_state(entry)
    assert encode_push_node_state(entry) is encode_push_node_state(entry)
    equal = attrs.evolve(entry)  # another object, equal: the same bytes
    assert encode_push_node_state(equal) is encode_push_node_state(entry)
    other = attrs.evolve(entry, incarnation=8)
    assert encode_push_node_state(other) != encode_push_node_state(entry)


def test_decoded_entries_are_kept_but_never_for_a_type_go_refuses() -> None:
    body = {b"Name": b"a", b"Addr": bytes((10, 0, 0, 1)), b"Port": 1, b"Meta": None,
            b"Incarnation": 7, b"State": 0, b"Vsn": VSN}  # fmt: skip
    first = decode_push_node_state(body)
    assert decode_push_node_state(dict(body)) is first
    for field, odd in ((b"Port", True), (b"Incarnation", 7.0), (b"State", False)):
        try:
            decoded = decode_push_node_state({**body, field: odd})
        except DecodeError:
            continue
        raise AssertionError(f"{field!r} = {odd!r} decoded to {decoded}")


def test_the_identity_memo_keeps_each_entry_alive_and_stays_bounded() -> None:
    """An entry's bytes are kept under its id together with the entry itself (so the id
    cannot be reused for another entry while kept); the memo never outgrows its bound."""
    limit = wire_codec._STATE_MEMO_LIMIT
    entries = [PushNodeState(f"n{i}", bytes((10, 0, 0, 1)), 7946, b"", i + 1, NodeState.ALIVE,
                             VSN) for i in range(limit + 5)]  # fmt: skip
    for entry in entries:
        encode_push_node_state(entry)
    assert 0 < len(wire_codec._state_by_id) <= limit
    last = entries[-1]
    assert wire_codec._state_by_id[id(last)] == (last, _encode_push_node_state(last))


def test_nodes_listing_the_same_member_share_one_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two nodes' tables (their own Member objects, state_change differing) hand the same
    entry object for an equal member, so the codec finds its bytes by identity; a member at
    another incarnation gets an entry of its own; the shared table stays bounded."""
    ours, theirs = _table(4), _table(4)
    theirs = theirs.put_member(attrs.evolve(theirs.members["n2"], state_change=9.0))
    assert ours.members["n2"] is not theirs.members["n2"]
    mine = {s.name: s for s in PushStates().table(ours)}
    other = {s.name: s for s in PushStates().table(theirs)}
    assert all(mine[name] is other[name] for name in mine)
    newer = theirs.put_member(attrs.evolve(theirs.members["n2"], incarnation=5))
    fresh = {s.name: s for s in PushStates().table(newer)}
    assert fresh["n2"] is not mine["n2"]
    assert fresh["n2"] == PushNodeState("n2", bytes((10, 0, 0, 2)), 7946, None, 5,
                                        NodeState.ALIVE, VSN)  # fmt: skip
    monkeypatch.setattr(push_states, "_SHARED_LIMIT", 8)
    unseen = _table(20)
    for name in unseen.probe_order:  # entries no earlier table made
        unseen = unseen.put_member(attrs.evolve(unseen.members[name], incarnation=77))
    big = PushStates().table(unseen)
    assert 0 < len(push_states._shared) <= 8
    assert [s.name for s in big] == list(unseen.probe_order)
