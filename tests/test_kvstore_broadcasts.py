"""The KV broadcast queue: invalidation by key and content, ordering, transmit limits."""

from __future__ import annotations

import pytest

from trio_gossip import DecodeError
from trio_gossip.core.kv.broadcasts import BroadcastQueue, retransmit_limit
from trio_gossip.core.kv.label import add_label, strip_label


def queue(n: int = 1, **kw: object) -> BroadcastQueue:
    return BroadcastQueue(4, lambda: n, **kw)  # type: ignore[arg-type]


def test_retransmit_limit_matches_dskit_table() -> None:
    # 4, 8, 12, 16 transmissions for N = 1-9, 10-99, 100-999, 1000-9999 (dskit's retransmit limit).
    assert [retransmit_limit(4, n) for n in (1, 9, 10, 99, 100, 999, 1000)] == [
        4, 4, 8, 8, 12, 12, 16,
    ]  # fmt: skip


def test_newer_change_covering_the_old_one_replaces_it() -> None:
    q = queue()
    q.queue("ring", frozenset({"a"}), 1, b"old-a")
    q.queue("ring", frozenset({"b"}), 2, b"only-b")
    q.queue("ring", frozenset({"a", "c"}), 3, b"new-a-c")
    assert sorted(q.get_broadcasts(0, 1000)) == [b"new-a-c", b"only-b"]
    assert q.superseded == 1


def test_older_or_other_key_changes_do_not_replace() -> None:
    q = queue()
    q.queue("ring", frozenset({"a"}), 5, b"newer")
    q.queue("ring", frozenset({"a"}), 4, b"older")  # a stale version covers nothing
    q.queue("other", frozenset({"a"}), 6, b"other-key")
    assert sorted(q.get_broadcasts(0, 1000)) == [b"newer", b"older", b"other-key"]


def test_deletion_covers_every_older_change_of_the_key() -> None:
    q = queue()
    q.queue("k", frozenset({"a"}), 1, b"a")
    q.queue("k", frozenset({"b"}), 2, b"b")
    q.queue("k", frozenset(), 3, b"deleted", covers_all=True)
    assert q.get_broadcasts(0, 1000) == [b"deleted"]


def test_each_change_is_sent_limit_times_then_drained() -> None:
    drained: list[bool] = []
    q = queue(n=50, on_drained=lambda: drained.append(True))
    q.queue("k", frozenset({"a"}), 1, b"x")
    sends = 0
    while len(q):
        sends += len(q.get_broadcasts(0, 100))
    assert sends == retransmit_limit(4, 50) == 8
    assert drained == [True]


def test_fewest_transmits_first_then_longest() -> None:
    q = queue(n=50)
    q.queue("a", frozenset({"1"}), 1, b"aaaa")
    assert q.get_broadcasts(0, 4) == [b"aaaa"]  # sent once
    q.queue("b", frozenset({"1"}), 2, b"bb")
    q.queue("c", frozenset({"1"}), 3, b"ccc")
    # The two never-sent ones go first, longest first, and the budget stops the third.
    assert q.get_broadcasts(0, 5) == [b"ccc", b"bb"]
    assert q.get_broadcasts(0, 100) == [b"aaaa", b"ccc", b"bb"]


def test_overhead_counts_against_the_budget() -> None:
    q = queue()
    q.queue("a", frozenset({"1"}), 1, b"12345")
    assert q.get_broadcasts(3, 7) == []
    assert q.get_broadcasts(3, 8) == [b"12345"]


def test_queue_limit_drops_the_most_sent() -> None:
    q = queue(n=50, max_items=2)
    q.queue("a", frozenset({"1"}), 1, b"a")
    q.get_broadcasts(0, 1)  # "a" now has one transmit
    q.queue("b", frozenset({"1"}), 2, b"b")
    q.queue("c", frozenset({"1"}), 3, b"c")
    assert q.dropped == 1
    assert sorted(q.get_broadcasts(0, 100)) == [b"b", b"c"]
    assert q.bytes == 2


def test_label_round_trip_and_refusals() -> None:
    message = b"kv\x01\x01payload"
    assert add_label(message, b"") == message
    labelled = add_label(message, b"prod")
    assert strip_label(labelled, b"prod") == message
    with pytest.raises(DecodeError):
        strip_label(labelled, b"dev")
    with pytest.raises(DecodeError):
        strip_label(message, b"prod")  # unlabelled, but we have a label
    with pytest.raises(DecodeError):
        strip_label(labelled, b"")  # labelled, but we have none
    assert strip_label(labelled, b"dev", verify=False) == message
    with pytest.raises(DecodeError):
        strip_label(b"KL\x09abc", b"abc")  # length runs past the end
