"""dskit wire mode benchmark: trio_gossip's dskit codecs and merge beside Go dskit itself.

Run from the repository root: ``python benchmarks/bench_dskit.py``. The Go side is measured by
the dskit peer (``tests/peers/bin/dskit bench``, real grafana/dskit code, built by
tests/peers/build.sh) on the same machine; it also hands over its ring so that both sides
measure the same 1,000-instance x 128-token ring. Measures: merge of one heartbeat update (alone,
and with the decode of its KV value, as the receive path does), merge of a full ring with newer
heartbeats (a push/pull), decode and encode of the full ring (protobuf alone, and as a KV value
with snappy), bytes per heartbeat broadcast, and memory per decoded ring copy. Writes
benchmarks/results/dskit.json, dskit.md and, when matplotlib is installed, dskit.png (or into
--results DIR). The Go side takes about a minute; times are wall-clock per call (best of
several runs). --quick: 200 instances and a tenth of the Python timing budget.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Measure the checkout this script is in, not whichever trio_gossip the environment has
# installed (an editable install may point at another checkout), as bench_vs_go.py does.
sys.path.insert(0, str(ROOT))

from trio_gossip.core.dskit.merge import merge  # noqa: E402
from trio_gossip.wire.dskit import (  # noqa: E402
    RING_CODEC_ID,
    Desc,
    KeyValuePair,
    decode_desc,
    decode_ring_value,
    encode_desc,
    encode_kv_pair,
    encode_ring_value,
)
from trio_gossip.wire.dskit.snappy import snappy_decode  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
PEER = ROOT / "tests" / "peers" / "bin" / "dskit"
NOW = 1_700_000_000

ROWS = [
    # key, label, unit, scale (from ns or bytes)
    ("heartbeat_merge_ns", "merge one heartbeat into the ring", "us", 1e-3),
    ("heartbeat_receive_ns", "decode + merge one heartbeat (receive path)", "us", 1e-3),
    ("full_merge_ns", "merge a full ring with newer heartbeats", "ms", 1e-6),
    ("decode_value_ns", "decode the full ring (snappy + protobuf)", "ms", 1e-6),
    ("decode_proto_ns", "decode the full ring (protobuf only)", "ms", 1e-6),
    ("encode_value_ns", "encode the full ring (protobuf + snappy)", "ms", 1e-6),
    ("encode_proto_ns", "encode the full ring (protobuf only)", "ms", 1e-6),
    ("heartbeat_broadcast_bytes", "bytes per heartbeat broadcast (user message)", "B", 1),
    ("full_value_bytes", "bytes of the full ring as a KV value", "KiB", 1 / 1024),
    ("ring_copy_bytes", "memory per decoded ring copy", "KiB", 1 / 1024),
]


def best_ns(fn: Callable[[], object], budget: float) -> float:
    """Best mean time per call over a few runs that together take about ``budget`` seconds."""
    start = time.perf_counter()
    fn()
    once = max(time.perf_counter() - start, 1e-7)
    loops = max(1, int(budget / 5 / once))
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(loops):
            fn()
        best = min(best, (time.perf_counter() - start) / loops)
    return best * 1e9


def measure_python(value: bytes, budget: float) -> dict[str, Any]:
    # The KV stores what its merges return (a persistent map), so that is the form merged into.
    ring = merge(Desc(), decode_ring_value(value), local_cas=False, now=NOW).desc
    raw = snappy_decode(value)
    hb_id = next(iter(sorted(ring.instances)))
    hb = Desc({hb_id: replace(ring.instances[hb_id], timestamp=NOW + 1)})
    hb_value = encode_ring_value(hb)
    full = Desc({k: replace(v, timestamp=NOW + 1) for k, v in ring.instances.items()})
    pair = KeyValuePair("collectors/ring", hb_value, RING_CODEC_ID)

    out: dict[str, Any] = {
        "heartbeat_merge_ns": best_ns(lambda: merge(ring, hb, local_cas=False, now=NOW), budget),
        "heartbeat_receive_ns": best_ns(
            lambda: merge(ring, decode_ring_value(hb_value), local_cas=False, now=NOW), budget
        ),
        "full_merge_ns": best_ns(lambda: merge(ring, full, local_cas=False, now=NOW), budget),
        "decode_value_ns": best_ns(lambda: decode_ring_value(value), budget),
        "decode_proto_ns": best_ns(lambda: decode_desc(raw), budget),
        "encode_value_ns": best_ns(lambda: encode_ring_value(ring), budget),
        "encode_proto_ns": best_ns(lambda: encode_desc(ring), budget),
        "heartbeat_broadcast_bytes": len(encode_kv_pair(pair)) + 1,
        "full_value_bytes": len(encode_ring_value(ring)),
    }
    copies = 5
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    held = [decode_ring_value(value) for _ in range(copies)]
    out["ring_copy_bytes"] = (tracemalloc.get_traced_memory()[0] - base) / copies
    tracemalloc.stop()
    del held
    return out


def table(go: dict[str, Any], py: dict[str, Any], meta: dict[str, Any]) -> str:
    lines = [
        f"# bench_dskit ({meta['instances']} instances x {meta['tokens']} tokens; "
        f"Python {meta['python']}, {meta['go']})",
        "",
        "| measure | Go dskit | trio_gossip dskit mode | unit | ratio (ours / Go) |",
        "|---|---:|---:|---|---:|",
    ]
    for key, label, unit, scale in ROWS:
        g, p = go[key] * scale, py[key] * scale
        ratio = p / g if g else float("nan")
        lines.append(f"| {label} | {g:,.2f} | {p:,.2f} | {unit} | {ratio:.2f} |")
    return "\n".join(lines) + "\n"


def plot(go: dict[str, Any], py: dict[str, Any], path: Path) -> bool:
    try:
        import matplotlib  # noqa: PLC0415 (optional dependency)

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        return False
    labels = [label for _, label, _, _ in ROWS]
    ratios = [py[key] / go[key] if go[key] else 0 for key, _, _, _ in ROWS]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    ax.barh(labels, ratios, color=["tab:green" if r <= 1 else "tab:orange" for r in ratios])
    ax.axvline(1, color="black", linewidth=1)
    ax.axvline(2, color="grey", linewidth=1, linestyle="--")
    ax.set_xscale("log")
    ax.set_xlabel("trio_gossip / Go dskit (log scale; 1 = same, dashed = 2x goal)")
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--peer", type=Path, default=PEER, help="the dskit Go peer binary")
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument(
        "--budget", type=float, default=1.0, help="seconds of Python timing per measure"
    )
    parser.add_argument("--out", "--results", dest="out", type=Path, default=RESULTS,
                        help="where results are written")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="200 instances, budget 0.1 s")
    args = parser.parse_args()
    if args.quick:
        args.instances, args.budget = 200, 0.1
    if not args.peer.exists():
        print(f"no dskit peer at {args.peer}: run tests/peers/build.sh dskit", file=sys.stderr)
        return 1
    done = subprocess.run(
        [str(args.peer), "bench", "-instances", str(args.instances), "-tokens", str(args.tokens)],
        capture_output=True,
        text=True,
        check=True,
    )
    go = json.loads(done.stdout)
    value = bytes.fromhex(go.pop("value_hex"))
    py = measure_python(value, args.budget)
    meta = {
        "instances": args.instances,
        "tokens": args.tokens,
        "python": platform.python_version(),
        "go": go.pop("go"),
        "machine": platform.machine(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    md = table(go, py, meta)
    (args.out / "dskit.md").write_text(md)
    (args.out / "dskit.json").write_text(
        json.dumps({"meta": meta, "go": go, "python": py}, indent=2) + "\n"
    )
    if plot(go, py, args.out / "dskit.png"):
        md += "\n(plot: dskit.png)\n"
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
