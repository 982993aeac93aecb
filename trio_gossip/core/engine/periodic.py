"""The periodic work besides probing: gossip (memberlist's gossip) and push/pull scheduling
(pushPullTrigger), and suspicion timers that fire."""

from __future__ import annotations

from trio_gossip.core.config import Config
from trio_gossip.core.engine.effects import PushPullWith, SetTimer
from trio_gossip.core.engine.events import (
    GossipTick,
    PushPullStagger,
    PushPullTick,
    ReconnectTick,
    SuspicionTimeout,
)
from trio_gossip.core.engine.queue import MEMBERLIST, retransmit_limit
from trio_gossip.core.engine.step import Step
from trio_gossip.core.membership import rules
from trio_gossip.core.membership.awareness import scale_timeout
from trio_gossip.core.membership.bounds import epidemic_time
from trio_gossip.core.membership.codec import COMPOUND_OVERHEAD
from trio_gossip.core.membership.schedule import gossip_targets, push_pull_peer, push_pull_scale
from trio_gossip.wire.messages import NodeState


def start_timers(step: Step) -> None:
    """Gossip and push/pull start at random points of their first interval (stagger)."""
    cfg = step.ctx.config
    rng = step.ctx.rng
    if cfg.gossip_interval > 0 and cfg.gossip_nodes > 0:
        tick = step.now + rng.random() * cfg.gossip_interval
        step.gossip_tick = tick
        step.emit(SetTimer(GossipTick(), tick))
    if cfg.push_pull_interval > 0:
        step.emit(SetTimer(PushPullStagger(), step.now + rng.random() * cfg.push_pull_interval))
    if cfg.reconnect_interval > 0:
        step.emit(SetTimer(ReconnectTick(), step.now + cfg.reconnect_interval))


def on_gossip_tick(step: Step) -> None:
    cfg = step.ctx.config
    step.gossip_tick += cfg.gossip_interval
    kv_ctx = step.ctx.kv
    greets = kv_ctx is not None and kv_ctx.peer_filter is not None
    if (step.learned or step.caught_up) and catching_up(cfg):
        _catch_up(step)
    hooks = step.ctx.hooks
    hook_quiet = hooks.broadcasts is None or (hooks.broadcasts_wake and step.gossip_quiet)
    if not len(step.queue) and hook_quiet and not greets:
        # Nothing to say: rather than waking every interval for nothing (a large share of a
        # big simulation's cost, and of an idle agent's), the timer sleeps until something
        # is queued. memberlist's gossip ticker never stops, but a tick with nothing to send
        # sends nothing there either.
        step.gossip_idle = True
        return
    step.emit(SetTimer(GossipTick(), step.gossip_tick))
    codec = step.ctx.codec
    sent = False
    for peer in gossip_targets(step.membership, step.now, cfg, step.ctx.rng):
        parts = step.take_broadcasts(COMPOUND_OVERHEAD, codec.gossip_budget)
        if not parts:
            break
        sent = True
        step.send_bare(peer.address, parts, pmax=peer.pmax)
    if hooks.broadcasts_wake:
        step.gossip_quiet = not sent  # then the next tick sleeps unless something is queued
    if kv_ctx is not None:
        from trio_gossip.core.engine import kv  # noqa: PLC0415 - a node without a KV store never loads it

        kv.gossip_round(step)


def on_wake_gossip(step: Step) -> None:
    """The broadcasts role queued something (Hooks.broadcasts_wake)."""
    step.gossip_quiet = False
    step.wake_gossip()


def catching_up(cfg: Config) -> bool:
    """Whether catch-up push/pulls run: ``catch_up_push_pull``, unless push/pull is off
    (``push_pull_interval`` 0: the user wants no stream sync, and gossip keeps memberlist's
    full redundancy, ``quiet_join`` included)."""
    return cfg.catch_up_push_pull and cfg.push_pull_interval > 0


