"""The push/pull table kept per member (core/membership/push_table.py) and the codec's memo of
entry bytes: an unchanged member is sent as the very same entry and bytes; a change is sent
as new ones; the bytes are always those of a fresh encoding."""

from __future__ import annotations

import random

import attrs
import pytest

from trio_gossip.core.config import Config
from trio_gossip.core.membership.member import Member
from trio_gossip.core.membership.push_table import PushTable
from trio_gossip.core.membership.rules import merge_remote_state
from trio_gossip.core.membership.state import MembershipState
from trio_gossip.core.membership.version import _pairs
from trio_gossip.wire import codec as wire_codec
from trio_gossip.wire import push_entries
from trio_gossip.wire.codec import (
    _encode_push_node_state,
    decode_push_node_state,
    encode_push_node_state,
)
from trio_gossip.wire.errors import DecodeError
from trio_gossip.wire.messages import NodeState, PushNodeState, PushPull
from trio_gossip.wire.push_entries import decode_push_entry
from trio_gossip.wire.stream import encode_stream_body

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
    states = PushTable()
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
    states = PushTable()
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
    mine = {s.name: s for s in PushTable().table(ours)}
    other = {s.name: s for s in PushTable().table(theirs)}
    assert all(mine[name] is other[name] for name in mine)
    newer = theirs.put_member(attrs.evolve(theirs.members["n2"], incarnation=5))
    fresh = {s.name: s for s in PushTable().table(newer)}
    assert fresh["n2"] is not mine["n2"]
    assert fresh["n2"] == PushNodeState("n2", bytes((10, 0, 0, 2)), 7946, None, 5,
                                        NodeState.ALIVE, VSN)  # fmt: skip
    monkeypatch.setattr(push_entries, "_SHARED_LIMIT", 8)
    unseen = _table(20)
    for name in unseen.probe_order:  # entries no earlier table made
        unseen = unseen.put_member(attrs.evolve(unseen.members[name], incarnation=77))
    big = PushTable().table(unseen)
    assert 0 < len(push_entries._shared) <= 8
    assert [s.name for s in big] == list(unseen.probe_order)


def _decoded(table: tuple[PushNodeState, ...]) -> list[PushNodeState]:
    """A peer's entries as our stream reader hands them: decoded from their bytes."""
    return [decode_push_entry(encode_push_node_state(s), i) for i, s in enumerate(table)]


def test_a_peer_entry_equal_to_ours_is_our_entry_and_changes_nothing() -> None:
    """Decoded entries are interned with ours, so a peer listing a member as we hold it
    hands our very entry; ``unchanged`` steps over exactly those (alive, not our own name),
    and merging only the rest gives the same state as merging everything."""
    ours = _table(6)
    table = PushTable()
    mine = table.table(ours)
    theirs = _table(6)
    theirs = theirs.put_member(attrs.evolve(theirs.members["n4"], incarnation=3))
    theirs = theirs.put_member(attrs.evolve(theirs.members["n5"], state=NodeState.SUSPECT))
    extra = Member("n9", bytes((10, 0, 0, 9)), 7946, b"", 1, NodeState.ALIVE, 0.0, VSN)
    theirs = theirs.put_member(extra, random.Random(2))
    states = _decoded(PushTable().table(theirs))
    by_name = {s.name: s for s in states}
    assert all(by_name[s.name] is s for s in mine if s.name in ("n1", "n2", "n3"))
    news, same = table.unchanged(ours, states, names=True)
    assert sorted(same) == ["n1", "n2", "n3"]
    assert sorted(s.name for s in news) == ["n0", "n4", "n5", "n9"]  # n0: our own name
    assert table.unchanged(ours, states) == (news, [])  # names only when asked
    config = Config.lan(name="n0")
    everything = merge_remote_state(ours, states, 1.0, config, random.Random(4))
    only_news = merge_remote_state(ours, news, 1.0, config, random.Random(4))
    assert only_news.state.members == everything.state.members
    assert only_news.state.probe_order == everything.state.probe_order
    assert [type(e) for e in only_news.effects] == [type(e) for e in everything.effects]


def test_a_member_changed_since_our_last_table_is_news() -> None:
    """Our last table is only trusted while the member map it was built from is current:
    after a change, the peer's copy of the member's old entry is news again."""
    ours = _table(4)
    table = PushTable()
    old = _decoded(table.table(ours))
    newer = ours.put_member(attrs.evolve(ours.members["n2"], incarnation=2))
    news, same = table.unchanged(newer, old, names=True)
    assert "n2" in {s.name for s in news}
    assert sorted(same) == ["n1", "n3"]


def test_the_kept_version_pairs_follow_changes_and_reaps() -> None:
    """The (Vsn, state) pairs the table keeps for the version check are those of the
    members now: after a member changes its Vsn and state, and after one is reaped."""
    state = _table(5)
    table = PushTable()
    assert table.local_pairs(state) == _pairs(state.members.values())
    other = bytes((1, 5, 3, 0, 0, 0))
    state = state.put_member(attrs.evolve(state.members["n3"], vsn=other, incarnation=2))
    state = state.put_member(attrs.evolve(state.members["n4"], state=NodeState.DEAD))
    assert table.local_pairs(state) == _pairs(state.members.values())
    assert (VSN, NodeState.DEAD) in table.local_pairs(state)
    reaped = attrs.evolve(state, members=state.members.delete("n4"),
                          probe_order=tuple(n for n in state.probe_order if n != "n4"))
    assert table.local_pairs(reaped) == _pairs(reaped.members.values())
    assert (VSN, NodeState.DEAD) not in table.local_pairs(reaped)


def test_a_table_asked_again_unchanged_is_the_same_and_follows_the_probe_order() -> None:
    state = _table(6)
    table = PushTable()
    first = table.table(state)
    assert table.table(state) is first
    shuffled = attrs.evolve(state, probe_order=tuple(reversed(state.probe_order)))
    again = table.table(shuffled)
    assert again is not first
    assert [s.name for s in again] == list(shuffled.probe_order)
    assert table.alive_count(shuffled) == 6
    dead = shuffled.put_member(attrs.evolve(shuffled.members["n1"], state=NodeState.DEAD))
    assert table.alive_count(dead) == 5


def test_the_kept_bytes_are_the_tables_encoding() -> None:
    """The table's bytes, kept per member, are exactly what encoding its entries gives, so a
    push/pull carrying them is byte for byte the one encoded from its entries."""
    state = _table(7)
    table = PushTable()
    entries, raw = table.encoded_table(state)
    assert raw == b"".join(_encode_push_node_state(s) for s in entries)
    state = state.put_member(attrs.evolve(state.members["n2"], incarnation=9, meta=b"m"))
    entries, raw = table.encoded_table(state)
    assert raw == b"".join(_encode_push_node_state(s) for s in entries)
    shortcut = encode_stream_body(PushPull(False, entries, b"u", raw))
    assert shortcut == encode_stream_body(PushPull(False, entries, b"u"))
    assert PushPull(False, entries, b"u", raw) == PushPull(False, entries, b"u")
