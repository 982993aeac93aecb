"""The node's one transmit queue (memberlist's TransmitLimitedQueue as a value, with the KV
store's lanes): order, packing, limits, names, dskit's per-key invalidation, pruning."""

from __future__ import annotations

import pytest

from trio_gossip import DecodeError
from trio_gossip.core.engine.queue import (
    KV_FORWARDED,
    KV_OWN,
    KV_STREAM,
    MEMBERLIST,
    TransmitQueue,
    retransmit_limit,
)
from trio_gossip.core.kv.label import add_label, strip_label


class Q:
    """A queue value held in a variable, with the calls the tests make most."""

    def __init__(self, limit: int) -> None:
        self.q = TransmitQueue()
        self.limit = limit
        self.finished: list[int] = []
        self.superseded = 0

    def push(self, message: bytes, name: str | None = None, token: int | None = None) -> None:
        self.q, done = self.q.push(message, name=name, token=token)
        if done is not None:
            self.finished.append(done)

    def kv(self, key: str, content: frozenset[str] | None, version: int, message: bytes,
           lane: int = KV_OWN) -> None:  # fmt: skip
        self.q, n = self.q.push_kv(message, key=key, content=content, version=version, lane=lane)
        self.superseded += n

    def take(self, overhead: int, limit: int, lane: int = MEMBERLIST) -> list[bytes]:
        taken = self.q.take(overhead, limit, self.limit, lane=lane)
        self.q = taken.queue
        self.finished.extend(taken.finished)
        return taken.messages

    def prune(self, n: int, lane: int = MEMBERLIST) -> None:
        self.q, done = self.q.prune(n, lane=lane)
        self.finished.extend(done)


@pytest.mark.parametrize(
    ("mult", "n", "limit"),
    [(4, 0, 0), (4, 1, 4), (4, 9, 4), (4, 10, 8), (4, 99, 8), (4, 100, 12), (4, 999, 12),
     (4, 1000, 16), (4, 10_000, 20), (2, 5, 2)],
)  # fmt: skip
def test_retransmit_limit(mult: int, n: int, limit: int) -> None:
    assert retransmit_limit(mult, n) == limit


def test_order_fewer_transmits_then_longer_then_newer() -> None:
    q = Q(6)
    q.push(b"aa", "1")
    q.push(b"bbbb", "2")
    q.push(b"cc", "3")
    # All fit: longest first, then the newer of the equal-length two.
    assert q.take(0, 100) == [b"bbbb", b"cc", b"aa"]
    q.push(b"d", "4")
    # The fresh one (0 transmits) goes before everything sent once.
    assert q.take(0, 100)[0] == b"d"


def test_packing_respects_limit_and_overhead() -> None:
    q = Q(6)
    q.push(b"x" * 10)
    q.push(b"y" * 6)
    q.push(b"z" * 3)
    # limit 12 with 2 bytes of overhead each: the 10 fits (12), then nothing else does.
    assert q.take(2, 12) == [b"x" * 10]
    # Now the untransmitted 6 and 3 go first (tier 0), the 10 would not fit after them.
    assert q.take(2, 14) == [b"y" * 6, b"z" * 3]
    # Skips what doesn't fit and takes a smaller one of the same tier.
    assert q.take(0, 7) == [b"y" * 6]


def test_transmit_limit_then_finished() -> None:
    q = Q(2)
    q.push(b"m", "a", token=7)
    assert q.take(0, 10) == [b"m"]
    assert q.finished == []
    assert q.q.transmits_of("a") == 1
    assert q.take(0, 10) == [b"m"]
    assert q.finished == [7]
    assert len(q.q) == 0
    assert q.take(0, 10) == []


def test_not_taken_twice_in_one_call() -> None:
    q = Q(16)
    q.push(b"only")
    assert q.take(0, 1000) == [b"only"]


def test_named_broadcast_replaces_and_finishes_the_old() -> None:
    q = Q(4)
    q.push(b"alive-1", "node", token=1)
    q.push(b"other", "node2")
    q.push(b"dead-2", "node", token=2)
    assert q.finished == [1]
    assert len(q.q) == 2
    assert sorted(q.take(0, 100)) == [b"dead-2", b"other"]


def test_unnamed_never_invalidate() -> None:
    q = Q(4)
    q.push(b"a")
    q.push(b"a")
    assert len(q.q) == 2


def test_prune_drops_most_sent_then_oldest() -> None:
    q = Q(5)
    q.push(b"sent", token=1)
    q.take(0, 100)  # "sent" moves to tier 1
    q.push(b"old", token=2)
    q.push(b"new", token=3)
    q.prune(2)
    assert q.finished == [1]
    q.prune(1)
    assert q.finished == [1, 2]
    assert q.take(0, 100) == [b"new"]


