"""What keeps an idle simulated node cheap: a gossip timer that sleeps while there is no news,
probes that arm one timer each, and a fast IPv4 formatter, each checked against the behaviour
it must keep; and the writer's channel under overload."""

from __future__ import annotations

import ipaddress
import random
from typing import Any, cast

import attrs
import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

import trio_gossip.core.engine.periodic as gossip_module
import trio_gossip.shell.node.writer as writer_module
from trio_gossip import BaseDelegate
from trio_gossip.apps.sim import Cluster, ClusterSpec, open_cluster, run_simulation
from trio_gossip.apps.sim.history import History
from trio_gossip.apps.sim.observe import SimNode, recording_delegates
from trio_gossip.core.config import Config
from trio_gossip.core.engine import Context, EngineState, handle
from trio_gossip.core.engine import events as ev
from trio_gossip.core.engine.effects import CancelTimer, PingComplete, Send, SetTimer
from trio_gossip.core.engine.engine import handle_all
from trio_gossip.core.engine.queue import TransmitQueue
from trio_gossip.core.engine.receive import answer_ping_now, is_stale_gossip
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
    """No broadcast queued and no catch-up push/pull due (catch_up_push_pull) anywhere."""
    return all(sim.memberlist.statistics().queued_broadcasts == 0
               and not sim.memberlist.snapshot.learned and not sim.memberlist.snapshot.caught_up
               for sim in cluster.running())  # fmt: skip


def _catch_ups(cluster: Cluster) -> int:
    return sum(sim.memberlist.statistics().catch_ups for sim in cluster.running())


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


