"""The contract every value in the replicated KV store fulfils.

A value is an immutable, state-based CRDT. Merging never mutates: it returns the new full
value and the *change*, the part of `other` that actually changed something, as a value
of the same type. The store keeps the new value and gossips only the change, so stale or
already-known parts of a message die out instead of circulating (cortex#4419, #4420).

Laws (for ``local_cas=False`` and ``horizon=None``), with ``a | b`` for
``a.merge(b).value``:

- commutative ``a | b == b | a``, associative, idempotent ``a | a == a``;
- ``a.merge(a).change is None``;
- the change is sufficient: ``a | a.merge(b).change == a | b``.

``local_cas=True`` says `other` is the complete state a local CAS wants: records missing
from it become tombstones and records it changed win even without a newer stamp. That is
not commutative, so the store uses it only for its own CAS.

``horizon`` (seconds, the store passes ``now - tombstone_lifetime``) is the point before
which tombstones are forgotten. Records of things this value does not hold that are older
than the horizon are ignored: they can only be stale copies of something whose tombstone
was already collected, and taking them would resurrect it.
"""

from __future__ import annotations

from typing import Generic, Protocol, Self, TypeVar

import attrs

V = TypeVar("V")


@attrs.frozen
class MergeResult(Generic[V]):
    """What a merge produced: the full new value and the delta to gossip (None: no change).

    When `change` is None, `value` is the receiver itself (same object), so callers can
    skip storing and notifying.
    """

    value: V
    change: V | None


class Mergeable(Protocol):
    """A KV value: an immutable CRDT with tombstones (see the module docstring for laws)."""

    def merge(
        self, other: Self, *, local_cas: bool = False, horizon: float | None = None
    ) -> MergeResult[Self]:
        """Join `other` into this value; never mutates either."""
        ...

    def remove_tombstones(self, horizon: float) -> tuple[Self, int]:
        """This value without tombstones older than `horizon`, and how many went.

        ``math.inf`` removes every tombstone: the view readers get.
        """
        ...

    def merge_content(self) -> frozenset[str]:
        """Names of the records this value carries.

        A queued broadcast whose content is a subset of a newer one's is superseded by it.
        """
        ...
