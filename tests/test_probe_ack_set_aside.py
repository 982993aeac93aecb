"""The ack to our own direct probe waits for the writer's next wake-up (engine.probe.
ack_can_wait): probes still succeed, the round trip the ping hook sees is the link's, and
an ack that comes after the timeout is not set aside."""

from __future__ import annotations

import attrs
import trio

from trio_gossip import BaseDelegate, Member
from trio_gossip.apps.sim import ClusterSpec, open_cluster, run_simulation
from trio_gossip.core.config import Config
from trio_gossip.core.engine.events import ProbeTimeout
from trio_gossip.core.engine.probe import ack_can_wait
from trio_gossip.core.engine.state import EngineState, ProbeRound
from trio_gossip.transport.memory import LinkConfig
from trio_gossip.wire.messages import NodeState

CONFIG = Config.lan(name="sim")


class RoundTrips(BaseDelegate):
    def __init__(self) -> None:
        self.rtts: list[float] = []

    def notify_ping_complete(self, member: Member, rtt: float, payload: bytes | None) -> None:
        self.rtts.append(rtt)


def _member(name: str) -> Member:
    return Member(name, bytes([10, 0, 0, 1]), 7946, b"", 1, NodeState.ALIVE, 0.0)


def test_only_the_ack_of_our_direct_probe_in_flight_may_wait_for_the_next_tick() -> None:
    state = EngineState.initial("a", kv=False)
    assert ack_can_wait(state, 7) is None  # no probe in flight
    flying = ProbeRound(7, _member("b"), start=10.0, deadline=11.0)
    state = attrs.evolve(state, probe=flying, probe_tick=11.0)
    assert ack_can_wait(state, 7) == (11.0, ProbeTimeout(7))
    assert ack_can_wait(state, 8) is None  # another probe's, or a relay's
    assert ack_can_wait(attrs.evolve(state, probe=attrs.evolve(flying, indirect=True)), 7) is None
    assert ack_can_wait(attrs.evolve(state, probe=attrs.evolve(flying, sent=False)), 7) is None


def _round_trips(latency: float, seconds: float) -> tuple[list[float], int, int]:
    spec = ClusterSpec(nodes=2, seed=3, config=CONFIG, link=LinkConfig(latency=latency))
    hooks = [RoundTrips(), RoundTrips()]
    out: dict[str, int] = {}

    async def main() -> None:
        async with open_cluster(spec, delegates=hooks.__getitem__) as cluster:
            await cluster.form()
            await trio.sleep(seconds)
            stats = cluster.nodes[0].memberlist.statistics()
            out["probes"], out["failed"] = stats.probes, stats.failed_probes

    run_simulation(main, seed=spec.seed)
    return hooks[0].rtts, out["probes"], out["failed"]


def test_set_aside_acks_keep_probes_successful_with_the_links_round_trip() -> None:
    rtts, probes, failed = _round_trips(latency=0.01, seconds=30.0)
    assert failed == 0
    # At most one probe a probe interval (with two nodes, memberlist's walk skips a tick
    # when a reshuffle puts us first), each answered; the last may still be in flight.
    assert 30 / CONFIG.probe_interval / 2 <= probes <= 30 / CONFIG.probe_interval + 1
    assert probes - len(rtts) <= 1
    # The round trip is the link's both ways (plus its time on the wire), the same every
    # time: not the wait until the writer's next tick. (The ping leaves on the network's
    # millisecond grid and the ack lands on it: the difference of two grid points can be a
    # rounding error short of 0.02.)
    assert all(0.02 - 1e-9 <= rtt < 0.021 for rtt in rtts), rtts
    assert max(rtts) - min(rtts) < 1e-9


def test_an_ack_after_the_probe_timeout_is_not_set_aside() -> None:
    # 0.3 s each way: every ack comes after the 0.5 s timeout, when the round went indirect.
    rtts, probes, failed = _round_trips(latency=0.3, seconds=20.0)
    assert probes >= 10
    assert failed == 0  # the late (or relayed) acks still count before the deadline
    assert rtts == []  # memberlist reports a round trip only for an ack within the timeout
