"""An instance's life in the ring as one table of transitions (dskit ring/lifecycler.go and
basic_lifecycler.go), stated as rules in the spirit of h11's ``_state.py``.

Every change of an instance's own state goes through ``next_state(state, trigger)``; a
trigger the table does not list for a state is a bug and raises ``LifecycleError``.
``registered_state`` is dskit's initRing decision for what the ring already says of us.
"""

from __future__ import annotations

import enum

from trio_gossip.core.ring.instance import InstanceState
from trio_gossip.wire.errors import GossipError

S = InstanceState


class Trigger(enum.Enum):
    TOKENS_CLAIMED = "tokens claimed"  # PENDING: tokens picked and written, JOINING
    TOKENS_LOST = "tokens lost"  # JOINING: a conflict gave some away: claim more, observe
    TOKENS_OWNED = "tokens owned"  # JOINING: observed to own them all: ACTIVE
    LEAVE = "leave"  # shutdown begins: LEAVING, still heartbeating
    UNREGISTERED = "unregistered"  # the LEFT tombstone is written
    STAYED = "stayed"  # shutdown without unregistering (unregister_on_shutdown=False)


class LifecycleError(GossipError):
    """A transition the lifecycle does not have (a bug in the driver)."""


TRANSITIONS: dict[tuple[InstanceState, Trigger], InstanceState] = {
    (S.PENDING, Trigger.TOKENS_CLAIMED): S.JOINING,
    (S.JOINING, Trigger.TOKENS_LOST): S.JOINING,
    (S.JOINING, Trigger.TOKENS_OWNED): S.ACTIVE,
    (S.PENDING, Trigger.LEAVE): S.LEAVING,
    (S.JOINING, Trigger.LEAVE): S.LEAVING,
    (S.ACTIVE, Trigger.LEAVE): S.LEAVING,
    (S.LEAVING, Trigger.LEAVE): S.LEAVING,
    (S.LEAVING, Trigger.UNREGISTERED): S.LEFT,
    (S.LEAVING, Trigger.STAYED): S.LEAVING,
}


def next_state(state: InstanceState, trigger: Trigger) -> InstanceState:
    try:
        return TRANSITIONS[(state, trigger)]
    except KeyError:
        raise LifecycleError(f"no transition from {state.name} on {trigger.value!r}") from None


def registered_state(found: InstanceState | None, *, tokens_on_file: bool) -> InstanceState:
    """The state to register in (dskit's initRing): a new instance with enough tokens on
    file goes straight to ACTIVE, otherwise PENDING; one found JOINING restarts from
    PENDING; one found LEAVING (a quick restart) goes back to ACTIVE; others keep theirs."""
    if found is None:
        return S.ACTIVE if tokens_on_file else S.PENDING
    if found is S.JOINING:
        return S.PENDING
    if found is S.LEAVING:
        return S.ACTIVE
    return found
