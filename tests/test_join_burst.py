"""A burst of joins: ``quiet_join`` (a fresh node does not gossip the state its join brought)
and ``catch_up_push_pull`` (a node that gossip taught a burst of members does one push/pull
when its transmit queue drains).

The case they fix: forming a cluster of n nodes through one seed, each alive message is sent
a fixed number of times by every node that learns it, so a few nodes miss every copy of one
and wait for the periodic push/pull (300 nodes: 118 simulated seconds instead of 8), while
each newcomer re-sent the whole state its join brought, a third of the join's messages.
"""

from __future__ import annotations

import random

import trio
from node_support import base_config

from trio_gossip.core.config import Config
from trio_gossip.core.engine import Context, EngineState, handle
from trio_gossip.core.engine import events as ev
from trio_gossip.core.engine.effects import PushPullWith
from trio_gossip.core.engine.queue import MEMBERLIST, retransmit_limit
from trio_gossip.core.membership.bounds import epidemic_time
from trio_gossip.core.membership.codec import Codec
from trio_gossip.core.membership.schedule import push_pull_scale
from trio_gossip.testing import open_cluster, run
from trio_gossip.wire.messages import Alive, NodeState, PushNodeState

VSN = bytes((1, 5, 2, 0, 0, 0))
PEER = ("10.0.0.9", 7946)


def _node(**overrides: object) -> tuple[Context, EngineState]:
    config = base_config(name="me", **overrides)
    ctx = Context(config, Codec(config), random.Random(3))
    state, _ = handle(ctx, EngineState.initial("me"), 0.0,
                      ev.Start(bytes((10, 0, 0, 1)), 7946, b""))  # fmt: skip
    return ctx, state


def _entry(name: str, host: int, incarnation: int = 1, state: int = NodeState.ALIVE
           ) -> PushNodeState:  # fmt: skip
    return PushNodeState(name, bytes((10, 0, 1, host)), 7946, b"", incarnation, state, VSN)


def _queued_names(state: EngineState) -> set[str]:
    return {item.name for item in state.queue if item.name is not None}


def _merge(ctx: Context, state: EngineState, entries: list[PushNodeState]) -> EngineState:
    state, _ = handle(ctx, state, 1.0, ev.Merge(1, tuple(entries), b"", True))
    return state


def test_a_fresh_node_does_not_gossip_the_state_its_join_brought() -> None:
    cluster = [_entry(f"n{i}", i) for i in range(1, 6)]
    ctx, state = _node()
    before = _queued_names(state)
    merged = _merge(ctx, state, cluster)
    assert all(merged.membership.members[e.name].state == NodeState.ALIVE for e in cluster)
    assert _queued_names(merged) == before  # nothing of theirs: they know it already
    # memberlist's mergeState would have queued every one of them:
    ctx, state = _node(quiet_join=False)
    assert _queued_names(_merge(ctx, state, cluster)) == before | {e.name for e in cluster}


def test_a_node_with_peers_gossips_what_a_push_pull_brings() -> None:
    """Two clusters merging: each side must tell its own what the other side holds."""
    ctx, state = _node()
    state, _ = handle(ctx, state, 0.5, ev.Received(
        Alive(1, "mine", bytes((10, 0, 0, 7)), 7946, b"", VSN), PEER))  # fmt: skip
    merged = _merge(ctx, state, [_entry("theirs-1", 1), _entry("theirs-2", 2)])
    assert {"theirs-1", "theirs-2"} <= _queued_names(merged)


def test_a_quiet_join_still_refutes_an_old_claim_on_our_name() -> None:
    ctx, state = _node()
    me = state.membership.members["me"]
    claim = PushNodeState("me", bytes((10, 0, 0, 1)), 7946, b"", me.incarnation + 3,
                          NodeState.SUSPECT, VSN)  # fmt: skip
    merged = _merge(ctx, state, [claim, _entry("n1", 1)])
    assert merged.membership.members["me"].incarnation > me.incarnation + 3
    assert "me" in _queued_names(merged)
    assert "n1" not in _queued_names(merged)


def _taught(ctx: Context, state: EngineState, k: int, start: int = 1) -> EngineState:
    for i in range(start, start + k):
        alive = Alive(1, f"g{i}", bytes((10, 0, 2, i)), 7946, b"", VSN)
        state, _ = handle(ctx, state, 0.5, ev.Received(alive, PEER))
    return state


def _tick(ctx: Context, state: EngineState, now: float) -> tuple[EngineState, list[PushPullWith]]:
    state, effects = handle(ctx, state, now, ev.GossipTick())
    return state, [e for e in effects if isinstance(e, PushPullWith)]


