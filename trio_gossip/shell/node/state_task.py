"""The state task: the single writer of a node's member table.

It applies the pure rules to every command from its inbox, stores the new snapshot, then
carries out the effects (queue broadcasts, arm suspicion timers, tell watchers).
"""

from __future__ import annotations

from collections.abc import Callable

import trio

from trio_gossip.core.membership import rules, schedule
from trio_gossip.core.membership.member import Member, MemberEvent
from trio_gossip.core.membership.rules import AliveFilter
from trio_gossip.core.membership.state import (
    Broadcast,
    Conflict,
    Refuted,
    SuspicionTimer,
    Transition,
)
from trio_gossip.core.membership.version import ProtocolVersionError, verify_protocol
from trio_gossip.shell.node.commands import (
    AwarenessDelta,
    Command,
    Gossip,
    HandoffReady,
    Leave,
    Merge,
    NextProbe,
    SuspicionExpired,
    UpdateMeta,
    UserMessage,
)
from trio_gossip.shell.node.runtime import Handoff, Runtime, log
from trio_gossip.wire import encode_message
from trio_gossip.wire.errors import DecodeError, GossipError
from trio_gossip.wire.messages import Alive, Dead, NodeState, PushNodeState, Suspect, User

_BATCH = 256  # commands handled per wake-up before yielding to other tasks


async def run_state_task(rt: Runtime) -> None:
    inbox = rt.inbox_recv
    while True:
        # Drain what is already queued without a scheduling round trip per message (a
        # compound packet brings many); cap the batch so other tasks still get their turn.
        batch = [await inbox.receive()]
        while len(batch) < _BATCH:
            try:
                batch.append(inbox.receive_nowait())
            except trio.WouldBlock:
                break
        for command in batch:
            handle(rt, command)


def alive_filter(rt: Runtime) -> AliveFilter | None:
    hook = rt.hook("notify_alive")
    if hook is None:
        return None
    return lambda member: bool(hook(member))


def handle(rt: Runtime, command: Command) -> None:
    cfg = rt.config
    now = trio.current_time()
    state = rt.state
    if isinstance(command, HandoffReady):
        for msg in rt.take_handoff(_BATCH):
            _handle_message(rt, msg)
    elif isinstance(command, Gossip):
        _handle_message(rt, command.message)
    elif isinstance(command, UserMessage):
        _notify_msg(rt, command.payload)
    elif isinstance(command, SuspicionExpired):
        apply(rt, rules.suspicion_expired(state, command.node, now, cfg))
    elif isinstance(command, AwarenessDelta):
        rt.state = rules.apply_awareness(state, command.delta, cfg)
    elif isinstance(command, NextProbe):
        rt.state, target = schedule.next_probe_target(state, now, cfg, rt.rng)
        command.reply.set(target)
    elif isinstance(command, Merge):
        _merge(rt, command, now)
    elif isinstance(command, Leave):
        t = rules.leave(state, now, cfg)
        apply(rt, t, on_finish=command.on_finish)
        command.reply.set(t.state is not state)
    elif isinstance(command, UpdateMeta):
        me = state.local
        if me is not None:
            t = rules.set_local_alive(state, addr=me.addr, port=me.port, meta=command.meta,
                                      now=now, config=cfg, rng=rt.rng, notify=True,
                                      alive_filter=alive_filter(rt))  # fmt: skip
            apply(rt, t, on_finish=command.on_finish)
        command.reply.set(None)


def _handle_message(rt: Runtime, msg: Handoff) -> None:
    if isinstance(msg, User):
        _notify_msg(rt, msg.payload)
        return
    cfg, now, state = rt.config, trio.current_time(), rt.state
    if isinstance(msg, Alive):
        t = rules.alive(state, msg, now, cfg, rt.rng, alive_filter=alive_filter(rt))
    elif isinstance(msg, Suspect):
        t = rules.suspect(state, msg, now, cfg)
    else:
        t = rules.dead(state, msg, now, cfg)
    apply(rt, t)


def _notify_msg(rt: Runtime, payload: bytes) -> None:
    if rt.delegate is not None:
        try:
            rt.delegate.notify_msg(payload)
        except DecodeError as exc:
            rt.stats.bad_packets += 1
            log.debug("%s: delegate refused a user message: %s", rt.config.name, exc)


def _merge(rt: Runtime, command: Merge, now: float) -> None:
    try:
        # As mergeRemoteState: versions first, so a refused peer never reaches the veto hook.
        verify_protocol(rt.state, command.states)
    except ProtocolVersionError as exc:
        command.reply.fail(exc)
        return
    if command.join:
        veto = rt.hook("notify_merge")
        if veto is not None:
            peers = [_as_member(s, now) for s in command.states]
            if not veto(peers):
                command.reply.fail(GossipError("merge refused by the delegate"))
                return
    try:
        t = rules.merge_remote_state(rt.state, command.states, now, rt.config, rt.rng,
                                     alive_filter=alive_filter(rt))  # fmt: skip
    except GossipError as exc:  # ProtocolVersionError: nothing was merged
        command.reply.fail(exc)
        return
    apply(rt, t)
    if command.user_state and rt.delegate is not None:
        try:
            rt.delegate.merge_remote_state(command.user_state, command.join)
        except DecodeError as exc:
            rt.stats.bad_streams += 1
            log.debug("%s: bad remote user state: %s", rt.config.name, exc)
    command.reply.set(None)


def _as_member(s: PushNodeState, now: float) -> Member:
    try:
        state = NodeState(s.state)
    except ValueError:
        state = NodeState.DEAD
    return Member(s.name, s.addr, s.port, s.meta or b"", s.incarnation, state, now,
                  bytes(s.vsn[:6]).ljust(6, b"\0"))  # fmt: skip


def apply(rt: Runtime, t: Transition, *, on_finish: Callable[[], None] | None = None) -> None:
    """Store the new snapshot, then carry out the effects in order."""
    rt.state = t.state
    for effect in t.effects:
        if isinstance(effect, Broadcast):
            _queue(rt, effect.message, on_finish if effect.notify else None)
        elif isinstance(effect, SuspicionTimer):
            if not effect.confirmation:
                rt.stats.suspicions += 1
            rt.timers.call_at(effect.deadline, _expiry(rt, effect.node))
        elif isinstance(effect, MemberEvent):
            log.debug("%s: %s %s", rt.config.name, effect.member.name, effect.kind.value)
            rt.events.publish(effect)
            hook = rt.hook("notify_event")
            if hook is not None:
                hook(effect)
        elif isinstance(effect, Conflict):
            rt.stats.conflicts += 1
            existing, other = effect.existing, effect.other
            log.warning("%s: conflicting address for %s: %s vs %s", rt.config.name,
                        existing.name, existing.address, other.address)  # fmt: skip
            hook = rt.hook("notify_conflict")
            if hook is not None:
                hook(effect.existing, effect.other)
        elif isinstance(effect, Refuted):
            rt.stats.refutations += 1
            log.info("%s: refuting an accusation at incarnation %d (now %d)", rt.config.name,
                     effect.accused_incarnation, effect.new_incarnation)  # fmt: skip


def _expiry(rt: Runtime, node: str) -> Callable[[], None]:
    return lambda: rt.submit(SuspicionExpired(node))


def _queue(rt: Runtime, msg: Alive | Suspect | Dead, on_finish: Callable[[], None] | None
           ) -> None:  # fmt: skip
    rt.queue.queue_broadcast(encode_message(msg), name=msg.node, on_finish=on_finish)
    rt.stats.broadcasts_queued += 1
    rt.broadcast_ready.set()
