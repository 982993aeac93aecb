"""Serf's reconnect: the book of failed members, the engine's tick, the shell's join."""

from __future__ import annotations

import random

import attrs
import pytest
import trio
import trio.testing
from node_support import base_config, start_cluster, wait_for

from trio_gossip import ConfigError, open_memberlist
from trio_gossip.core.engine import Context, EngineState, handle
from trio_gossip.core.engine import events as ev
from trio_gossip.core.engine.effects import PushPullWith, SetTimer
from trio_gossip.core.membership.codec import Codec
from trio_gossip.core.membership.member import EventKind, Member, MemberEvent
from trio_gossip.core.membership.reconnect import FailedMembers
from trio_gossip.transport.memory import MemoryNetwork
from trio_gossip.wire.messages import Alive, Dead, NodeState

VSN = bytes((1, 5, 2, 0, 0, 0))


def _member(name: str, state: NodeState = NodeState.DEAD) -> Member:
    return Member(name, bytes((10, 0, 0, 9)), 7946, b"", 1, state, 0.0, VSN)


def test_the_book_files_failures_and_drops_joins_and_leaves() -> None:
    book = FailedMembers()
    book = book.note(MemberEvent(EventKind.FAILED, _member("a")), 5.0)
    book = book.note(MemberEvent(EventKind.FAILED, _member("b")), 6.0)
    assert len(book) == 2
    assert book.entries["a"].since == 5.0
    assert book.note(MemberEvent(EventKind.UPDATED, _member("a", NodeState.ALIVE)), 7.0) is book
    book = book.note(MemberEvent(EventKind.JOINED, _member("a", NodeState.ALIVE)), 7.0)
    book = book.note(MemberEvent(EventKind.LEFT, _member("b", NodeState.LEFT)), 7.0)
    assert len(book) == 0


def test_the_book_forgets_after_the_timeout() -> None:
    book = FailedMembers().note(MemberEvent(EventKind.FAILED, _member("a")), 0.0)
    assert book.reap(100.0, 100.0) is book
    assert len(book.reap(100.5, 100.0)) == 0


def test_the_pick_follows_serfs_probability_and_replays() -> None:
    """Probability failed / alive: one failed member among 10 alive is tried about one round
    in ten; as many failed as alive, every round. Same seed, same picks."""
    book = FailedMembers()
    for name in ("a", "b", "c"):
        book = book.note(MemberEvent(EventKind.FAILED, _member(name)), 0.0)
    rng = random.Random(1)
    picks = [book.pick(3, rng) for _ in range(100)]
    assert all(p is not None for p in picks)
    assert {p.name for p in picks if p is not None} == {"a", "b", "c"}
    replay = random.Random(1)
    assert [book.pick(3, replay) for _ in range(100)] == picks
    lone = FailedMembers().note(MemberEvent(EventKind.FAILED, _member("a")), 0.0)
    rng = random.Random(2)
    tries = sum(lone.pick(10, rng) is not None for _ in range(2000))
    assert 150 <= tries <= 250  # 1/10 of 2,000
    state = rng.getstate()
    assert FailedMembers().pick(10, rng) is None
    assert rng.getstate() == state


def _started(config_name: str = "me", **overrides: object) -> tuple[Context, EngineState]:
    config = base_config(name=config_name, **overrides)
    ctx = Context(config, Codec(config), random.Random(3))
    state, effects = handle(ctx, EngineState.initial(config_name), 0.0,
                            ev.Start(bytes((10, 0, 0, 1)), 7946, b""))  # fmt: skip
    timers = {type(e.timer): e.at for e in effects if isinstance(e, SetTimer)}
    assert timers.get(ev.ReconnectTick) == (config.reconnect_interval or None)
    return ctx, state


