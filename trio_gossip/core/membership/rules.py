"""memberlist's membership state machine (state.go: aliveNode, suspectNode, deadNode,
mergeState) as pure functions.

Each rule takes the current ``MembershipState`` and a message (plus the time, the config and,
where a new name may be inserted into the probe order, a seeded ``random.Random``) and returns a
``Transition``: the new state and the effects the caller carries out (broadcasts to queue,
suspicion timers to arm, events for watchers). No rule raises for a message it dislikes: it
returns the state unchanged.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

import attrs

from trio_gossip.core.config import Config
from trio_gossip.core.membership.awareness import apply_awareness_delta
from trio_gossip.core.membership.member import EventKind, Member, MemberEvent
from trio_gossip.core.membership.state import (
    AddressRefused,
    Broadcast,
    Conflict,
    Effect,
    MembershipState,
    Refuted,
    SuspectTimedOut,
    SuspicionTimer,
    Transition,
)
from trio_gossip.core.membership.suspicion import Suspicion
from trio_gossip.core.membership.version import verify_protocol
from trio_gossip.wire.messages import Alive, Dead, NodeState, PushNodeState, Suspect

AliveFilter = Callable[[Member], bool]
"""memberlist's AliveDelegate: return False to drop an alive (e.g. a cluster-name check)."""

# Go never stamps the StateChange of the Dead placeholder a new name starts as (it keeps the
# zero time), so a phantom left behind by an unaccepted alive already looks long dead.
_NEVER = float("-inf")


def _full_vsn(vsn: bytes, fallback: bytes) -> bytes:
    return bytes(vsn[:6]) if len(vsn) >= 6 else fallback


def alive(
    state: MembershipState,
    msg: Alive,
    now: float,
    config: Config,
    rng: random.Random | None = None,
    *,
    bootstrap: bool = False,
    notify: bool = False,
    alive_filter: AliveFilter | None = None,
) -> Transition:
    """memberlist's aliveNode: a node announces (or re-announces) itself."""
    is_local = msg.node == state.local_name
    if state.left and is_local:
        return Transition(state)
    vsn = msg.vsn
    if len(vsn) >= 3 and (vsn[0] == 0 or vsn[1] == 0 or vsn[0] > vsn[1]):
        return Transition(state)
    meta = msg.meta or b""
    if alive_filter is not None:
        if len(vsn) < 6:
            return Transition(state)
        candidate = Member(msg.node, msg.addr, msg.port, meta, msg.incarnation,
                           NodeState.ALIVE, now, bytes(vsn[:6]))  # fmt: skip
        if not alive_filter(candidate):
            return Transition(state)

    old = state.members.get(msg.node)
    if (
        config.cidrs_allowed
        and not is_local
        and (old is None or old.addr != msg.addr)
        and not config.ip_allowed(msg.addr)
    ):
        # memberlist state.go aliveNode: "Rejected node" (new) / "Rejected IP update".
        return Transition(state, (AddressRefused(msg.node, msg.addr),))
    updates_node = False
    if old is None and not is_local and msg.incarnation > 0:
        # A join (the common case of a big one, a million times at n = 1,000): what the path
        # below does through a Dead placeholder at incarnation 0, stored once.
        new = Member(msg.node, msg.addr, msg.port, meta, msg.incarnation, NodeState.ALIVE, now,
                     _full_vsn(vsn, bytes(6)))  # fmt: skip
        state = state.drop_suspicion(msg.node).put_member(new, rng)
        return Transition(state, (Broadcast(msg, notify), MemberEvent(EventKind.JOINED, new)))
    if old is None:
        # A new name starts as Dead at incarnation 0, so the alive below counts as a join and
        # an alive at incarnation 0 leaves a phantom dead entry, as in memberlist.
        old = Member(msg.node, msg.addr, msg.port, meta, 0, NodeState.DEAD, _NEVER,
                     _full_vsn(vsn, bytes(6)))  # fmt: skip
        state = state.put_member(old, rng)
    elif old.addr != msg.addr or old.port != msg.port:
        reclaim = config.dead_node_reclaim_time
        reclaimable = old.state == NodeState.LEFT or (
            old.state == NodeState.DEAD and reclaim > 0 and now - old.state_change > reclaim
        )
        if not reclaimable:
            other = Member(msg.node, msg.addr, msg.port, meta, msg.incarnation,
                           NodeState.ALIVE, now, _full_vsn(vsn, bytes(6)))  # fmt: skip
            return Transition(state, (Conflict(old, other),))
        updates_node = True

    if is_local:
        if msg.incarnation < old.incarnation:
            return Transition(state)
    elif not updates_node and msg.incarnation <= old.incarnation:
        return Transition(state)

    state = state.drop_suspicion(msg.node)
    if is_local and not bootstrap:
        if msg.incarnation == old.incarnation and meta == old.meta and bytes(vsn) == old.vsn:
            return Transition(state)
        # Someone announces our name with other details or a newer incarnation: out-vote it.
        return refute(state, msg.incarnation, config)

    changed = old.state_change if old.state == NodeState.ALIVE else now
    new = Member(old.name, msg.addr, msg.port, meta, msg.incarnation, NodeState.ALIVE, changed,
                 _full_vsn(vsn, old.vsn))  # fmt: skip
    state = state.put_member(new)
    effects: list[Effect] = [Broadcast(msg, notify)]
    if old.state in (NodeState.DEAD, NodeState.LEFT):
        effects.append(MemberEvent(EventKind.JOINED, new))
    elif old.meta != meta:
        effects.append(MemberEvent(EventKind.UPDATED, new))
    return Transition(state, tuple(effects))


