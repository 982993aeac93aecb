"""The engine: ``handle(ctx, state, now, event) -> (state, effects)``, pure.

No I/O, no clock, no randomness but the context's seeded generator: time arrives as ``now``
and everything the node must do leaves as effects, in order. The dispatch table below lists
every event the engine understands, in the spirit of h11's ``_state.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from trio_gossip.core.engine import commands, periodic, probe, receive
from trio_gossip.core.engine.effects import Effect, SetTimer
from trio_gossip.core.engine.events import (
    AckExpired,
    Event,
    Form,
    GossipTick,
    KVCas,
    KVDelete,
    KVSweep,
    Leave,
    Merge,
    Ping,
    ProbeDeadline,
    ProbeSendFailed,
    ProbeTick,
    ProbeTimeout,
    PushPullStagger,
    PushPullTick,
    Received,
    ReconnectTick,
    SendUser,
    Start,
    StreamUser,
    SuspectChecked,
    SuspicionTimeout,
    TcpPingDone,
    UpdateMeta,
    WakeGossip,
)
from trio_gossip.core.engine.state import Context, EngineState
from trio_gossip.core.engine.step import Step

# The KV store's handlers (core/engine/kv.py and core/kv) load with the first KV command:
# an agent without a store never needs them, half a MiB of its memory.


def _on_cas(step: Step, cmd: KVCas) -> None:
    from trio_gossip.core.engine import kv  # noqa: PLC0415 - a node without a KV store never loads it

    kv.on_cas(step, cmd)


def _on_delete(step: Step, cmd: KVDelete) -> None:
    from trio_gossip.core.engine import kv  # noqa: PLC0415 - a node without a KV store never loads it

    kv.on_delete(step, cmd)


def _on_sweep(step: Step, cmd: KVSweep) -> None:
    from trio_gossip.core.engine import kv  # noqa: PLC0415 - a node without a KV store never loads it

    kv.on_sweep(step, cmd)


_HANDLERS: dict[type[Any], Callable[[Step, Any], None]] = {
    Received: receive.on_received,
    StreamUser: lambda step, e: receive.deliver_user(step, e.payload),
    ProbeTick: lambda step, e: probe.on_tick(step),
    ProbeTimeout: lambda step, e: probe.on_timeout(step, e.seq),
    ProbeDeadline: lambda step, e: probe.on_deadline(step, e.seq),
    ProbeSendFailed: lambda step, e: probe.on_send_failed(step, e.seq),
    TcpPingDone: lambda step, e: probe.on_tcp_done(step, e.seq, e.acked),
    AckExpired: lambda step, e: receive.on_ack_expired(step, e.seq),
    SuspicionTimeout: lambda step, e: periodic.on_suspicion_timeout(step, e.node),
    SuspectChecked: lambda step, e: periodic.on_suspect_checked(step, e.node, e.reached),
    GossipTick: lambda step, e: periodic.on_gossip_tick(step),
    PushPullStagger: lambda step, e: periodic.on_push_pull_stagger(step),
    PushPullTick: lambda step, e: periodic.on_push_pull_tick(step),
    ReconnectTick: lambda step, e: periodic.on_reconnect_tick(step),
    Start: commands.on_start,
    UpdateMeta: commands.on_update_meta,
    Leave: commands.on_leave,
    Merge: commands.on_merge,
    Form: commands.on_form,
    WakeGossip: lambda step, e: periodic.on_wake_gossip(step),
    Ping: commands.on_ping,
    SendUser: commands.on_send_user,
    KVCas: _on_cas,
    KVDelete: _on_delete,
    KVSweep: _on_sweep,
}


def handle(ctx: Context, state: EngineState, now: float, event: Event, *,
           wall: float | None = None) -> tuple[EngineState, list[Effect]]:  # fmt: skip
    """One event in, the new state and the effects out."""
    return handle_all(ctx, state, now, (event,), wall=wall)


def handle_all(ctx: Context, state: EngineState, now: float, events: Sequence[Event], *,
               wall: float | None = None, earlier: tuple[float, Event] | None = None
               ) -> tuple[EngineState, list[Effect]]:  # fmt: skip
    """Several events at one instant (a batch from the node's channel), effects in order.
    ``wall`` is wall-clock time for the KV store's stamps (``now`` when not given).

    ``earlier``: one event that happened at an earlier time, handled first, at that time
    (an ack set aside for this wake-up, probe.ack_can_wait). A timer it arms for a time
    already past fires right after it, in this same step, rather than costing the caller
    another wake-up: the probe tick that ending the round arms is the usual one."""
    step = Step(ctx, state, now, now if wall is None else wall)
    if earlier is not None:
        at, event = earlier
        step.now = at
        _HANDLERS[type(event)](step, event)
        step.now = now
        due: list[SetTimer] = []
        kept: list[Effect] = []
        for effect in step.effects:
            if isinstance(effect, SetTimer) and effect.at <= now:
                due.append(effect)
            else:
                kept.append(effect)
        if due:
            step.effects = kept
            fired = [effect.timer for effect in sorted(due, key=lambda e: e.at)]
            for timer in fired:
                _HANDLERS[type(timer)](step, timer)
            # The same timer, armed before and due too, has just fired: not twice.
            kinds = {type(timer) for timer in fired}
            events = [e for e in events if type(e) not in kinds or e not in fired]
    for event in events:
        _HANDLERS[type(event)](step, event)
    return step.finish(), step.effects
