from __future__ import annotations

import pytest

from trio_gossip.core.membership.broadcast import TransmitLimitedQueue, retransmit_limit


@pytest.mark.parametrize(
    ("mult", "n", "limit"),
    [(4, 0, 0), (4, 1, 4), (4, 9, 4), (4, 10, 8), (4, 99, 8), (4, 100, 12), (4, 999, 12),
     (4, 1000, 16), (4, 10_000, 20), (2, 5, 2)],
)  # fmt: skip
def test_retransmit_limit(mult: int, n: int, limit: int) -> None:
    assert retransmit_limit(mult, n) == limit


def _queue(n: int = 5, mult: int = 1) -> TransmitLimitedQueue:
    return TransmitLimitedQueue(mult, lambda: n)


def test_order_fewer_transmits_then_longer_then_newer() -> None:
    q = _queue(n=10, mult=3)  # limit 6
    q.queue_broadcast(b"aa", name="1")
    q.queue_broadcast(b"bbbb", name="2")
    q.queue_broadcast(b"cc", name="3")
    # All fit: longest first, then the newer of the equal-length two.
    assert q.get_broadcasts(0, 100) == [b"bbbb", b"cc", b"aa"]
    q.queue_broadcast(b"d", name="4")
    # The fresh one (0 transmits) goes before everything sent once.
    assert q.get_broadcasts(0, 100)[0] == b"d"


def test_packing_respects_limit_and_overhead() -> None:
    q = _queue(n=10, mult=3)
    q.queue_broadcast(b"x" * 10)
    q.queue_broadcast(b"y" * 6)
    q.queue_broadcast(b"z" * 3)
    # limit 12 with 2 bytes of overhead each: the 10 fits (12), then nothing else does.
    assert q.get_broadcasts(2, 12) == [b"x" * 10]
    # Now the untransmitted 6 and 3 go first (tier 0), the 10 would not fit after them.
    assert q.get_broadcasts(2, 14) == [b"y" * 6, b"z" * 3]
    # Skips what doesn't fit and takes a smaller one of the same tier.
    assert q.get_broadcasts(0, 7) == [b"y" * 6]


def test_transmit_limit_then_finished() -> None:
    q = _queue(n=9, mult=2)  # limit 2
    done: list[str] = []
    q.queue_broadcast(b"m", name="a", on_finish=lambda: done.append("a"))
    assert q.get_broadcasts(0, 10) == [b"m"]
    assert done == []
    assert q.transmits_of("a") == 1
    assert q.get_broadcasts(0, 10) == [b"m"]
    assert done == ["a"]
    assert len(q) == 0
    assert q.get_broadcasts(0, 10) == []


def test_not_taken_twice_in_one_call() -> None:
    q = _queue(n=1000, mult=4)
    q.queue_broadcast(b"only")
    assert q.get_broadcasts(0, 1000) == [b"only"]


def test_named_invalidation_finishes_old() -> None:
    q = _queue()
    done: list[str] = []
    q.queue_broadcast(b"alive-1", name="node", on_finish=lambda: done.append("old"))
    q.queue_broadcast(b"other", name="node2")
    q.queue_broadcast(b"dead-2", name="node", on_finish=lambda: done.append("new"))
    assert done == ["old"]
    assert len(q) == 2
    assert sorted(q.get_broadcasts(0, 100)) == [b"dead-2", b"other"]


def test_unnamed_never_invalidate() -> None:
    q = _queue()
    q.queue_broadcast(b"a")
    q.queue_broadcast(b"a")
    assert len(q) == 2


def test_prune_drops_most_sent_then_oldest() -> None:
    q = _queue(n=10, mult=5)
    done: list[bytes] = []
    q.queue_broadcast(b"sent", on_finish=lambda: done.append(b"sent"))
    q.get_broadcasts(0, 100)  # "sent" moves to tier 1
    q.queue_broadcast(b"old", on_finish=lambda: done.append(b"old"))
    q.queue_broadcast(b"new", on_finish=lambda: done.append(b"new"))
    q.prune(2)
    assert done == [b"sent"]
    q.prune(1)
    assert done == [b"sent", b"old"]
    assert q.get_broadcasts(0, 100) == [b"new"]


def test_reset_does_not_finish() -> None:
    q = _queue()
    done: list[int] = []
    q.queue_broadcast(b"a", name="a", on_finish=lambda: done.append(1))
    q.reset()
    assert len(q) == 0
    assert done == []
    q.queue_broadcast(b"a", name="a")
    assert done == []


def test_many_items_stay_consistent() -> None:
    q = _queue(n=50, mult=2)  # limit 4
    for i in range(300):
        q.queue_broadcast(bytes([65 + i % 26]) * (1 + i % 17), name=f"n{i % 120}")
    assert len(q) == 120
    sent = 0
    while len(q):
        got = q.get_broadcasts(2, 200)
        assert sum(len(m) + 2 for m in got) <= 200
        sent += len(got)
    assert sent == 120 * 4
