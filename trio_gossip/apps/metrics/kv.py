"""A KV store's metrics under dskit's names (dskit kv/memberlist/metrics.go), plus sizes.

dskit registers ``memberlist_client_*`` counters with client_golang, which keeps the
``_total`` names as written; the store's `KVStatistics` mirrors them one to one.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import Metric

from trio_gossip.apps.metrics.family import family, labelled
from trio_gossip.shell.kv.store import KVStore

# (KVStatistics field, dskit metric name without the memberlist_client_ prefix, help)
DSKIT_COUNTERS = (
    ("received_broadcasts", "received_broadcasts_total",
     "Number of received broadcast user messages"),
    ("received_broadcasts_bytes", "received_broadcasts_bytes_total",
     "Total size of received broadcast user messages"),
    ("received_broadcasts_invalid", "received_broadcasts_invalid_total",
     "Number of received broadcast user messages that were invalid"),
    ("received_broadcasts_duplicate", "received_broadcasts_dropped_total",
     "Number of received broadcast user messages that were dropped (repeats)"),
    ("state_pushes", "state_pushes_total", "Full states merged from another node"),
    ("state_pushes_bytes", "state_pushes_bytes_total", "Total size of merged states"),
    ("state_pulls", "state_pulls_total", "Full states produced for another node"),
    ("state_pulls_bytes", "state_pulls_bytes_total", "Total size of produced states"),
    ("cas_attempts", "cas_attempt_total", "Attempted CAS operations"),
    ("cas_successes", "cas_success_total", "Successful CAS operations"),
    ("cas_failures", "cas_failure_total", "Failed CAS operations"),
    ("broadcasts_dropped", "messages_to_broadcast_dropped_total",
     "Broadcast messages dropped: too big, or over the queue limit"),
    ("tombstones_removed", "kv_store_value_tombstones_removed_total",
     "Tombstones removed from KV store values"),
)  # fmt: skip


class KVCollector:
    """Collects one store's metrics at scrape time."""

    def __init__(self, kv: KVStore) -> None:
        self.kv = kv

    def collect(self) -> Iterator[Metric]:
        kv = self.kv
        stats = kv.statistics()
        prefix = "memberlist_client_"
        for field, name, doc in DSKIT_COUNTERS:
            yield family(prefix + name, doc, "counter", getattr(stats, field))
        yield family(prefix + "kv_store_count", "Number of values in KV Store", "gauge",
                     stats.keys)  # fmt: skip
        yield labelled(
            prefix + "messages_in_broadcast_queue", "Number of user messages in the broadcast"
            " queue", "gauge",
            [({"queue": "local"}, stats.local_queue), ({"queue": "gossip"}, stats.gossip_queue)],
        )  # fmt: skip
        yield family(prefix + "pending_key_notifications",
                     "Number of pending notifications in WatchPrefix function", "gauge",
                     stats.pending_notifications)  # fmt: skip
        if not kv.running:
            return
        entries = sorted(kv.replica.entries.items())
        live = [(k, e) for k, e in entries if not e.deleted]
        yield labelled("trio_gossip_kv_value_bytes", "Encoded size of each KV value", "gauge",
                       (({"key": k}, len(e.encoded(kv.codecs))) for k, e in live))  # fmt: skip
        yield labelled("trio_gossip_kv_value_version", "Local version of each KV value", "gauge",
                       (({"key": k}, e.version) for k, e in live))  # fmt: skip
