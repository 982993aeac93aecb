"""dskit's ring.Desc as a KV store value, under dskit's codec id (ring/model.go GetCodec:
``ringDesc``, protobuf then one snappy block), with dskit's merge exactly (core/dskit/merge.py).

This is the second ring codec beside our HLC ring (core/ring): use it to share a ring key with
Go dskit nodes (Mimir, Loki, Pyroscope), together with the dskit message format
(core/dskit/kv_format.py). dskit's weak spots come with it on purpose: timestamps are whole
seconds and equal timestamps are never reconciled except towards LEFT.

The store's ``horizon`` is ``now - left_instances_timeout``; dskit's merge needs ``now`` itself
for the tombstones a local CAS writes, so a value knows the timeout (``left_timeout``, dskit's
-memberlist.left-ingesters-timeout): keep it equal to the store's ``left_instances_timeout``.
Unlike our own ring, dskit takes a record it had forgotten when it arrives again; so does this.
"""

from __future__ import annotations

from typing import Self

import attrs

from trio_gossip.core.dskit.kv_entry import LEFT_INGESTERS_TIMEOUT
from trio_gossip.core.dskit.merge import merge, merge_content, normalize, remove_tombstones
from trio_gossip.core.kv.mergeable import MergeResult
from trio_gossip.wire.dskit.ring_desc import RING_CODEC_ID, Desc, decode_ring_value
from trio_gossip.wire.dskit.ring_desc import encode_ring_value as _encode


@attrs.frozen
class DskitRing:
    """A ring.Desc in the KV store (Mergeable). ``desc.instances`` maps instance ID to record."""

    desc: Desc = attrs.field(factory=lambda: Desc({}))
    left_timeout: float = attrs.field(default=LEFT_INGESTERS_TIMEOUT, eq=False)

    def merge(
        self, other: Self, *, local_cas: bool = False, horizon: float | None = None
    ) -> MergeResult[Self]:
        if local_cas and horizon is None:
            raise ValueError("a local CAS on a dskit ring needs the horizon (now - left_timeout)")
        now = (horizon + self.left_timeout) if horizon is not None else 0.0
        result = merge(
            normalize(self.desc), other.desc, local_cas=local_cas, now=now
        )
        if result.change is None:
            return MergeResult(self, None)
        return MergeResult(
            attrs.evolve(self, desc=result.desc), attrs.evolve(self, desc=result.change)
        )

    def remove_tombstones(self, horizon: float) -> tuple[Self, int]:
        desc, _, removed = remove_tombstones(self.desc, horizon)
        return (self, 0) if not removed else (attrs.evolve(self, desc=desc), removed)

    def merge_content(self) -> frozenset[str]:
        return frozenset(merge_content(self.desc))


@attrs.frozen
class DskitRingCodec:
    """The KV codec for ``DskitRing`` under dskit's id; decoding raises only DecodeError."""

    left_timeout: float = LEFT_INGESTERS_TIMEOUT
    id: str = RING_CODEC_ID

    def encode(self, value: DskitRing) -> bytes:
        return _encode(value.desc)

    def decode(self, data: bytes) -> DskitRing:
        desc = normalize(decode_ring_value(data))
        return DskitRing(desc, self.left_timeout)


DSKIT_RING_CODEC = DskitRingCodec()
