"""A simulated node's timers are alarms of the network it runs on (``KeepsTime``): the delivery
pump fires each at its own time, and a writer parked with nothing else to do takes the step
right there, without a wake-up of its task. What that must not change: when things happen."""

from __future__ import annotations

import traceback

import pytest
import trio
import trio.testing
from transport_support import serving

from trio_gossip.apps.sim import ClusterSpec, open_cluster, run_simulation
from trio_gossip.core.config import Config
from trio_gossip.shell.node import writer as writer_module
from trio_gossip.shell.node.writer import Writer
from trio_gossip.transport import Address, LinkConfig, MemoryNetwork


class Recorder:
    """An alarm that notes the network's time and Trio's when it fires."""

    def __init__(self, net: MemoryNetwork, name: str, seen: list[tuple[str, float, float]]
                 ) -> None:  # fmt: skip
        self.net, self.name, self.seen = net, name, seen

    def fire(self, now: float) -> None:
        self.seen.append((self.name, self.net.now(), trio.current_time()))


async def test_alarms_fire_at_their_own_time_before_the_packets_of_the_grid_point(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # A packet due at 10.1 ms arrives on the grid, at 11 ms; alarms at 10.3 and 10.5 ms fire
    # in the same pass of the pump, first, each at its own time in the network's clock.
    net = MemoryNetwork(seed=1, default_link=LinkConfig(latency=0.0101), resolution=0.001)
    seen: list[tuple[str, float, float]] = []

    def arrived(data: bytes, src: Address) -> None:
        seen.append(("packet", net.now(), trio.current_time()))

    async with serving(net, 2) as (a, b):
        b.transport.on_packet = arrived
        start = trio.current_time()
        assert a.transport.send_packet_nowait(b.address, b"x")
        a.transport.call_at(start + 0.0105, Recorder(net, "later alarm", seen))
        a.transport.call_at(start + 0.0103, Recorder(net, "alarm", seen))
        await trio.sleep(0.02)
    assert [name for name, _, _ in seen] == ["alarm", "later alarm", "packet"]
    times = {name: (t - start, trio_t - start) for name, t, trio_t in seen}
    assert times["alarm"][0] == pytest.approx(0.0103, abs=1e-12)
    assert times["later alarm"][0] == pytest.approx(0.0105, abs=1e-12)
    for _, network_time, trio_time in seen[:2]:  # the pump runs on the grid...
        assert trio_time - start == pytest.approx(0.011, abs=1e-9)
        assert network_time < trio_time  # ...the alarms keep their time
    assert times["packet"][0] == pytest.approx(0.011, abs=1e-9)
    assert net.now() == trio.current_time()  # outside the pump's pass, Trio's clock


def _rest(monkeypatch: pytest.MonkeyPatch, seconds: float) -> dict[str, int]:
    """Count the steps the writers' tasks take and those their alarms take, at rest."""
    counts = {"task": 0, "alarm": 0, "probes": 0}
    counting = [False]
    task_step, fire = Writer._step, Writer.fire

    async def counted_step(self: Writer) -> None:
        counts["task"] += counting[0]
        await task_step(self)

    def counted_fire(self: Writer, now: float) -> None:
        counts["alarm"] += counting[0]
        fire(self, now)

    monkeypatch.setattr(Writer, "_step", counted_step)
    monkeypatch.setattr(Writer, "fire", counted_fire)
    spec = ClusterSpec(nodes=5, seed=4, config=Config.lan(name="sim"))

    async def main() -> None:
        async with open_cluster(spec) as cluster:
            await cluster.form_at_once()
            await cluster.wait_until(cluster.quiet, timeout=30.0, poll=1.0)
            before = sum(sim.memberlist.statistics().probes for sim in cluster.nodes)
            counting[0] = True
            await trio.sleep(seconds)
            counting[0] = False
            after = sum(sim.memberlist.statistics().probes for sim in cluster.nodes)
            counts["probes"] = after - before

    run_simulation(main, seed=spec.seed)
    return counts


def test_at_rest_the_alarms_take_every_step_and_no_task_wakes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seconds = 30.0
    counts = _rest(monkeypatch, seconds)
    # A probe a probe interval per node (the last may be in flight at either end).
    assert 5 * seconds - 5 <= counts["probes"] <= 5 * seconds + 5
    assert counts["task"] == 0
    # One step per probe (the tick, with the set-aside ack of the round before), plus the
    # alarms that find their deadline moved (the probe timeout the ack made moot) and the
    # push/pull timers.
    assert counts["probes"] <= counts["alarm"] <= 3 * counts["probes"]


def test_a_step_an_alarm_takes_that_raises_ends_its_node_from_the_writer_task(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The pump serves every node: an engine error in a step it took for a node must surface
    where the node's own step would have raised it, in that node's writer task."""
    real = writer_module.handle_all
    armed = [False]

    class EngineBrokeError(Exception):
        pass

    def broken(*args: object, **kwargs: object) -> object:
        if armed[0]:
            raise EngineBrokeError("the engine broke")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(writer_module, "handle_all", broken)
    spec = ClusterSpec(nodes=3, seed=2, config=Config.lan(name="sim"))

    async def main() -> None:
        async with open_cluster(spec) as cluster:
            await cluster.form_at_once()
            armed[0] = True
            await trio.sleep(5.0)

    with pytest.raises((EngineBrokeError, BaseExceptionGroup)) as caught:
        run_simulation(main, seed=spec.seed)
    errors = [caught.value]
    while isinstance(errors[-1], BaseExceptionGroup):
        errors.append(errors[-1].exceptions[0])
    leaf = errors[-1]
    assert isinstance(leaf, EngineBrokeError)
    frames = [frame.name for frame in traceback.extract_tb(leaf.__traceback__)]
    assert "fire" in frames  # an alarm took the step...
    assert "_run_on_alarms" in frames  # ...and the writer task raised what it raised...
    assert "_pump" not in frames  # ...not the pump