def _early_sends(step: Step) -> int:
    """A quarter of a membership broadcast's retransmit limit: the sends of its epidemic
    spread; the rest are redundancy."""
    cfg = step.ctx.config
    return max(1, retransmit_limit(cfg.retransmit_mult, step.membership.num_nodes) // 4)


def _news_is_out(step: Step) -> bool:
    """At most ``gossip_nodes`` queued membership broadcasts have had fewer than their early
    sends: whatever burst of news we learned is past its first, epidemic, spread (what is
    left to send is mostly redundancy), or we learn slowly now."""
    return step.queue.sent_fewer_than(_early_sends(step)) <= step.ctx.config.gossip_nodes


def _all_out(step: Step) -> bool:
    """Every queued membership broadcast has had its early sends."""
    return not step.queue.sent_fewer_than(_early_sends(step))


def _news_settled(step: Step, settle: float) -> bool:
    """An epidemic's time (``settle``) has passed since a member was last new to us, and no
    catch-up of ours started after that: whatever the burst's last news was, a random peer
    has it by now, unless we are the one who missed it."""
    return step.now - step.news_at >= settle and step.caught_up_at < step.news_at + settle


def _news_unmerged_long(step: Step, settle: float) -> bool:
    """Two epidemic times have passed since gossip first taught us a member that no push/pull
    of ours has covered yet: even the oldest of that news has had its epidemic spread, so a
    catch-up that makes us forget the alives a peer knows cuts no spread short. A node that
    learns most of a big burst from gossip holds an alive per member owed its sends, and
    with more than a few of them short of their first quarter its news is never out."""
    return step.now - step.unmerged_at >= 2 * settle


def _catch_up(step: Step) -> None:
    """After a burst of news, push/pulls that fill what gossip missed (``catch_up_push_pull``).

    Each broadcast is sent a fixed number of times (util.go retransmitLimit), so in a burst
    of k joins each node has k chances of missing every copy of one, and would wait for the
    periodic push/pull, whose interval grows with the cluster (util.go pushPullScale: 150 s
    at 1,000 nodes). A burst is k * retransmit_limit >= n members learned: spreading it cost
    this node at least as many messages as a push/pull's n entries, so a catch-up at most
    doubles the cost of the news, and a lone join in a big cluster costs its members nothing.

    While the burst lasts, a catch-up with a random peer starts when our news is out
    (``_news_is_out``) and gossip has brought a burst's worth since our last push/pull; once
    an epidemic's time after the last member new to us (``_news_settled``), whatever our queue
    holds: by then a random peer has the burst's last news, and a node that missed some of
    it would otherwise wait for its whole queue (at 2,000 nodes, ~1,900 alives owed their
    redundant sends kept the last nodes short for 20 rounds); whenever a burst's worth of
    gossip has gone unmerged for two epidemic times (``_news_unmerged_long``), so that a
    node whose queue never gets its news out still catches up during a long burst (at 2,000
    nodes one had learned 1,916 members from gossip and done no push/pull; with this rule
    the join's last view completes 13 rounds after the last join instead of 25); once
    more when the queue has drained, which ends the burst; and one more at each tick that
    finds every queued alive past its early sends (``_all_out``) or the queue drained, while
    the last catch-up found the views differed (either side lacked a live member: others may
    lack it too). Equal views end it. That follow-up does not wait for the drain: at 5,000
    nodes a queue holds thousands of alives owed their redundant sends (16 each), and a node
    one member short waited for all of them. It does wait until every alive had its early
    sends, as the answer makes us forget those the peer knows: forgotten sooner, a node that
    missed them would have to wait for a push/pull too. The answer also tells which of our queued
    alive messages a random peer already knows: those we stop sending (commands,
    ``_caught_up``), the feedback rule of rumour mongering (Demers et al., 1987), with these
    catch-ups and the periodic push/pull as its anti-entropy.
    """
    cfg = step.ctx.config
    drained = not step.queue.lane_len(MEMBERLIST)
    n = step.membership.num_nodes
    limit = retransmit_limit(cfg.retransmit_mult, n)
    burst, unmerged_burst = step.learned * limit >= n, step.unmerged * limit >= n
    settle = epidemic_time(cfg, n)
    # Due whatever the queue holds: the two rules that do not wait for our news to be out.
    overdue = ((burst and _news_settled(step, settle))
               or (unmerged_burst and _news_unmerged_long(step, settle)))  # fmt: skip
    if not drained and not overdue and not _news_is_out(step):
        return
    if drained:
        due = step.caught_up or burst
        step.learned = 0
    else:
        due = overdue or (step.caught_up and _all_out(step)) or unmerged_burst
    if not due:
        return
    step.caught_up, step.unmerged, step.caught_up_at = False, 0, step.now
    peer = push_pull_peer(step.membership, step.ctx.rng)
    if peer is not None:
        step.count(catch_ups=1)
        step.emit(PushPullWith(peer, catch_up=True))


def _schedule_push_pull(step: Step) -> None:
    """The next push/pull, the interval stretched for the cluster's size now (a timer that
    is re-armed each time, as Go's pushPullTrigger re-reads estNumNodes every round)."""
    interval = step.ctx.config.push_pull_interval
    scaled = push_pull_scale(interval, step.membership.num_nodes)
    step.emit(SetTimer(PushPullTick(), step.now + scaled))


def on_push_pull_stagger(step: Step) -> None:
    _schedule_push_pull(step)


def on_push_pull_tick(step: Step) -> None:
    _schedule_push_pull(step)
    step.unmerged = 0  # this exchange covers what gossip brought before it
    peer = push_pull_peer(step.membership, step.ctx.rng)
    if peer is not None:
        step.emit(PushPullWith(peer))


def on_reconnect_tick(step: Step) -> None:
    """serf/serf.go reconnect, with handleReap's forgetting of old failures folded in."""
    cfg = step.ctx.config
    step.emit(SetTimer(ReconnectTick(), step.now + cfg.reconnect_interval))
    step.failed = step.failed.reap(step.now, cfg.reconnect_timeout)
    if step.membership.left:
        return
    member = step.failed.pick(step.membership.live_count, step.ctx.rng)
    if member is not None:
        step.count(reconnects=1)
        step.emit(PushPullWith(member, reconnect=True))


def on_suspicion_timeout(step: Step, node: str) -> None:
    """A suspicion is due. With check_before_dead the first time, push/pull with the suspect
    before the verdict: under loss a node can miss every copy of a refutation that the rest
    of the cluster got (gossip sends each broadcast a fixed number of times), and would declare
    a live node dead; the suspect's own state carries the refutation. The verdict waits at
    most a probe interval for it, scaled by our local health as the probe interval is (a node
    that is slow itself needs longer for the exchange: Lifeguard's reasoning)."""
    cfg = step.ctx.config
    membership = step.membership
    suspicion = membership.suspicions.get(node)
    member = membership.members.get(node)
    if (
        cfg.check_before_dead
        and suspicion is not None
        and not suspicion.checked
        and member is not None
        and member.state == NodeState.SUSPECT
        and suspicion.due(step.now)
    ):
        within = scale_timeout(cfg.probe_interval, membership.awareness)
        checking = suspicion.checking(step.now, within)
        step.set_membership(membership.put_suspicion(node, checking))
        step.emit(SetTimer(SuspicionTimeout(node), checking.deadline))
        step.count(suspect_checks=1)
        step.emit(PushPullWith(member, check=True))
        return
    step.apply(rules.suspicion_expired(membership, node, step.now, cfg))


def on_suspect_checked(step: Step, node: str, reached: bool) -> None:
    """The check's outcome. Answered but still suspected (it had not heard of the suspicion;
    our state just told it): one more minimum timeout for its refutation to arrive. No
    answer: the verdict now."""
    membership = step.membership
    suspicion = membership.suspicions.get(node)
    if suspicion is None or not suspicion.checked:
        return  # refuted meanwhile (the merge of its state did it), or a newer suspicion
    if reached:
        step.count(suspect_checks_answered=1)
        longer = suspicion.extended(step.now)
        step.set_membership(membership.put_suspicion(node, longer))
        step.emit(SetTimer(SuspicionTimeout(node), longer.deadline))
        return
    ended = membership.put_suspicion(node, suspicion.ended(step.now))
    step.apply(rules.suspicion_expired(ended, node, step.now, step.ctx.config))