def _drain(ctx: Context, state: EngineState) -> tuple[EngineState, list[PushPullWith]]:
    """Gossip ticks until the membership lane of the transmit queue is empty (one more tick
    sees it so), and the push/pulls they started."""
    pulls: list[PushPullWith] = []
    now = 1.0
    for _ in range(1000):
        now += ctx.config.gossip_interval
        drained = not state.queue.lane_len(MEMBERLIST)
        state, started = _tick(ctx, state, now)
        pulls += started
        if drained:
            return state, pulls
    raise AssertionError("the transmit queue never drained")


def _ours(state: EngineState) -> list[PushNodeState]:
    return [PushNodeState(m.name, m.addr, m.port, m.meta, m.incarnation, m.state, m.vsn)
            for m in state.membership.members.values()]  # fmt: skip


def _answer(ctx: Context, state: EngineState, entries: list[PushNodeState], now: float = 9.0
            ) -> EngineState:  # fmt: skip
    """The peer's answer to our catch-up."""
    state, _ = handle(ctx, state, now, ev.Merge(2, tuple(entries), b"", False, True))
    return state


def _burst(ctx: Context, state: EngineState) -> EngineState:
    """A node that knows 20 members hears of 10 more: 10 * limit(31) >= 31, a burst."""
    state = _taught(ctx, state, 20)
    state, _ = _drain(ctx, state)
    state = _taught(ctx, state, 10, start=21)
    n = state.membership.num_nodes
    assert 10 * retransmit_limit(ctx.config.retransmit_mult, n) >= n
    return state


