"""A ring for people: dskit's ring page as JSON and as a text table, and a digest.

The JSON (``{"shards": [...], "now": ...}``, dskit's shape) is what an agent serves over
HTTP; `render_table` works from that JSON alone, so ``trio-gossip ring --http`` can print
it without the ring classes. An instance whose heartbeat is older than the timeout is
shown as UNHEALTHY, as dskit's page does (it is not a state).
"""

from __future__ import annotations

import datetime
import hashlib
import struct
from collections.abc import Mapping, Sequence
from typing import Any

from trio_gossip.core.ring.lookup import DEFAULT_HEARTBEAT_TIMEOUT
from trio_gossip.core.ring.model import Ring


def ring_digest(ring: Ring) -> str:
    """A short hash of what lookups see: every live record's content (not its version
    stamp, nor heartbeats). Equal digests mean the same owners, states and zones for every
    key; a copy that only missed a re-stamp of unchanged content still matches."""
    h = hashlib.sha256()
    for d in ring.live():
        h.update(repr((d.id, d.addr, d.zone, int(d.state), d.registered_at, d.read_only,
                       d.read_only_updated_at)).encode())  # fmt: skip
        h.update(struct.pack(f">{len(d.tokens)}I", *d.tokens))
    return h.hexdigest()[:16]


def ring_to_json(
    ring: Ring,
    *,
    now: float,
    heartbeat_timeout: float = DEFAULT_HEARTBEAT_TIMEOUT,
    tokens: bool = False,
) -> dict[str, Any]:
    """The ring page model; `tokens` adds each instance's token list."""
    ownership = ring.ownership(per_zone=True)
    shards = []
    for d in ring.live():
        beat = ring.heartbeat_at(d.id)
        shard: dict[str, Any] = {
            "id": d.id,
            "zone": d.zone,
            "state": d.state.name,
            "healthy": beat > 0 and now - beat <= heartbeat_timeout,
            "address": d.addr,
            "registered_at": d.registered_at,
            "last_heartbeat": beat,
            "read_only": d.read_only,
            "tokens": len(d.tokens),
            "owned_tokens": len(ring.owned_tokens(d.id)),
            "ownership": ownership.get(d.id, 0.0),
            "version": f"{d.version.ms}.{d.version.logical}@{d.version.writer}",
        }
        if tokens:
            shard["token_list"] = list(d.tokens)
        shards.append(shard)
    return {
        "now": now,
        "heartbeat_timeout": heartbeat_timeout,
        "digest": ring_digest(ring),
        "shards": shards,
    }


_COLUMNS = ("Instance", "Zone", "State", "Address", "Registered", "Heartbeat", "Tokens", "Own %")


def render_table(page: Mapping[str, Any]) -> str:
    """The JSON of `ring_to_json` as an aligned text table (one line per instance)."""
    now = float(page.get("now", 0.0))
    rows: list[Sequence[str]] = [_COLUMNS]
    for s in page.get("shards", ()):
        state = s["state"] if s.get("healthy", True) else "UNHEALTHY"
        beat = float(s.get("last_heartbeat", 0.0))
        rows.append((
            str(s["id"]), str(s.get("zone", "")) or "-", state, str(s.get("address", "")) or "-",
            _date(float(s.get("registered_at", 0.0))),
            f"{now - beat:.1f}s ago" if beat else "never",
            f"{s.get('owned_tokens', s['tokens'])}/{s['tokens']}",
            f"{100 * float(s.get('ownership', 0.0)):.1f}",
        ))  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(_COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    footer = f"{len(rows) - 1} instances, digest {page.get('digest', '?')}"
    return "\n".join([*lines, footer])


def _date(seconds: float) -> str:
    if not seconds:
        return "-"
    moment = datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S")
