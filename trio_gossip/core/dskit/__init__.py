"""dskit's wire mode, floor 2: the rules of a Grafana dskit ring, pure and exact.

- ``merge``: ring/model.go Desc.Merge (per-instance timestamps, LEFT as tombstone, token
  conflicts, the local-CAS rule) and RemoveTombstones.
- ``ring``: ring/ring.go lookups over one immutable ``RingView``: Get, GetAllHealthy,
  GetReplicationSetForOperation, ShuffleShard, ShuffleShardWithLookback.
- ``kv_entry``: memberlist_client.go mergeValueForKey, the KV's rule for every update of a key.
- ``ops``: the Write, WriteNoExtend, Read and Reporting operations.
- ``gorand`` and ``shard``: Go's math/rand and the MD5 seed that ShuffleShard draws from.

No clock, no sockets, no own randomness: time comes in as ``now`` (Unix seconds).
"""

from trio_gossip.core.dskit.errors import (
    EmptyRingError,
    InconsistentTokensInfoError,
    NotEnoughReplicasError,
    ReplicationFactorError,
    RingLookupError,
    TooManyUnhealthyInstancesError,
)
from trio_gossip.core.dskit.kv_entry import (
    EntryUpdate,
    ValueEntry,
    VersionMismatchError,
    merge_value_for_key,
    reader_view,
)
from trio_gossip.core.dskit.merge import (
    MergeResult,
    merge,
    merge_content,
    normalize,
    remove_tombstones,
)
from trio_gossip.core.dskit.ops import READ, REPORTING, WRITE, WRITE_NO_EXTEND, new_op
from trio_gossip.core.dskit.ring import (
    ReplicationSet,
    ReplicationStrategy,
    RingConfig,
    RingView,
)

__all__ = [
    "READ",
    "REPORTING",
    "WRITE",
    "WRITE_NO_EXTEND",
    "EmptyRingError",
    "EntryUpdate",
    "InconsistentTokensInfoError",
    "MergeResult",
    "NotEnoughReplicasError",
    "ReplicationFactorError",
    "ReplicationSet",
    "ReplicationStrategy",
    "RingConfig",
    "RingLookupError",
    "RingView",
    "TooManyUnhealthyInstancesError",
    "ValueEntry",
    "VersionMismatchError",
    "merge",
    "merge_content",
    "merge_value_for_key",
    "new_op",
    "normalize",
    "reader_view",
    "remove_tombstones",
]
