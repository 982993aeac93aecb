"""The gossip loop: every gossip_interval, send queued broadcasts to a few random peers."""

from __future__ import annotations

import math

import trio

from trio_gossip.core.membership.codec import COMPOUND_OVERHEAD
from trio_gossip.core.membership.schedule import gossip_targets
from trio_gossip.shell.node.runtime import Runtime, log
from trio_gossip.transport.base import TransportError


async def ticker_sleep(next_tick: float, interval: float) -> float:
    """Sleep until ``next_tick``; return the tick after it. Ticks missed while the caller was
    busy are dropped, except one that fires at once (a Go ticker buffers one tick)."""
    now = trio.current_time()
    if next_tick > now:
        await trio.sleep_until(next_tick)
        return next_tick + interval
    return next_tick + interval * (math.floor((now - next_tick) / interval) + 1)


async def gossip_loop(rt: Runtime) -> None:
    interval = rt.config.gossip_interval
    tick = trio.current_time() + rt.rng.random() * interval
    while True:
        tick = await ticker_sleep(tick, interval)
        if not rt.delegate_broadcasts and not len(rt.queue):
            # Nothing to say: rather than waking every interval for nothing (a large share
            # of a big simulation's cost), wait until something is queued, then carry on at
            # the next tick of the same grid, exactly when the idle ticker would have sent it.
            rt.broadcast_ready = trio.Event()
            await rt.broadcast_ready.wait()
            now = trio.current_time()
            if tick < now:
                tick += interval * math.ceil((now - tick) / interval)
            continue
        await gossip_once(rt)


async def gossip_once(rt: Runtime) -> None:
    now = trio.current_time()
    for peer in gossip_targets(rt.state, now, rt.config, rt.rng):
        parts = rt.get_broadcasts(COMPOUND_OVERHEAD, rt.codec.gossip_budget)
        if not parts:
            return
        try:
            await rt.send_packets(peer.address, rt.codec.packets(parts, peer_pmax=peer.pmax))
        except TransportError as exc:
            log.debug("%s: gossip to %s failed: %s", rt.config.name, peer.name, exc)
