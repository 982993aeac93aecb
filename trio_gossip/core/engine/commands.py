"""Commands from the API: start, metadata updates, leave, push/pull merges, pings, sends."""

from __future__ import annotations

from collections.abc import Sequence

from trio_gossip.core.engine import periodic, probe, receive
from trio_gossip.core.engine.effects import Answer, MergeUserState
from trio_gossip.core.engine.events import Form, Leave, Merge, Ping, SendUser, Start, UpdateMeta
from trio_gossip.core.engine.periodic import catching_up
from trio_gossip.core.engine.queue import retransmit_limit
from trio_gossip.core.engine.step import Step
from trio_gossip.core.membership import rules
from trio_gossip.core.membership.form import form
from trio_gossip.core.membership.member import Member
from trio_gossip.core.membership.schedule import k_random_members
from trio_gossip.core.membership.state import Broadcast, Transition
from trio_gossip.core.membership.version import ProtocolVersionError, verify_protocol
from trio_gossip.wire import encode_message
from trio_gossip.wire.errors import DecodeError, GossipError
from trio_gossip.wire.messages import Alive, Dead, NodeState, PushNodeState, User


def on_start(step: Step, cmd: Start) -> None:
    """Our first alive (memberlist's setAlive), then the timers."""
    step.addr = cmd.addr
    step.port = cmd.port
    step.started = True
    cfg = step.ctx.config
    step.apply(rules.set_local_alive(
        step.membership, addr=cmd.addr, port=cmd.port, meta=cmd.meta, now=step.now,
        config=cfg, rng=step.ctx.rng, alive_filter=step.ctx.hooks.alive_filter,
    ))  # fmt: skip
    if step.membership.local is None:
        raise GossipError("the alive delegate refused our own alive message")
    probe.start_ticker(step)
    periodic.start_timers(step)
    if step.ctx.kv is not None:
        from trio_gossip.core.engine import kv  # noqa: PLC0415 - a node without a KV store never loads it

        kv.start(step)


def on_update_meta(step: Step, cmd: UpdateMeta) -> None:
    me = step.membership.local
    if me is not None:
        step.apply(rules.set_local_alive(
            step.membership, addr=me.addr, port=me.port, meta=cmd.meta, now=step.now,
            config=step.ctx.config, rng=step.ctx.rng, notify=True,
            alive_filter=step.ctx.hooks.alive_filter,
        ), token=cmd.token)  # fmt: skip
    step.emit(Answer(cmd.token, _has_peers(step)))


def on_leave(step: Step, cmd: Leave) -> None:
    """Answers True if we had not left before and someone is there to hear it."""
    before = step.membership
    step.apply(rules.leave(before, step.now, step.ctx.config), token=cmd.token)
    left_now = step.membership is not before
    if left_now and cmd.farewell:
        _farewell(step)
    step.emit(Answer(cmd.token, left_now and _has_peers(step)))


def _farewell(step: Step) -> None:
    """Hand our leave straight to as many live peers as a broadcast would reach: nobody will
    be left here to gossip it (the block was cancelled from outside)."""
    membership = step.membership
    me = membership.local
    if me is None:
        return
    farewell = encode_message(Dead(me.incarnation, me.name, me.name))
    count = retransmit_limit(step.ctx.config.retransmit_mult, membership.num_nodes)
    local = membership.local_name
    for peer in k_random_members(membership, count, step.ctx.rng,
                                 lambda m: m.is_live and m.name != local):  # fmt: skip
        step.send_bare(peer.address, [farewell], pmax=peer.pmax)


def _has_peers(step: Step) -> bool:
    membership = step.membership
    local = membership.local_name
    return any(m.is_live for m in membership.members.values() if m.name != local)


