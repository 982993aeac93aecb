"""What keeps an idle simulated node cheap: a gossip timer that sleeps while there is no news,
probes that arm one timer each, and a fast IPv4 formatter, each checked against the behaviour
it must keep; and the writer's channel under overload."""

from __future__ import annotations

import ipaddress
import random
from typing import cast

import attrs
import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

import trio_gossip.core.engine.periodic as gossip_module
from trio_gossip import BaseDelegate
from trio_gossip.apps.sim import Cluster, ClusterSpec, open_cluster, run_simulation
from trio_gossip.apps.sim.history import History
from trio_gossip.apps.sim.observe import SimNode, recording_delegates
from trio_gossip.core.config import Config
from trio_gossip.core.engine import Context, EngineState, handle
from trio_gossip.core.engine import events as ev
from trio_gossip.core.engine.effects import CancelTimer, SetTimer
from trio_gossip.core.membership.bounds import join_timeout, suspicion_window
from trio_gossip.core.membership.codec import Codec
from trio_gossip.core.membership.member import ip_string
from trio_gossip.core.membership.schedule import gossip_targets
from trio_gossip.shell.node.delegate import Delegates
from trio_gossip.shell.node.inbox import Inbox
from trio_gossip.wire.messages import Ack, Alive, Dead, Ping, Suspect

CONFIG = Config.lan(name="sim")


@given(st.binary(min_size=4, max_size=4))
def test_ip_string_of_ipv4_matches_ipaddress(addr: bytes) -> None:
    assert ip_string(addr) == str(ipaddress.IPv4Address(addr))


def test_recording_delegates_play_user_broadcasts_only_with_an_inner_delegate() -> None:
    sim, history = cast(SimNode, object()), History()
    silent = attrs.evolve(Delegates.of(BaseDelegate()), broadcasts=None)
    assert recording_delegates(sim, history, None).broadcasts is None
    assert recording_delegates(sim, history, BaseDelegate()).broadcasts is not None
    assert recording_delegates(sim, history, silent).broadcasts is None
    assert recording_delegates(sim, history, None).events is not None  # always recorded


def test_gossip_timer_sleeps_only_without_user_broadcasts() -> None:
    assert Delegates.of(None).hooks().broadcasts is None
    assert Delegates.of(BaseDelegate()).hooks().broadcasts is not None


def _engine() -> tuple[Context, EngineState]:
    config = Config.lan(name="a")
    ctx = Context(config, Codec(config), random.Random(1))
    state, _ = handle(ctx, EngineState.initial("a"), 0.0, ev.Start(b"\x0a\x00\x00\x01", 7946, b""))
    alive = Alive(1, "b", b"\x0a\x00\x00\x02", 7946, None, config.build_vsn())
    state, _ = handle(ctx, state, 0.0, ev.Received(alive, ("10.0.0.2", 7946)))
    return ctx, state


def test_a_probe_arms_one_timer_and_its_ack_cancels_it() -> None:
    """A probe waits for its ack in the engine's state, not in a table of timers."""
    ctx, state = _engine()
    state, effects = handle(ctx, state, 1.0, ev.ProbeTick())
    assert state.probe is not None
    assert state.probe.target.name == "b"
    assert not state.waiters  # the probe in flight is the waiter
    timers = [e for e in effects if isinstance(e, SetTimer)]
    assert timers == [SetTimer(ev.ProbeTimeout(state.probe.seq), 1.0 + ctx.config.probe_timeout)]
    seq = state.probe.seq
    state, effects = handle(ctx, state, 1.01, ev.Received(Ack(seq), ("10.0.0.2", 7946)))
    assert state.probe is None
    assert CancelTimer(ev.ProbeTimeout(seq)) in effects
    assert any(isinstance(e, SetTimer) and e.timer == ev.ProbeTick() for e in effects)


def _quiet(cluster: Cluster) -> bool:
    return all(sim.memberlist.statistics().queued_broadcasts == 0 for sim in cluster.running())


def test_idle_gossip_loop_picks_no_targets_and_wakes_for_news(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = [0]

    def counting(*args: object, **kwargs: object) -> object:
        calls[0] += 1
        return gossip_targets(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(gossip_module, "gossip_targets", counting)
    nodes = 6
    counts: dict[str, int] = {}

    async def main() -> None:
        async with open_cluster(ClusterSpec(nodes=nodes, seed=3, config=CONFIG)) as cluster:
            await cluster.join()
            limit = join_timeout(CONFIG, nodes)
            await cluster.wait_converged(timeout=limit)
            await cluster.wait_until(lambda: _quiet(cluster), timeout=limit)
            counts["join"] = calls[0]
            await trio.sleep(50 * CONFIG.gossip_interval)  # mock clock
            counts["idle"] = calls[0] - counts["join"]
            await cluster.kill(cluster.live_names()[-1])
            _, high = suspicion_window(CONFIG, nodes)
            await cluster.wait_until(lambda: calls[0] > counts["join"] + counts["idle"],
                                     timeout=nodes * CONFIG.probe_interval + high)  # fmt: skip
            counts["after_kill"] = calls[0] - counts["join"] - counts["idle"]

    run_simulation(main, seed=1)
    assert counts["join"] > 0  # the patch is live: joining gossips
    assert counts["idle"] == 0  # at rest, no target picking at all
    assert counts["after_kill"] > 0  # a suspicion is news: the loop wakes for it


async def test_channel_takes_probe_traffic_first_then_alives_newest_first(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """memberlist's hand-off queues as one channel: pings and acks before gossip, alives
    before suspect/dead/user, each gossip lane newest first and bounded."""
    inbox = Inbox(handoff_depth=2)
    src = ("10.0.0.2", 7946)
    alive = [Alive(i, f"n{i}", b"\x0a\x00\x00\x02", 7946, None, b"") for i in range(3)]
    dead = Dead(1, "n9", "n8")
    assert inbox.put_received(dead, src)
    assert inbox.put_received(alive[0], src)
    assert inbox.put_received(alive[1], src)
    assert not inbox.put_received(alive[2], src)  # the alive lane is full: dropped
    assert inbox.put_received(Ping(5, "a", b"", 0, ""), src)
    inbox.put(ev.ProbeTick())
    assert inbox.dropped == 1
    taken = inbox.take(10)
    kinds = [e if isinstance(e, ev.ProbeTick) else e.message for e in taken]
    assert kinds == [ev.ProbeTick(), Ping(5, "a", b"", 0, ""), alive[1], alive[0], dead]
    assert inbox.put_received(Suspect(1, "n1", "n2"), src)
    start = trio.current_time()
    await inbox.wait()  # not empty: returns at once
    assert trio.current_time() == start
