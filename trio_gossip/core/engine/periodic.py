"""The periodic work besides probing: gossip (memberlist's gossip) and push/pull scheduling
(pushPullTrigger), and suspicion timers that fire."""

from __future__ import annotations

import attrs

from trio_gossip.core.engine.effects import PushPullWith, SetTimer
from trio_gossip.core.engine.events import GossipTick, PushPullTick
from trio_gossip.core.engine.step import Step
from trio_gossip.core.membership import rules
from trio_gossip.core.membership.codec import COMPOUND_OVERHEAD
from trio_gossip.core.membership.schedule import gossip_targets, push_pull_peer, push_pull_scale


def start_timers(step: Step) -> None:
    """Gossip and push/pull start at random points of their first interval (stagger)."""
    cfg = step.ctx.config
    rng = step.ctx.rng
    if cfg.gossip_interval > 0 and cfg.gossip_nodes > 0:
        tick = step.now + rng.random() * cfg.gossip_interval
        step.state = attrs.evolve(step.state, gossip_tick=tick)
        step.emit(SetTimer(GossipTick(), tick))
    if cfg.push_pull_interval > 0:
        first = step.now + rng.random() * cfg.push_pull_interval
        n = step.state.membership.num_nodes
        step.emit(SetTimer(PushPullTick(), first + push_pull_scale(cfg.push_pull_interval, n)))


def on_gossip_tick(step: Step) -> None:
    cfg = step.ctx.config
    state = step.state
    interval = cfg.gossip_interval
    if not len(state.queue) and step.ctx.hooks.broadcasts is None:
        # Nothing to say: rather than waking every interval for nothing (a large share of a
        # big simulation's cost), the timer sleeps until something is queued.
        step.state = attrs.evolve(state, gossip_tick=state.gossip_tick + interval,
                                  gossip_idle=True)  # fmt: skip
        return
    step.state = attrs.evolve(state, gossip_tick=state.gossip_tick + interval)
    step.emit(SetTimer(GossipTick(), step.state.gossip_tick))
    codec = step.ctx.codec
    for peer in gossip_targets(step.state.membership, step.now, cfg, step.ctx.rng):
        parts = step.take_broadcasts(COMPOUND_OVERHEAD, codec.gossip_budget)
        if not parts:
            return
        step.send_bare(peer.address, parts, pmax=peer.pmax)


def on_push_pull_tick(step: Step) -> None:
    cfg = step.ctx.config
    membership = step.state.membership
    step.emit(SetTimer(PushPullTick(),
                       step.now + push_pull_scale(cfg.push_pull_interval, membership.num_nodes)))
    peer = push_pull_peer(membership, step.ctx.rng)
    if peer is not None:
        step.emit(PushPullWith(peer))


def on_suspicion_timeout(step: Step, node: str) -> None:
    step.apply(rules.suspicion_expired(step.state.membership, node, step.now, step.ctx.config))
