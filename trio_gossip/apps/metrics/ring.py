"""A hash ring's metrics as dskit's ring client names them (dskit ring/ring.go
``updateRingMetrics``: ``ring_members``, ``ring_tokens_total``,
``ring_member_ownership_percent``, ``ring_oldest_member_timestamp``) and its lifecycler
(``ring_member_tokens_owned``); Mimir and Cortex register them with the ``cortex_`` prefix,
the default here."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator

from prometheus_client.metrics_core import Metric

from trio_gossip.apps.metrics.family import family, labelled
from trio_gossip.core.ring.lookup import DEFAULT_HEARTBEAT_TIMEOUT
from trio_gossip.core.ring.model import Ring
from trio_gossip.shell.kv.store import KVStore

UNHEALTHY = "Unhealthy"  # dskit counts an instance with a stale heartbeat under this state
STATES = ("ACTIVE", "LEAVING", "PENDING", "JOINING", "READONLY", UNHEALTHY)


class RingCollector:
    """Collects the ring kept under ``kv[key]`` at scrape time; ``instance_id`` names this
    node's own instance, for the lifecycler's ``ring_member_tokens_owned``."""

    def __init__(self, kv: KVStore, key: str, *, instance_id: str | None = None,
                 prefix: str = "cortex_",
                 heartbeat_timeout: float = DEFAULT_HEARTBEAT_TIMEOUT) -> None:  # fmt: skip
        self.kv = kv
        self.key = key
        self.instance_id = instance_id
        self.prefix = prefix
        self.heartbeat_timeout = heartbeat_timeout

    def collect(self) -> Iterator[Metric]:
        p, name = self.prefix, {"name": self.key}
        ring = self.kv.get(self.key) if self.kv.running else None
        if not isinstance(ring, Ring):
            ring = Ring()
        now = self.kv.now() if self.kv.running else 0.0
        live = ring.live()
        ages = {d.id: now - ring.heartbeat_at(d.id) for d in live}

        def state(d_id: str, d_state: str) -> str:
            beat = ring.heartbeat_at(d_id)
            healthy = beat > 0 and ages[d_id] <= self.heartbeat_timeout
            return d_state if healthy else UNHEALTHY

        states = Counter(state(d.id, d.state.name) for d in live)
        yield labelled(f"{p}ring_members", "Number of members in the ring", "gauge",
                       (({**name, "state": s}, states.get(s, 0)) for s in STATES))  # fmt: skip
        yield family(f"{p}ring_tokens_total", "Number of tokens in the ring", "gauge",
                     sum(len(d.tokens) for d in live), name)  # fmt: skip
        ownership = ring.ownership(per_zone=False)
        yield labelled(f"{p}ring_member_ownership_percent",
                       "The percent ownership of the ring by member", "gauge",
                       (({**name, "member": d.id}, ownership.get(d.id, 0.0)) for d in live))
        oldest: dict[str, float] = {}
        for d in live:
            s = state(d.id, d.state.name)
            oldest[s] = min(oldest.get(s, d.registered_at), d.registered_at)
        yield labelled(f"{p}ring_oldest_member_timestamp",
                       "Timestamp of the oldest member in the ring", "gauge",
                       (({**name, "state": s}, oldest.get(s, 0.0)) for s in STATES))
        if self.instance_id is not None:
            yield family(f"{p}ring_member_tokens_owned", "The number of tokens owned in the"
                         " ring", "gauge", len(ring.owned_tokens(self.instance_id)), name)
        yield labelled("trio_gossip_ring_members_by_zone", "Ring members by zone and state",
                       "gauge", _zones(ring, state))
        yield labelled("trio_gossip_ring_heartbeat_age_seconds",
                       "Seconds since each member's last heartbeat", "gauge",
                       (({**name, "member": d.id}, ages[d.id]) for d in live))  # fmt: skip
        yield labelled("trio_gossip_ring_tokens_owned", "Tokens each member owns", "gauge",
                       (({**name, "member": d.id}, len(ring.owned_tokens(d.id))) for d in live))


def _zones(ring: Ring, state: Callable[[str, str], str]) -> list[tuple[dict[str, str], float]]:
    counts: Counter[tuple[str, str]] = Counter()
    for d in ring.live():
        counts[d.zone, state(d.id, d.state.name)] += 1
    return [({"zone": z, "state": s}, n) for (z, s), n in sorted(counts.items())]
