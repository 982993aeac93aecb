"""SWIM + Lifeguard membership rules as pure functions over immutable state (floor 2)."""

from trio_gossip.core.membership.awareness import apply_awareness_delta, scale_timeout
from trio_gossip.core.membership.member import EventKind, Member, MemberEvent, ip_bytes, ip_string
from trio_gossip.core.membership.state import (
    Broadcast,
    Conflict,
    Effect,
    MembershipState,
    Refuted,
    SuspectTimedOut,
    SuspicionTimer,
    Transition,
)
from trio_gossip.core.membership.suspicion import (
    Suspicion,
    remaining_suspicion_time,
    suspicion_timeout,
)
from trio_gossip.core.membership.version import ProtocolVersionError, verify_protocol

__all__ = [
    "Broadcast",
    "Conflict",
    "Effect",
    "EventKind",
    "Member",
    "MemberEvent",
    "MembershipState",
    "ProtocolVersionError",
    "Refuted",
    "SuspectTimedOut",
    "Suspicion",
    "SuspicionTimer",
    "Transition",
    "apply_awareness_delta",
    "ip_bytes",
    "ip_string",
    "remaining_suspicion_time",
    "scale_timeout",
    "suspicion_timeout",
    "verify_protocol",
]