def test_the_engine_reconnects_to_a_member_declared_dead() -> None:
    ctx, state = _started()
    peer = ("10.0.0.9", 7946)
    state, _ = handle(ctx, state, 1.0, ev.Received(Alive(1, "p", bytes((10, 0, 0, 9)), 7946,
                                                         b"", VSN), peer))  # fmt: skip
    state, _ = handle(ctx, state, 2.0, ev.Received(Dead(1, "p", "q"), peer))
    assert state.membership.members["p"].state == NodeState.DEAD
    assert list(state.failed.entries) == ["p"]
    interval = ctx.config.reconnect_interval
    # Alive: me; failed: p -> probability 1.
    state, effects = handle(ctx, state, interval, ev.ReconnectTick())
    joins = [e for e in effects if isinstance(e, PushPullWith)]
    assert len(joins) == 1
    assert joins[0].reconnect
    assert joins[0].peer.name == "p"
    assert SetTimer(ev.ReconnectTick(), 2 * interval) in effects
    assert state.counters.reconnects == 1
    # Still remembered after memberlist's own reaping, until reconnect_timeout.
    late = 2.0 + ctx.config.reconnect_timeout + 1
    state, effects = handle(ctx, state, late, ev.ReconnectTick())
    assert not [e for e in effects if isinstance(e, PushPullWith)]
    assert len(state.failed) == 0


def test_a_member_that_left_is_not_called_again() -> None:
    ctx, state = _started()
    peer = ("10.0.0.9", 7946)
    state, _ = handle(ctx, state, 1.0, ev.Received(Alive(1, "p", bytes((10, 0, 0, 9)), 7946,
                                                         b"", VSN), peer))  # fmt: skip
    state, _ = handle(ctx, state, 2.0, ev.Received(Dead(1, "p", "p"), peer))  # its own leave
    assert state.membership.members["p"].state == NodeState.LEFT
    assert len(state.failed) == 0


def test_reconnect_off_keeps_no_book_and_no_timer() -> None:
    ctx, state = _started(reconnect_interval=0.0)
    peer = ("10.0.0.9", 7946)
    state, _ = handle(ctx, state, 1.0, ev.Received(Alive(1, "p", bytes((10, 0, 0, 9)), 7946,
                                                         b"", VSN), peer))  # fmt: skip
    state, _ = handle(ctx, state, 2.0, ev.Received(Dead(1, "p", "q"), peer))
    assert len(state.failed) == 0


def test_reconnect_settings_are_checked_by_name() -> None:
    with pytest.raises(ConfigError, match=r"^reconnect_interval: must not be negative$"):
        base_config(reconnect_interval=-1.0)
    with pytest.raises(ConfigError, match=r"^reconnect_timeout: must be positive when"):
        base_config(reconnect_timeout=0.0)
    base_config(reconnect_interval=0.0, reconnect_timeout=0.0)  # off: the timeout is moot


async def test_a_node_that_was_killed_and_restarted_is_called_back(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """n1 dies and is reaped by n0; it comes back at the same address without joining
    anyone. n0's reconnect finds it within one interval of its return."""
    net = MemoryNetwork(seed=74)
    config = base_config(reconnect_interval=10.0, gossip_to_the_dead_time=5.0)
    async with start_cluster(net, 1, config) as (n0,):
        transport = net.add_node()
        address = transport.local_address
        async with open_memberlist(attrs.evolve(config, name="n1"),
                                   transport=transport, leave_on_exit=False) as n1:  # fmt: skip
            assert await n1.join([n0.local_member.address]) == 1
            await wait_for(lambda: n0.num_members() == 2, 5.0)
        await transport.aclose()  # a crash: no leave, the address is free again
        await wait_for(lambda: n0.member("n1") is None, 60.0)  # failed, then reaped
        assert "n1" in n0.snapshot.failed.entries
        back = trio.current_time()
        async with open_memberlist(attrs.evolve(config, name="n1"),
                                   transport=net.add_node(address)) as n1_again:  # fmt: skip
            await wait_for(lambda: n1_again.num_members() == 2 and n0.num_members() == 2,
                           config.reconnect_interval + config.tcp_timeout)  # fmt: skip
            assert trio.current_time() - back <= config.reconnect_interval + config.tcp_timeout
            assert n0.statistics().reconnects == 1

