"""The consistent-hash ring as a KV value (pure: no trio, no clock, no own randomness)."""

from trio_gossip.core.ring.codec import RING_CODEC
from trio_gossip.core.ring.instance import InstanceDesc, InstanceState
from trio_gossip.core.ring.lookup import (
    READ,
    REPORTING,
    WRITE,
    WRITE_NO_EXTEND,
    EmptyRingError,
    Operation,
    ReplicationSet,
    RingError,
    TooManyUnhealthyError,
)
from trio_gossip.core.ring.model import Ring
from trio_gossip.core.ring.tokens import random_tokens, spread_minimizing_tokens

__all__ = [
    "READ",
    "REPORTING",
    "RING_CODEC",
    "WRITE",
    "WRITE_NO_EXTEND",
    "EmptyRingError",
    "InstanceDesc",
    "InstanceState",
    "Operation",
    "ReplicationSet",
    "Ring",
    "RingError",
    "TooManyUnhealthyError",
    "random_tokens",
    "spread_minimizing_tokens",
]