def suspect(state: MembershipState, msg: Suspect, now: float, config: Config) -> Transition:
    """memberlist's suspectNode: someone could not reach ``msg.node``."""
    member = state.members.get(msg.node)
    if member is None or msg.incarnation < member.incarnation:
        return Transition(state)

    running = state.suspicions.get(msg.node)
    if running is not None:
        confirmed = running.confirm(msg.from_node)
        if confirmed is None:
            return Transition(state)
        # A new independent accuser: shorten the timer and pass the news on.
        state = state.put_suspicion(msg.node, confirmed)
        return Transition(
            state, (Broadcast(msg), SuspicionTimer(msg.node, confirmed.deadline, True))
        )

    if member.state != NodeState.ALIVE:
        return Transition(state)
    if msg.node == state.local_name:
        return refute(state, msg.incarnation, config)

    suspicion = Suspicion.begin(
        msg.from_node,
        now,
        state.num_nodes,
        suspicion_mult=config.suspicion_mult,
        suspicion_max_timeout_mult=config.suspicion_max_timeout_mult,
        probe_interval=config.probe_interval,
    )
    changed = attrs.evolve(member, incarnation=msg.incarnation, state=NodeState.SUSPECT,
                           state_change=now)  # fmt: skip
    state = state.put_member(changed).put_suspicion(msg.node, suspicion)
    return Transition(state, (Broadcast(msg), SuspicionTimer(msg.node, suspicion.deadline, False)))


def dead(
    state: MembershipState, msg: Dead, now: float, config: Config, *, notify: bool = False
) -> Transition:
    """memberlist's deadNode: a node failed (``From != Node``) or left (``From == Node``)."""
    member = state.members.get(msg.node)
    if member is None or msg.incarnation < member.incarnation:
        return Transition(state)
    state = state.drop_suspicion(msg.node)
    if member.state in (NodeState.DEAD, NodeState.LEFT):
        return Transition(state)
    if msg.node == state.local_name:
        if not state.left:
            return refute(state, msg.incarnation, config)
        notify = True  # our own leave: the caller waits for this broadcast to go out
    changed = attrs.evolve(
        member,
        incarnation=msg.incarnation,
        state=NodeState.LEFT if msg.is_leave else NodeState.DEAD,
        state_change=now,
    )
    state = state.put_member(changed)
    kind = EventKind.LEFT if msg.is_leave else EventKind.FAILED
    return Transition(state, (Broadcast(msg, notify), MemberEvent(kind, changed)))


def refute(state: MembershipState, accused: int, config: Config) -> Transition:
    """Announce ourselves at an incarnation above the accused one; costs one awareness point."""
    me = state.members[state.local_name]
    incarnation = me.incarnation + 1
    if accused >= incarnation:
        incarnation = accused + 1
    me = attrs.evolve(me, incarnation=incarnation)
    state = attrs.evolve(
        state.put_member(me),
        awareness=apply_awareness_delta(state.awareness, 1, config.awareness_max_multiplier),
    )
    announce = Alive(incarnation, me.name, me.addr, me.port, me.meta or None, me.vsn)
    return Transition(state, (Broadcast(announce), Refuted(accused, incarnation)))