def test_a_burst_is_caught_up_when_its_news_is_out_and_when_the_queue_drains() -> None:
    ctx, state = _node()
    state = _burst(ctx, state)
    assert (state.learned, state.unmerged) == (10, 10)  # the first 20 were a burst of their own
    before = state.counters.catch_ups
    limit = retransmit_limit(ctx.config.retransmit_mult, state.membership.num_nodes)
    now = 1.0
    while True:
        fresh = state.queue.sent_fewer_than(limit // 4)
        now += ctx.config.gossip_interval
        state, pulls = _tick(ctx, state, now)
        if pulls:
            break
        # no catch-up while more than gossip_nodes are sent fewer than limit/4 times
        assert fresh > ctx.config.gossip_nodes
    assert fresh <= ctx.config.gossip_nodes
    assert len(pulls) == 1
    assert pulls[0].catch_up
    assert pulls[0].peer.name.startswith("g")
    assert state.unmerged == 0
    assert len(state.queue)  # the rest of the news is still to be sent
    state = _answer(ctx, state, [])  # a peer that knows nothing of ours: keep sending all
    state, pulls = _drain(ctx, state)
    # The views differed: one more once every queued alive had its early sends, and the
    # burst's last one when the queue drained.
    assert [p.catch_up for p in pulls] == [True, True]
    state, pulls = _drain(ctx, _answer(ctx, state, _ours(state)))
    assert pulls == []  # equal views: the burst is over
    assert (state.learned, state.unmerged, state.caught_up) == (0, 0, False)
    assert state.counters.catch_ups == before + 3


def test_views_that_differ_after_the_burst_ask_for_one_more_catch_up() -> None:
    ctx, state = _node()
    state, _ = _drain(ctx, _burst(ctx, state))
    caught = state.counters.catch_ups
    state = _answer(ctx, state, [e for e in _ours(state) if e.name != "g3"])  # it lacked g3
    assert state.caught_up
    state, pulls = _tick(ctx, state, 50.0)  # the queue is empty: at the next tick
    assert [p.catch_up for p in pulls] == [True]
    state = _answer(ctx, state, _ours(state), now=51.0)
    state, pulls = _drain(ctx, state)
    assert pulls == []
    assert state.counters.catch_ups == caught + 1


def test_views_that_differ_ask_for_one_more_once_the_news_is_out_not_at_the_drain() -> None:
    """In a big cluster a queue holds thousands of alives still owed their redundant sends
    (16 each at 5,000 nodes): a node one member short must not wait for all of them. The
    follow-up waits only until every queued alive had a quarter of its sends, so that what
    it forgets (the alives the peer knows) has had its epidemic spread."""
    ctx, state = _node()
    state, _ = _drain(ctx, _taught(ctx, state, 200))
    state = _taught(ctx, state, 3, start=201)  # 3 * 16 < 204: a trickle, no burst
    limit = retransmit_limit(ctx.config.retransmit_mult, state.membership.num_nodes)
    early = max(1, limit // 4)
    new = {"g201", "g202", "g203"}
    state = _answer(ctx, state, [e for e in _ours(state) if e.name not in new])  # it lacked them
    assert state.caught_up
    assert _queued_names(state) >= new
    now, follow_up = 1.0, []
    while not follow_up:
        assert state.queue.lane_len(MEMBERLIST), "no follow-up before the drain"
        out = not state.queue.sent_fewer_than(early)
        now += ctx.config.gossip_interval
        state, follow_up = _tick(ctx, state, now)
        assert out or not follow_up  # never while an alive lacks its early sends
    assert [p.catch_up for p in follow_up] == [True]
    assert not state.caught_up


def test_mid_burst_catch_ups_wait_for_a_burst_worth_of_news() -> None:
    """Between catch-ups, gossip must bring k members with k * limit >= n: a catch-up costs
    a push/pull of n entries, no more than spreading that news did."""
    ctx, state = _node()
    state = _taught(ctx, state, 200)
    state, _ = _drain(ctx, state)
    state = _taught(ctx, state, 3, start=201)  # 3 * 16 < 204: a trickle, no catch-up yet
    now = 1.0
    for _ in range(5):
        now += ctx.config.gossip_interval
        state, pulls = _tick(ctx, state, now)
        assert pulls == []
    state = _taught(ctx, state, 20, start=204)  # 23 * 16 >= 224
    for _ in range(20):
        now += ctx.config.gossip_interval
        state, pulls = _tick(ctx, state, now)
        if pulls:
            break
    assert [p.catch_up for p in pulls] == [True]
    assert state.queue.lane_len(MEMBERLIST)  # before the drain


def test_an_epidemic_time_after_the_last_news_a_catch_up_does_not_wait_for_the_queue() -> None:
    """A big burst leaves a queue that takes longer to get its early sends out than the news
    takes to reach everyone (at 2,000 nodes a node holds ~1,900 alives owed sends, and the
    ones who missed the last joiners waited for all of them). Once an epidemic's time has
    passed since a member was last new to us, a random peer has the burst's news: one
    catch-up then, whatever the queue holds; not again until there is newer news."""
    ctx, state = _node()
    state = _taught(ctx, state, 200)  # at 0.5 s
    n = state.membership.num_nodes
    settle = epidemic_time(ctx.config, n)
    early = max(1, retransmit_limit(ctx.config.retransmit_mult, n) // 4)
    assert state.news_at == 0.5
    now, pulls = 0.5, []
    while not pulls:
        now += ctx.config.gossip_interval
        news_out = state.queue.sent_fewer_than(early) <= ctx.config.gossip_nodes
        state, pulls = _tick(ctx, state, now)
        assert not pulls or now >= 0.5 + settle  # never before the news has settled
    assert not news_out  # the queue's early sends were not out: the old rule would wait
    assert [p.catch_up for p in pulls] == [True]
    assert state.caught_up_at == now
    state = _answer(ctx, state, _ours(state), now=now)  # equal views
    state, later = _drain(ctx, state)
    assert [p.catch_up for p in later] == [True]  # only the burst's last, at the drain


def _heard(ctx: Context, state: EngineState, now: float, first: int, k: int) -> EngineState:
    """Gossip teaches us members h{first}..h{first+k-1} at ``now``."""
    for i in range(first, first + k):
        alive = Alive(1, f"h{i}", bytes((10, 1, i // 256, i % 256)), 7946, b"", VSN)
        state, _ = handle(ctx, state, now, ev.Received(alive, PEER))
    return state


def test_a_long_burst_is_caught_up_every_two_epidemic_times_though_its_news_is_never_out(
) -> None:  # fmt: skip
    """A node that learns most of a big burst from gossip holds an alive per member owed its
    sends; with news trickling in, neither 'news out' nor 'news settled' comes. Once a
    burst's worth of news has gone unmerged for two epidemic times, a catch-up anyway."""
    ctx, state = _node()
    state = _heard(ctx, state, 0.5, 0, 600)
    n = state.membership.num_nodes
    limit = retransmit_limit(ctx.config.retransmit_mult, n)
    early = max(1, limit // 4)
    wait = 2 * epidemic_time(ctx.config, n)
    assert state.unmerged_at == 0.5
    now, pulls, member = 0.5, [], 600
    while not pulls:
        now += ctx.config.gossip_interval
        state = _heard(ctx, state, now, member, 1)  # a member a round: the news never settles
        member += 1
        news_out = state.queue.sent_fewer_than(early) <= ctx.config.gossip_nodes
        state, pulls = _tick(ctx, state, now)
        assert not pulls or now >= 0.5 + wait
    assert now < 0.5 + wait + ctx.config.gossip_interval + 1e-9  # at the first round due
    assert not news_out  # the old rules would still be waiting
    assert [p.catch_up for p in pulls] == [True]
    assert state.unmerged == 0
    # The next one needs another burst's worth, unmerged for two epidemic times again.
    state = _answer(ctx, state, _ours(state), now=now)
    start, later = now, []
    for _ in range(5):
        now += ctx.config.gossip_interval
        state = _heard(ctx, state, now, member, 1)
        member += 1
        state, started = _tick(ctx, state, now)
        later += started
    assert later == []
    assert state.unmerged_at == start + ctx.config.gossip_interval


def test_queued_alives_a_catch_up_peer_knows_are_no_longer_sent() -> None:
    ctx, state = _node()
    state = _burst(ctx, state)
    now = 1.0
    while not state.counters.catch_ups:
        now += ctx.config.gossip_interval
        state, _ = _tick(ctx, state, now)
    queued = _queued_names(state) - {"me"}
    assert len(queued) > 2
    lacks = sorted(queued)[:2]
    state = _answer(ctx, state, [e for e in _ours(state) if e.name not in lacks])
    assert _queued_names(state) - {"me"} == set(lacks)
    assert state.counters.broadcasts_known == len(queued) - 2
    assert state.caught_up  # it lacked two of ours


def test_one_new_member_in_a_big_cluster_is_no_burst() -> None:
    """k * retransmit_limit < n: gossiping the news cost less than a push/pull would."""
    ctx, state = _node()
    state = _taught(ctx, state, 200)
    state, _ = _drain(ctx, state)
    caught_up = state.counters.catch_ups
    state = _taught(ctx, state, 1, start=201)
    n = state.membership.num_nodes
    assert retransmit_limit(ctx.config.retransmit_mult, n) < n
    state, pulls = _drain(ctx, state)
    assert pulls == []
    assert state.counters.catch_ups == caught_up
    assert state.learned == 0


def test_no_catch_up_when_turned_off() -> None:
    ctx, state = _node(catch_up_push_pull=False)
    state, pulls = _drain(ctx, _burst(ctx, state))
    assert pulls == []
    assert state.counters.catch_ups == 0


def test_a_periodic_push_pull_stands_for_the_catch_up_while_the_news_spreads() -> None:
    ctx, state = _node()
    state = _burst(ctx, state)
    state, effects = handle(ctx, state, 0.6, ev.PushPullTick())
    periodic = [e for e in effects if isinstance(e, PushPullWith)]
    assert len(periodic) == 1
    assert not periodic[0].catch_up
    assert state.unmerged == 0
    state, pulls = _drain(ctx, state)
    assert [p.catch_up for p in pulls] == [True]  # only the last one, at the drain


def _straggler_time(catch_up: bool) -> tuple[float, int]:
    """60 nodes joining through one seed with each broadcast sent only twice (retransmit_mult
    1): many nodes miss an alive. When every view was complete, and catch-ups started."""
    config = Config.lan(name="t", enable_compression=False, retransmit_mult=1,
                        catch_up_push_pull=catch_up)  # fmt: skip
    out: list[float] = []
    catch_ups: list[int] = []

    async def main() -> None:
        async with open_cluster(60, seed=4, config=config) as cluster:
            start = trio.current_time()
            deadline = start + push_pull_scale(config.push_pull_interval, 60)
            while not cluster.is_converged() and trio.current_time() < deadline:
                await trio.sleep(config.gossip_interval)
            out.append(trio.current_time() - start)
            catch_ups.append(sum(h.memberlist.statistics().catch_ups for h in cluster.running()))

    run(main, seed=4)
    return out[0], catch_ups[0]


def test_stragglers_catch_up_long_before_the_periodic_push_pull() -> None:
    config = Config.lan(name="t")
    scaled = push_pull_scale(config.push_pull_interval, 60)
    with_it, catch_ups = _straggler_time(True)
    without, none = _straggler_time(False)
    assert none == 0
    assert catch_ups > 0
    # Each queue drains within (n alives * limit) / (gossip_nodes per round) rounds at most;
    # the catch-up is one stream exchange after that.
    limit = retransmit_limit(1, 60)
    drain = 60 * limit / config.gossip_nodes * config.gossip_interval
    assert with_it <= drain + config.probe_interval, (with_it, drain)
    assert without > with_it + 5 * config.gossip_interval, (without, with_it, scaled)


def test_without_push_pull_there_are_no_catch_ups_and_joins_gossip_as_memberlist() -> None:
    """push_pull_interval 0: the user wants no stream sync, so no catch-up push/pulls, and a
    newcomer re-gossips what its join brought, the redundancy memberlist relies on then."""
    ctx, state = _node(push_pull_interval=0.0)
    state, pulls = _drain(ctx, _burst(ctx, state))
    assert pulls == []
    assert state.counters.catch_ups == 0
    ctx, state = _node(push_pull_interval=0.0)
    cluster = [_entry(f"n{i}", i) for i in range(1, 4)]
    assert {e.name for e in cluster} <= _queued_names(_merge(ctx, state, cluster))
