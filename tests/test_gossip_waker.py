"""The gossip timer of a node whose broadcasts role takes a waker (Hooks.broadcasts_wake)
sleeps after a tick that found nothing to send in either queue, and wakes onto its grid when
the role queues something; without a waker it ticks every interval, as memberlist does."""

from __future__ import annotations

import random

import pytest
from node_support import base_config

from trio_gossip.apps.agent.relay import SerfRelay
from trio_gossip.apps.agent.serf import Intent
from trio_gossip.core.engine import Context, EngineState, Hooks, handle
from trio_gossip.core.engine import events as ev
from trio_gossip.core.engine.effects import Effect, Send, SetTimer
from trio_gossip.core.engine.receive import answer_ping_now
from trio_gossip.core.membership.codec import Codec
from trio_gossip.shell.node.delegate import Delegates
from trio_gossip.wire.messages import Alive, Ping

VSN = bytes((1, 5, 2, 0, 0, 0))


def _node(outbox: list[bytes], *, wake: bool) -> tuple[Context, EngineState, float]:
    """A started node with one peer and an empty memberlist queue, past its first ticks."""
    config = base_config(name="me")

    def broadcasts(overhead: int, limit: int) -> list[bytes]:
        taken, outbox[:] = outbox[:], []
        return taken

    ctx = Context(config, Codec(config), random.Random(3),
                  Hooks(broadcasts=broadcasts, broadcasts_wake=wake))  # fmt: skip
    state, _ = handle(ctx, EngineState.initial("me"), 0.0,
                      ev.Start(bytes((10, 0, 0, 1)), 7946, b""))  # fmt: skip
    peer = Alive(1, "peer", bytes((10, 0, 0, 2)), 7946, b"", VSN)
    state, _ = handle(ctx, state, 0.0, ev.Received(peer, ("10.0.0.2", 7946)))
    while len(state.queue):  # our own alive and the peer's go out first
        state, _ = handle(ctx, state, state.gossip_tick, ev.GossipTick())
    return ctx, state, state.gossip_tick  # the next tick of the timer's grid


def _gossip_timers(effects: list[Effect]) -> list[float]:
    return [e.at for e in effects if isinstance(e, SetTimer) and isinstance(e.timer, ev.GossipTick)]


def test_a_waking_role_lets_the_timer_sleep_until_it_queues_something() -> None:
    outbox: list[bytes] = []
    ctx, state, now = _node(outbox, wake=True)
    interval = ctx.config.gossip_interval
    state, effects = handle(ctx, state, now, ev.GossipTick())  # sends nothing
    assert _gossip_timers(effects) == [pytest.approx(now + interval)]
    state, effects = handle(ctx, state, now + interval, ev.GossipTick())
    assert _gossip_timers(effects) == []  # asleep
    assert state.gossip_idle
    # The role queues a message at a time between grid points: the timer wakes onto its grid.
    outbox.append(b"serf-event")
    woke_at = now + 5.3 * interval
    state, effects = handle(ctx, state, woke_at, ev.WakeGossip())
    next_tick = now + 6 * interval
    assert _gossip_timers(effects) == [pytest.approx(next_tick)]
    state, effects = handle(ctx, state, next_tick, ev.GossipTick())
    sends = [e for e in effects if isinstance(e, Send)]
    assert len(sends) == 1
    assert b"serf-event" in b"".join(sends[0].datagrams)


def test_without_a_waker_the_timer_ticks_every_interval() -> None:
    outbox: list[bytes] = []
    ctx, state, now = _node(outbox, wake=False)
    interval = ctx.config.gossip_interval
    for k in range(5):
        state, effects = handle(ctx, state, now + k * interval, ev.GossipTick())
        assert _gossip_timers(effects) == [pytest.approx(now + (k + 1) * interval)]


def test_the_agent_relay_wakes_the_node_whenever_it_queues() -> None:
    relay = SerfRelay(4, lambda: 10)
    woken: list[int] = []
    roles = Delegates(broadcasts=relay)
    waking = roles.waking_broadcasts()
    assert waking is relay
    assert roles.hooks().broadcasts_wake
    relay.set_gossip_waker(lambda: woken.append(1))
    relay.queue_own(Intent("me", 3, leave=False))
    assert len(woken) == 1
    assert not Delegates(broadcasts=None).hooks().broadcasts_wake


def test_pings_are_answered_on_the_receive_path_while_the_waking_role_is_quiet() -> None:
    """An agent's probes at rest cost its writer no wake-up: while the last gossip tick found
    nothing in the role's queue, acks carry nothing of it and need no state change."""
    outbox: list[bytes] = []
    ctx, state, now = _node(outbox, wake=True)
    ping = Ping(7, "me", bytes((10, 0, 0, 2)), 7946, "peer")
    assert not state.gossip_quiet
    assert answer_ping_now(ctx, state, ping, ("10.0.0.2", 7946)) is None  # the writer answers
    state, _ = handle(ctx, state, now, ev.GossipTick())  # found nothing: quiet
    answer = answer_ping_now(ctx, state, ping, ("10.0.0.2", 7946))
    assert answer is not None
    assert answer.to == ("10.0.0.2", 7946)
    assert len(answer.datagrams) == 1
    state, _ = handle(ctx, state, now + 0.05, ev.WakeGossip())  # the role queued something
    assert answer_ping_now(ctx, state, ping, ("10.0.0.2", 7946)) is None
    ctx, state, now = _node(outbox, wake=False)
    state, _ = handle(ctx, state, now, ev.GossipTick())
    assert answer_ping_now(ctx, state, ping, ("10.0.0.2", 7946)) is None  # no waker: never
