"""One ring member's registration record and its states.

The record holds what changes rarely (address, zone, state, tokens, flags) under one
`Version`. The heartbeat is not in it: it lives in `Ring.heartbeats`, merged by max, so a
heartbeat travels as a few bytes instead of resending every token (dskit resends the whole
record, ~0.7 KB with 128 tokens, every 5 s per instance).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

import attrs

from trio_gossip.core.kv.hlc import Version, quantize

MAX_TOKEN = 2**32 - 1


class InstanceState(enum.IntEnum):
    """dskit's numbering (ring.proto), so status pages and metrics read the same."""

    ACTIVE = 0
    LEAVING = 1
    PENDING = 2
    JOINING = 3
    LEFT = 4  # a tombstone: never has tokens, hidden from readers, collected after a horizon


def normalize_tokens(tokens: Iterable[int]) -> tuple[int, ...]:
    """Sorted, unique uint32 tokens (ValueError on anything outside the range)."""
    # Sorting what is already sorted (all our writers and the wire) is one linear pass;
    # going through a set first would scramble it and cost a full sort.
    result = tuple(sorted(tokens))
    if len(set(result)) != len(result):
        result = tuple(sorted(set(result)))
    if result and (result[0] < 0 or result[-1] > MAX_TOKEN):
        raise ValueError(f"tokens must be uint32, got {result[0]}..{result[-1]}")
    return result


@attrs.frozen
class InstanceDesc:
    """A ring member as registered. Times are seconds, kept to the millisecond they travel as."""

    id: str
    addr: str = ""
    zone: str = ""
    state: InstanceState = attrs.field(default=InstanceState.PENDING, converter=InstanceState)
    tokens: tuple[int, ...] = attrs.field(default=(), converter=normalize_tokens)
    registered_at: float = attrs.field(default=0.0, converter=quantize)  # 0: unknown
    read_only: bool = False
    read_only_updated_at: float = attrs.field(default=0.0, converter=quantize)
    version: Version = Version.ZERO

    def __attrs_post_init__(self) -> None:
        if not self.id:
            raise ValueError("instance id must not be empty")
        if self.state is InstanceState.LEFT and self.tokens:
            # A tombstone owns nothing; dskit normalizes the same way on every merge.
            object.__setattr__(self, "tokens", ())

    @property
    def is_tombstone(self) -> bool:
        return self.state is InstanceState.LEFT

    def tie_key(self) -> tuple[object, ...]:
        """Orders two *different* records that carry the same version (rare: a writer that
        reused a stamp). A tombstone wins such a tie, as in dskit; the rest only has to be
        deterministic so every node keeps the same record."""
        return (
            self.is_tombstone,
            int(self.state),
            self.tokens,
            self.addr,
            self.zone,
            self.registered_at,
            self.read_only,
            self.read_only_updated_at,
        )

    def beats(self, other: InstanceDesc) -> bool:
        """True if this record replaces `other` (same instance) in a merge."""
        if self.version != other.version:
            return self.version > other.version
        return self.tie_key() > other.tie_key()

    def topology(self) -> tuple[object, ...] | None:
        """What token ownership depends on; None for a record that owns nothing.

        Records whose topology did not change keep the token index, so a state change
        like JOINING -> ACTIVE does not rebuild it; only entering or leaving LEAVING does,
        because LEAVING loses token conflicts.
        """
        if not self.tokens:
            return None
        return (
            self.tokens,
            self.zone,
            self.state is InstanceState.LEAVING,
            self.registered_at,
            self.read_only,
        )