def set_local_alive(
    state: MembershipState,
    *,
    addr: bytes,
    port: int,
    meta: bytes,
    now: float,
    config: Config,
    rng: random.Random | None = None,
    notify: bool = False,
    alive_filter: AliveFilter | None = None,
) -> Transition:
    """Announce ourselves at the next incarnation: node start-up and metadata updates."""
    me = state.local
    incarnation = (me.incarnation if me is not None else 0) + 1
    msg = Alive(incarnation, state.local_name, addr, port, meta or None, config.build_vsn())
    return alive(
        state, msg, now, config, rng, bootstrap=True, notify=notify, alive_filter=alive_filter
    )


def leave(state: MembershipState, now: float, config: Config) -> Transition:
    """Mark ourselves left and gossip a dead message about ourselves with From == Node."""
    me = state.local
    if state.left or me is None:
        return Transition(state)
    state = attrs.evolve(state, left=True)
    return dead(state, Dead(me.incarnation, me.name, me.name), now, config)


def suspicion_expired(state: MembershipState, name: str, now: float, config: Config) -> Transition:
    """A suspicion timer fired: declare the node dead if it is still the same suspicion."""
    running = state.suspicions.get(name)
    member = state.members.get(name)
    if (
        running is None
        or member is None
        or member.state != NodeState.SUSPECT
        or not running.due(now)
    ):
        return Transition(state)
    verdict = Transition(state, (SuspectTimedOut(name, running.confirmations),))
    return verdict.then(dead(state, Dead(member.incarnation, name, state.local_name), now, config))


def apply_awareness(state: MembershipState, delta: int, config: Config) -> MembershipState:
    score = apply_awareness_delta(state.awareness, delta, config.awareness_max_multiplier)
    return state if score == state.awareness else attrs.evolve(state, awareness=score)


def merge_remote_state(
    state: MembershipState,
    remote: Sequence[PushNodeState],
    now: float,
    config: Config,
    rng: random.Random | None = None,
    *,
    alive_filter: AliveFilter | None = None,
    verified: bool = False,
) -> Transition:
    """Merge a push/pull peer's node list (mergeState). Raises ProtocolVersionError first if
    versions do not overlap, in which case nothing is merged (``verified``: the caller has
    checked them already).

    A remote dead or suspect entry only becomes a local suspicion from ourselves: we do not
    trust another node's verdict without a chance for the accused to refute.
    """
    if not verified:
        verify_protocol(state, remote)
    effects: list[Effect] = []
    local = state.local_name
    # An alive entry we already hold at this address and incarnation or newer changes
    # nothing in aliveNode; most entries of a push/pull are such, so they skip the rule
    # (not with an alive filter: memberlist calls that delegate for every alive).
    skip_stale = alive_filter is None
    # Hoisted: this loop runs once per member of every push/pull.
    old_protocol, bind_port = config.protocol_version < 2, config.bind_port
    alive_state = NodeState.ALIVE
    held = state.members.get
    for entry in remote:
        port = entry.port
        if old_protocol or port == 0:
            port = bind_port
        kind = entry.state
        if kind == alive_state:
            if skip_stale:
                old = held(entry.name)
                if (old is not None and entry.incarnation <= old.incarnation
                        and old.addr == entry.addr and old.port == port and entry.name != local):
                    continue
            msg = Alive(entry.incarnation, entry.name, entry.addr, port, entry.meta, entry.vsn)
            t = alive(state, msg, now, config, rng, alive_filter=alive_filter)
        elif kind == NodeState.LEFT:
            t = dead(state, Dead(entry.incarnation, entry.name, entry.name), now, config)
        elif kind in (NodeState.DEAD, NodeState.SUSPECT):
            t = suspect(state, Suspect(entry.incarnation, entry.name, local), now, config)
        else:
            continue  # a state from the future: ignore, as Go's switch does
        state = t.state
        held = state.members.get
        effects.extend(t.effects)
    return Transition(state, tuple(effects))