async def test_a_datagrams_messages_enter_the_channel_as_put_received_would_put_them(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """``put_packet`` is the batch form the receive path uses: same lanes, same bound."""
    src = ("10.0.0.2", 7946)
    alive = [Alive(i, f"n{i}", b"\x0a\x00\x00\x02", 7946, None, b"") for i in range(3)]
    packet = [Dead(1, "n9", "n8"), *alive, Ping(5, "a", b"", 0, ""), Ack(5)]
    one_by_one, batched = Inbox(handoff_depth=2), Inbox(handoff_depth=2)
    kept = [one_by_one.put_received(m, src) for m in packet]
    assert batched.put_packet(packet, src) == kept.count(False) == 1
    assert batched.dropped == one_by_one.dropped == 1
    assert batched.take(10) == one_by_one.take(10)


def test_a_ping_at_rest_is_answered_on_the_receive_path_with_the_writers_bytes() -> None:
    """With nothing queued the ack leaves from the receive path, byte for byte what the
    writer would send; with a broadcast queued (which the ack must carry, as memberlist
    piggybacks on every packet) or for another name, the writer decides."""
    ctx, state = _engine()
    source = ("10.0.0.2", 7946)
    ping = Ping(9, "a", b"\x0a\x00\x00\x02", 7946, "b")
    _, effects = handle(ctx, state, 1.0, ev.Received(ping, source))
    by_writer = [e for e in effects if isinstance(e, Send)]
    quiet = attrs.evolve(state, queue=TransmitQueue())
    now = answer_ping_now(ctx, quiet, ping, source)
    assert now is not None
    assert answer_ping_now(ctx, state, ping, source) is None  # b's alive is still queued
    _, effects = handle(ctx, quiet, 1.0, ev.Received(ping, source))
    assert [now] == [e for e in effects if isinstance(e, Send)]
    assert len(by_writer) == 1
    assert len(by_writer[0].datagrams[0]) > len(now.datagrams[0])  # it carried b's alive
    other = answer_ping_now(ctx, quiet, attrs.evolve(ping, node="z"), source)
    assert other == Send(source, ())


def test_at_rest_a_probe_costs_the_writer_one_step(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A probe round at rest is one step of the prober's writer: the target answers the ping
    on its receive path, the ack is set aside for the next tick (probe.ack_can_wait), and
    the engine handles it in the tick's step, where the tick it arms fires."""
    steps = [0]
    real = writer_module.handle_all

    def counting(*args: Any, **kwargs: Any) -> Any:
        steps[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(writer_module, "handle_all", counting)
    nodes, rounds = 8, 20
    counted: dict[str, int] = {}

    async def main() -> None:
        async with open_cluster(ClusterSpec(nodes=nodes, seed=5, config=CONFIG)) as cluster:
            await cluster.join()
            limit = join_timeout(CONFIG, nodes)
            await cluster.wait_converged(timeout=limit)
            await cluster.wait_until(lambda: _quiet(cluster), timeout=limit)
            await trio.sleep(CONFIG.probe_interval)  # a last catch-up's answer comes back
            await cluster.wait_until(lambda: _quiet(cluster), timeout=limit)
            start, catch_ups = steps[0], _catch_ups(cluster)
            await trio.sleep(rounds * CONFIG.probe_interval)
            counted["steps"] = steps[0] - start
            assert _catch_ups(cluster) == catch_ups  # at rest: the formation's are over

    run_simulation(main, seed=2)
    probes = nodes * rounds
    assert probes <= counted["steps"] + nodes  # every node kept probing
    assert counted["steps"] <= probes + 2 * nodes  # two per probe would be ~2 * probes


def test_alive_repeats_stay_out_of_the_writer_unless_an_alive_filter_must_see_them() -> None:
    """memberlist's aliveNode ignores an alive no newer than what it knows: the receive path
    drops those by the snapshot. It calls the alive delegate for every alive, repeats
    included, so with a filter they still go to the writer."""
    ctx, state = _engine()
    known = Alive(1, "b", b"\x0a\x00\x00\x02", 7946, None, ctx.config.build_vsn())
    assert is_stale_gossip(ctx, state, known)
    assert not is_stale_gossip(ctx, state, attrs.evolve(known, incarnation=2))  # news
    assert not is_stale_gossip(ctx, state, attrs.evolve(known, node="c"))  # a stranger
    assert not is_stale_gossip(ctx, state, attrs.evolve(known, port=7947))  # moved: a conflict
    assert not is_stale_gossip(ctx, state, attrs.evolve(known, port=0))  # the writer fills it in
    filtered = attrs.evolve(ctx, hooks=attrs.evolve(ctx.hooks, alive_filter=lambda m: True))
    assert not is_stale_gossip(filtered, state, known)
    # And the engine agrees: handing it the repeat changes nothing.
    after, effects = handle(ctx, state, 2.0, ev.Received(known, ("10.0.0.2", 7946)))
    assert after.membership is state.membership
    assert not [e for e in effects if not isinstance(e, SetTimer)]


async def test_an_empty_datagram_does_not_wake_the_writer(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A datagram whose messages were all handled on the receive path (a ping answered,
    alive repeats dropped) puts nothing, so the writer sleeps on."""
    inbox = Inbox(handoff_depth=2)
    woke: list[float] = []

    async def writer() -> None:
        await inbox.wait()
        woke.append(trio.current_time())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer)
        await trio.sleep(1.0)
        assert inbox.put_packet([], ("10.0.0.2", 7946)) == 0
        await trio.sleep(1.0)
        assert woke == []
        inbox.put_packet([Ack(1)], ("10.0.0.2", 7946))
        await trio.sleep(1.0)
        assert woke == [2.0]


def test_a_set_aside_ack_and_the_tick_it_arms_are_one_step() -> None:
    """handle_all's ``earlier`` event runs at its own time; a timer it arms for a time
    already past fires in the same step, once, and the round trip stays the ack's."""
    ctx, state = _engine()
    third = Alive(1, "c", b"\x0a\x00\x00\x03", 7946, None, ctx.config.build_vsn())
    state, _ = handle(ctx, state, 0.0, ev.Received(third, ("10.0.0.3", 7946)))
    state, _ = handle(ctx, state, 1.0, ev.ProbeTick())
    assert state.probe is not None
    seq, tick = state.probe.seq, state.probe_tick
    target = state.probe.target.address
    ack = ev.Received(Ack(seq), target)
    # Woken at the tick: the ack is handled at 1.01 and the tick it arms fires now.
    after, effects = handle_all(ctx, state, tick, [ev.ProbeTick()], earlier=(1.01, ack))
    complete = [e for e in effects if isinstance(e, PingComplete)]
    assert [round(e.rtt, 9) for e in complete] == [0.01]
    assert not [e for e in effects if isinstance(e, SetTimer) and e.at <= tick]
    assert after.probe is not None  # the next round, started once
    assert after.probe.start == tick
    assert after.probe.seq == seq + 1
    assert after.probe_tick == tick + ctx.config.probe_interval
    # Woken before the tick (by a packet): the tick stays armed for later.
    assert tick > 1.02
    early, effects = handle_all(ctx, state, 1.02, [], earlier=(1.01, ack))
    assert early.probe is None
    assert SetTimer(ev.ProbeTick(), tick) in effects
