"""The simulation's clock: exact jumps to each deadline, one trip through Trio's loop per
instant (MockClock's autojump takes two), and KV stamps on simulated time under it."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from trio_gossip.shell.kv.clock import SIM_EPOCH, default_clock, sim_clock
from trio_gossip.shell.sim_clock import SimClock


class LoopTrips(trio.abc.Instrument):
    """Counts passes of Trio's run loop (each pass waits for I/O once)."""

    def __init__(self) -> None:
        self.trips = 0

    def before_io_wait(self, timeout: float) -> None:
        self.trips += 1


async def _sleepers(count: int, woke: list[float]) -> None:
    async def sleeper(at: float) -> None:
        await trio.sleep_until(at)
        woke.append(trio.current_time())

    async with trio.open_nursery() as nursery:
        for i in range(count):
            nursery.start_soon(sleeper, 1.0 + i * 0.37)


def _run(clock: trio.abc.Clock, count: int) -> tuple[int, list[float]]:
    trips, woke = LoopTrips(), []
    trio.run(_sleepers, count, woke, clock=clock, instruments=[trips])
    return trips.trips, woke


def test_each_sleeper_wakes_exactly_at_its_deadline_in_one_loop_trip() -> None:
    count = 50
    trips, woke = _run(SimClock(), count)
    assert woke == [1.0 + i * 0.37 for i in range(count)]  # exact: no float drift
    mock_trips, mock_woke = _run(trio.testing.MockClock(autojump_threshold=0), count)
    assert mock_woke == pytest.approx(woke)
    assert trips <= count + 15  # one trip per instant, plus start-up and shut-down
    assert mock_trips >= 2 * count  # the mock clock's autojump: two per instant


def test_time_moves_only_forward_and_by_hand() -> None:
    clock = SimClock(start=5.0)
    assert clock.current_time() == 5.0
    assert clock.deadline_to_sleep_time(4.0) == 0.0
    assert clock.current_time() == 5.0
    clock.jump(1.5)
    assert clock.current_time() == 6.5
    with pytest.raises(ValueError, match="backwards"):
        clock.jump(-1.0)
    assert clock.deadline_to_sleep_time(float("inf")) > 1e6  # nothing due: wait for I/O
    assert clock.current_time() == 6.5


def test_kv_stamps_use_simulated_time_under_the_sim_clock() -> None:
    async def main() -> tuple[float, float]:
        await trio.sleep(3.0)
        return default_clock()(), sim_clock()

    stamp, expected = trio.run(main, clock=SimClock())
    assert stamp == expected == SIM_EPOCH + 3.0
