"""What the side-by-side benchmarks read of a cluster in its own network namespace: its
gossip traffic (nftables counters on the namespace's output) and a process's peak RSS.

Every node listens on ``HOST`` with its own gossip port from ``GOSSIP_BASE`` (and its control
port, HTTP or RPC, from ``CONTROL_BASE``), so the counters see the cluster's gossip and
nothing else.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from interop.nft import add_output_chain, add_output_rule, nft  # noqa: E402

HOST = "127.0.0.1"
GOSSIP_BASE = 7000
CONTROL_BASE = 9000
MAX_NODES = 100  # the counted gossip ports: GOSSIP_BASE .. GOSSIP_BASE + MAX_NODES - 1
TABLE = "bench"


def setup_counters(ns: str) -> None:
    """Count gossip traffic leaving the namespace: UDP by destination port, TCP both ways."""
    add_output_chain(ns, TABLE)
    ports = f"{GOSSIP_BASE}-{GOSSIP_BASE + MAX_NODES - 1}"
    for proto, direction in (("udp", "dport"), ("tcp", "dport"), ("tcp", "sport")):
        add_output_rule(ns, TABLE, proto, direction, ports, "counter", "comment", f'"{proto}"')


def read_counters(ns: str) -> dict[str, tuple[int, int]]:
    """comment -> (packets, bytes), summed over rules with the same comment."""
    listing = json.loads(nft(ns, "-j", "list", "table", "inet", TABLE))
    out: dict[str, tuple[int, int]] = {}
    for item in listing["nftables"]:
        rule = item.get("rule")
        if not rule:
            continue
        counter = next(e["counter"] for e in rule["expr"] if "counter" in e)
        packets, octets = out.get(rule.get("comment", ""), (0, 0))
        out[rule.get("comment", "")] = (packets + counter["packets"], octets + counter["bytes"])
    return out


def peak_rss_kib(pid: int) -> int:
    """A process's peak RSS (VmHWM), 0 once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0