def on_merge(step: Step, cmd: Merge) -> None:
    """A push/pull peer's state (mergeRemoteState): versions first, so a refused peer never
    reaches the merge veto; then the veto on joins; then the members; then the user state."""
    membership, ctx = step.membership, step.ctx
    states: Sequence[PushNodeState] = cmd.states
    same: list[str] = []
    table = ctx.push_table
    if ctx.hooks.alive_filter is None and ctx.config.protocol_version >= 2:
        # The alive entries we hold exactly so change nothing: not in aliveNode, whose rule
        # merge_remote_state skips them by (incarnation, address) anyway, nor in the version
        # check, as their Vsn is our member's. Stepped over by identity (push_table.py)
        # rather than looked at one field at a time. (Memberlist's AliveDelegate is called
        # for every alive, and protocol 1 rewrites ports: with either, every entry goes in.)
        states, same = table.unchanged(membership, states, names=cmd.catch_up)
    try:
        verify_protocol(membership, states, table.local_pairs(membership))
    except ProtocolVersionError as exc:
        step.emit(Answer(cmd.token, error=exc))
        return
    veto = ctx.hooks.merge_veto
    if cmd.join and veto is not None:
        peers = [_as_member(s, step.now) for s in cmd.states]
        if not veto(peers):
            step.emit(Answer(cmd.token, error=GossipError("merge refused by the delegate")))
            return
    merged = rules.merge_remote_state(
        membership, states, step.now, ctx.config, ctx.rng,
        alive_filter=ctx.hooks.alive_filter, verified=True,
    )  # fmt: skip
    if catching_up(ctx.config) and ctx.config.quiet_join and not _has_peers(step):
        merged = _without_alive_broadcasts(merged, membership.local_name)
    taught = step.note_learned(merged, merged=True)
    if cmd.catch_up:
        _caught_up(step, states, same, taught)
    step.apply(merged)
    user_state = cmd.user_state
    if step.ctx.kv is not None and step.ctx.kv.peer_filter is None and user_state:
        from trio_gossip.core.engine import kv  # noqa: PLC0415 - a node without a KV store never loads it
        from trio_gossip.core.kv.format import message_format  # noqa: PLC0415 - a node without a KV store never loads it

        try:
            kv_state, user_state = message_format(step.ctx.kv).split(user_state)
        except DecodeError as exc:
            step.count(bad_messages=1)
            step.emit(Answer(cmd.token, error=exc))
            return
        if kv_state:
            kv.on_state(step, kv_state)
    if user_state:
        step.emit(MergeUserState(user_state, cmd.join))
    step.emit(Answer(cmd.token))


def on_form(step: Step, cmd: Form) -> None:
    """Hold the members of a formed cluster at once (membership/form.py): no broadcasts, as
    the joins they stand for would be old news by now."""
    try:
        formed = form(step.membership, cmd.members, step.ctx.rng,
                      alive_filter=step.ctx.hooks.alive_filter, events=cmd.events)  # fmt: skip
    except (GossipError, ValueError) as exc:
        step.emit(Answer(cmd.token, error=exc))
        return
    step.apply(formed)
    step.emit(Answer(cmd.token))


def _caught_up(step: Step, states: Sequence[PushNodeState], same: list[str], taught: int
               ) -> None:  # fmt: skip
    """The answer to a catch-up of ours (periodic._catch_up). Our queued alive messages about
    members the peer holds alive at that incarnation or newer are old news to a random
    peer: we stop sending them (a waiting caller's are kept). If the views differed, one of
    us missed something and others may have too: another catch-up, with another peer, at
    the next gossip tick that finds our queue drained. ``same``: the members the peer holds
    alive exactly as we do (not in ``states``; never our own name)."""
    membership = step.membership
    members, local = membership.members, membership.local_name
    known = [s.name for s in states if s.state == NodeState.ALIVE and s.name != local
             and (m := members.get(s.name)) is not None and m.state == NodeState.ALIVE
             and s.incarnation >= m.incarnation]  # fmt: skip
    step.queue, dropped = step.queue.forget_alives([*same, *known])
    step.count(broadcasts_known=dropped)
    if taught or _lacks_some_of_ours(step, states, same):
        step.caught_up = True
        step.wake_gossip()


def _lacks_some_of_ours(step: Step, states: Sequence[PushNodeState], same: list[str]) -> bool:
    """Whether a peer's push/pull state misses a member we hold alive: fewer of our alive
    members are alive in it than we hold (counted by the push table, not by walking every
    member; ``same`` are alive with us by construction)."""
    members, alive = step.membership.members, NodeState.ALIVE
    covered = set(same)
    covered.update(s.name for s in states if s.state == alive
                   and (m := members.get(s.name)) is not None and m.state == alive)  # fmt: skip
    return len(covered) < step.ctx.push_table.alive_count(step.membership)


def _without_alive_broadcasts(t: Transition, local_name: str) -> Transition:
    """``t`` without gossip of other nodes' alive messages (``quiet_join``); a refutation of
    our own name stays."""
    kept = tuple(e for e in t.effects if not (
        isinstance(e, Broadcast) and isinstance(e.message, Alive) and e.message.node != local_name
    ))  # fmt: skip
    return t if len(kept) == len(t.effects) else Transition(t.state, kept)


def _as_member(s: PushNodeState, now: float) -> Member:
    try:
        state = NodeState(s.state)
    except ValueError:
        state = NodeState.DEAD
    return Member(s.name, s.addr, s.port, s.meta or b"", s.incarnation, state, now,
                  bytes(s.vsn[:6]).ljust(6, b"\0"))  # fmt: skip


def on_ping(step: Step, cmd: Ping) -> None:
    m = cmd.member
    receive.start_ping(step, cmd.token, m.address, m.name)


def on_send_user(step: Step, cmd: SendUser) -> None:
    step.send_bare(cmd.member.address, [encode_message(User(cmd.payload))], pmax=cmd.member.pmax)
