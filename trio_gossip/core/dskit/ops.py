"""dskit's ring operations (ring/ring.go ``Operation``, ``NewOp``, ``Write``, ``Read``...).

An operation is a uint32 mask: bit ``s`` says state ``s`` is healthy for it, bit ``16 + s`` says
an instance in state ``s`` extends the replica set (it is kept, but does not count towards it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from trio_gossip.wire.dskit.ring_desc import InstanceState

_U32 = 0xFFFFFFFF
_ALL_STATES = (
    InstanceState.ACTIVE,
    InstanceState.LEAVING,
    InstanceState.PENDING,
    InstanceState.JOINING,
    InstanceState.LEFT,
)


def new_op(
    healthy_states: Iterable[int], should_extend: Callable[[int], bool] | None = None
) -> int:
    """ring.go NewOp."""
    op = 0
    for s in healthy_states:
        op |= (1 << s) & _U32
    if should_extend is not None:
        for s in _ALL_STATES:
            if should_extend(s):
                op |= (0x10000 << s) & _U32
    return op


def is_healthy_state(op: int, state: int) -> bool:
    """Operation.IsInstanceInStateHealthy (Go shifts a uint32, so states past 31 match nothing;
    Go panics on a negative state, here it is simply not healthy)."""
    return 0 <= state < 32 and op & (1 << state) != 0


def should_extend(op: int, state: int) -> bool:
    """Operation.ShouldExtendReplicaSetOnState."""
    return 0 <= state < 16 and op & (0x10000 << state) != 0


WRITE = new_op([InstanceState.ACTIVE], lambda s: s != InstanceState.ACTIVE)
"""Writes go to ACTIVE instances; any other state extends the replica set."""
WRITE_NO_EXTEND = new_op([InstanceState.ACTIVE])
READ = new_op(
    [InstanceState.ACTIVE, InstanceState.PENDING, InstanceState.LEAVING],
    lambda s: s not in (InstanceState.ACTIVE, InstanceState.LEAVING),
)
REPORTING = 0x0000FFFF
"""All states healthy, none extends (ring.go allStatesRingOperation)."""
