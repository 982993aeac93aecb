"""Watching keys: latest value, coalesced bursts, prefixes, batching, and the end of a store."""

from __future__ import annotations

import trio
import trio.testing
from kv_support import FakeClock, kv_cluster, lww_put

from trio_gossip.core.kv import LWWMap


async def test_watch_key_gives_current_then_latest_after_a_burst(
    autojump_clock: trio.testing.MockClock,
) -> None:
    clock = FakeClock()
    async with kv_cluster(1, clock=clock) as (kv,):
        await kv.cas("k", lww_put("n", b"0", clock()), codec="lww")
        with kv.watch_key("k") as watch:
            first = await watch.__anext__()
            assert first.get("n") == b"0"
            for i in range(1, 50):  # nobody reads meanwhile: the writer never waits
                clock.t += 1
                await kv.cas("k", lww_put("n", str(i).encode(), clock()))
            latest = await watch.__anext__()
            assert latest.get("n") == b"49"
            with trio.move_on_after(1) as scope:  # no more wake-ups owed
                await watch.__anext__()
            assert scope.cancelled_caught


async def test_watch_key_sees_remote_changes_and_missing_keys(
    autojump_clock: trio.testing.MockClock,
) -> None:
    clock = FakeClock()
    async with kv_cluster(2, clock=clock) as (a, b):
        watch = b.watch_key("k")
        assert await watch.__anext__() is None
        await a.cas("k", lww_put("x", b"1", clock()), codec="lww")
        value = await watch.__anext__()
        assert isinstance(value, LWWMap)
        assert value.get("x") == b"1"
        watch.close()


async def test_watch_prefix_coalesces_per_key_and_reports_deletion(
    autojump_clock: trio.testing.MockClock,
) -> None:
    clock = FakeClock()
    async with kv_cluster(1, clock=clock) as (kv,):
        await kv.cas("a/1", lww_put("x", b"1", clock()), codec="lww")
        with kv.watch_prefix("a/") as watch:
            assert (await watch.__anext__())[0] == "a/1"
            for i in range(5):
                clock.t += 1
                await kv.cas("a/2", lww_put("x", str(i).encode(), clock()), codec="lww")
                await kv.cas("b/1", lww_put("x", b"1", clock()), codec="lww")
            key, value = await watch.__anext__()
            assert key == "a/2"
            assert value.get("x") == b"4"
            await kv.delete("a/1")
            assert await watch.__anext__() == ("a/1", None)


async def test_notify_interval_batches_notifications(
    autojump_clock: trio.testing.MockClock,
) -> None:
    clock = FakeClock()
    async with kv_cluster(1, clock=clock, notify_interval=2.0) as (kv,):
        watch = kv.watch_key("k")
        assert await watch.__anext__() is None
        start = trio.current_time()
        await kv.cas("k", lww_put("x", b"1", clock()), codec="lww")
        await trio.testing.wait_all_tasks_blocked()
        assert kv.statistics().pending_notifications == 1
        assert (await watch.__anext__()).get("x") == b"1"
        assert 0 < trio.current_time() - start <= 2.0


async def test_watches_end_when_the_store_stops(
    autojump_clock: trio.testing.MockClock,
) -> None:
    clock = FakeClock()
    seen: list[object] = []
    async with trio.open_nursery() as nursery, kv_cluster(1, clock=clock) as (kv,):

        async def reader() -> None:
            async for value in kv.watch_key("k"):
                seen.append(value)

        nursery.start_soon(reader)
        await trio.testing.wait_all_tasks_blocked()
    assert seen == [None]
    after = kv.watch_key("k")
    async for _ in after:  # a watch made after the stop ends at once
        raise AssertionError("no values after the store stopped")
