"""Errors of dskit's ring lookups, with dskit's messages (ring/ring.go, replication_strategy.go).

"""

from __future__ import annotations

from trio_gossip.wire.errors import GossipError


class RingLookupError(GossipError):
    """A ring lookup that dskit answers with an error."""


class EmptyRingError(RingLookupError):
    """ring.go ErrEmptyRing: the ring has no tokens (or, for get_all_healthy, no instances)."""

    def __init__(self) -> None:
        super().__init__("empty ring")


class TooManyUnhealthyInstancesError(RingLookupError):
    """ring.go ErrTooManyUnhealthyInstances (GetReplicationSetForOperation)."""

    def __init__(self) -> None:
        super().__init__("too many unhealthy instances in the ring")


class InconsistentTokensInfoError(RingLookupError):
    """ring.go ErrInconsistentTokensInfo: a token without an owner (a bug, never expected)."""

    def __init__(self, detail: str = "") -> None:
        text = "inconsistent ring tokens information"
        super().__init__(f"{detail}: {text}" if detail else text)


class NotEnoughReplicasError(RingLookupError):
    """The replication strategy's Filter found fewer healthy replicas than a quorum; the message
    is dskit's, e.g. "at least 2 live replicas required, could only find 1 - unhealthy instances:
    10.0.0.1:9095"."""


class ReplicationFactorError(RingLookupError):
    """A per-call replication factor the strategy does not support (ring.go
    getReplicationSetForKey)."""