def test_many_items_stay_consistent() -> None:
    q = Q(4)
    for i in range(300):
        q.push(bytes([65 + i % 26]) * (1 + i % 17), f"n{i % 120}")
    assert len(q.q) == 120
    sent = 0
    while len(q.q):
        got = q.take(2, 200)
        assert sum(len(m) + 2 for m in got) <= 200
        sent += len(got)
    assert sent == 120 * 4


def test_an_older_value_never_changes() -> None:
    q = Q(4)
    q.push(b"a", "a")
    before = q.q
    q.take(0, 100)
    q.push(b"b", "b")
    assert [item.message for item in before] == [b"a"]
    assert before.transmits_of("a") == 0


# ---- the KV lanes (dskit's memberlist client, queueBroadcast and its invalidation) -------------


def test_lanes_are_separate_and_in_order() -> None:
    q = Q(4)
    q.kv("k", frozenset({"a"}), 1, b"own", KV_OWN)
    q.kv("j", frozenset({"a"}), 2, b"forwarded", KV_FORWARDED)
    q.push(b"alive", "n")
    assert q.take(0, 100) == [b"alive"]  # the memberlist lane holds only its own
    assert q.take(0, 100, KV_OWN) == [b"own"]
    assert q.take(0, 100, KV_FORWARDED) == [b"forwarded"]
    assert [i.lane for i in q.q] == [MEMBERLIST, KV_OWN, KV_FORWARDED]
    assert (q.q.lane_len(MEMBERLIST), q.q.lane_len(KV_OWN), q.q.lane_len(KV_STREAM)) == (1, 1, 0)


def test_a_kv_key_named_like_a_node_does_not_replace_it() -> None:
    q = Q(4)
    q.push(b"alive", "n1")
    q.kv("n1", frozenset({"a"}), 1, b"kv")
    assert len(q.q) == 2


def test_newer_change_covering_the_old_one_replaces_it() -> None:
    q = Q(4)
    q.kv("ring", frozenset({"a"}), 1, b"old-a")
    q.kv("ring", frozenset({"b"}), 2, b"only-b")
    q.kv("ring", frozenset({"a", "c"}), 3, b"new-a-c")
    assert sorted(q.take(0, 1000, KV_OWN)) == [b"new-a-c", b"only-b"]
    assert q.superseded == 1


def test_invalidation_reaches_across_kv_lanes() -> None:
    q = Q(4)
    q.kv("ring", frozenset({"a"}), 1, b"forwarded-a", KV_FORWARDED)
    q.kv("ring", frozenset({"a"}), 2, b"big-a", KV_STREAM)
    q.kv("ring", frozenset({"a", "b"}), 3, b"own-a-b", KV_OWN)
    assert q.superseded == 2
    assert [i.message for i in q.q] == [b"own-a-b"]


def test_older_or_other_key_changes_do_not_replace() -> None:
    q = Q(4)
    q.kv("ring", frozenset({"a"}), 5, b"newer")
    q.kv("ring", frozenset({"a"}), 4, b"older")  # a stale version covers nothing
    q.kv("other", frozenset({"a"}), 6, b"other-key")
    assert sorted(q.take(0, 1000, KV_OWN)) == [b"newer", b"older", b"other-key"]


def test_deletion_covers_every_older_change_of_the_key() -> None:
    q = Q(4)
    q.kv("k", frozenset({"a"}), 1, b"a")
    q.kv("k", frozenset({"b"}), 2, b"b")
    q.kv("k", None, 3, b"deleted")
    assert q.take(0, 1000, KV_OWN) == [b"deleted"]


def test_each_change_is_sent_limit_times_then_leaves() -> None:
    q = Q(retransmit_limit(4, 50))
    q.kv("k", frozenset({"a"}), 1, b"x")
    sends = 0
    while len(q.q):
        sends += len(q.take(0, 100, KV_OWN))
    assert sends == 8
    assert not q.q.kv_keys  # the key's index is empty again


def test_kv_overhead_counts_against_the_budget() -> None:
    q = Q(4)
    q.kv("a", frozenset({"1"}), 1, b"12345")
    assert q.take(3, 7, KV_OWN) == []
    assert q.take(3, 8, KV_OWN) == [b"12345"]


def test_kv_queue_limit_drops_the_most_sent() -> None:
    q = Q(8)
    q.kv("a", frozenset({"1"}), 1, b"a")
    q.take(0, 1, KV_OWN)  # "a" now has one transmit
    q.kv("b", frozenset({"1"}), 2, b"b")
    q.kv("c", frozenset({"1"}), 3, b"c")
    q.push(b"alive", "n")  # another lane: not counted against the KV's limit
    q.prune(2, KV_OWN)
    assert sorted(q.take(0, 100, KV_OWN)) == [b"b", b"c"]
    assert q.take(0, 100) == [b"alive"]


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
