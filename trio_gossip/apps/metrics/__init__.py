"""Prometheus collectors for a node, its KV store and a hash ring (the ``metrics`` extra).

Register them in any ``prometheus_client.CollectorRegistry``; each reads the node's or the
store's snapshot at scrape time, so nothing is counted twice and nothing runs between scrapes::

    registry.register(MemberlistCollector(node))
    registry.register(KVCollector(kv))
    registry.register(RingCollector(kv, "ring"))
"""

from trio_gossip.apps.metrics.kv import KVCollector
from trio_gossip.apps.metrics.memberlist import MemberlistCollector
from trio_gossip.apps.metrics.ring import RingCollector

__all__ = ["KVCollector", "MemberlistCollector", "RingCollector"]
