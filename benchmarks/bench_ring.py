"""Ring benchmark: merge costs, encoded sizes and lookup throughput.

Run from the repository root: ``python benchmarks/bench_ring.py [--quick] [--results DIR]``.
Writes benchmarks/results/ring.json, ring.md and ring.png (lookups/s against the goal) and
prints the markdown table. About 15 s of CPU (--quick: each measure 10x shorter); times
are CPU time per call (best of 3), so a busy machine inflates them less.
Reference points are dskit's published figures (Grafana's dskit ring
benchmarks, ring/model_test.go).
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import random
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import attrs
from report import plot_bars

from trio_gossip.core.kv.message import KeyValuePair, encode_pair
from trio_gossip.core.ring import (
    READ,
    RING_CODEC,
    WRITE,
    InstanceDesc,
    InstanceState,
    Operation,
    Ring,
)
from trio_gossip.core.ring.index import TokenIndex

RESULTS = Path(__file__).resolve().parent / "results"
NOW = 1_700_000_000.0
ZONES = ("zone-a", "zone-b", "zone-c")
SCALE = 1.0  # of every measure's minimum time; --quick makes it 0.1
GOAL = ">= 500,000"  # lookups/s


def build_ring(instances: int, tokens: int, seed: int) -> Ring:
    """`instances` ACTIVE instances in three zones with random tokens, all heartbeating."""
    rng = random.Random(seed)
    pool = rng.sample(range(2**32), instances * tokens)
    descs = [
        InstanceDesc(
            id=f"ingester-{i}",
            addr=f"10.0.{i // 256}.{i % 256}:9095",
            zone=ZONES[i % len(ZONES)],
            state=InstanceState.ACTIVE,
            tokens=pool[i * tokens : (i + 1) * tokens],
            registered_at=NOW - 3600,
        )
        for i in range(instances)
    ]
    ring = Ring()
    for desc in descs:
        ring = ring.put(desc, now=NOW - 3600)
    return Ring.of(ring.instances.values(), {d.id: NOW for d in descs})


def per_call(fn: Callable[[], object], *, min_seconds: float = 0.5) -> float:
    """Mean CPU seconds per call of `fn`, run for at least `min_seconds` (best of 3).

    CPU time of this process, not wall time: the machine is shared, and waiting for a
    core is not a cost of the code.
    """
    min_seconds *= SCALE
    best = float("inf")
    for _ in range(3):
        calls, start = 0, time.process_time()
        while True:
            fn()
            calls += 1
            elapsed = time.process_time() - start
            if elapsed >= min_seconds / 3:
                break
        best = min(best, elapsed / calls)
    return best


def _lookups(ring: Ring, keys: list[int], op: Operation, zone_awareness: bool) -> None:
    get = ring.get
    for key in keys:
        get(key, op, now=NOW + 1, zone_awareness=zone_awareness)


def main(argv: list[str] | None = None) -> None:
    global SCALE  # noqa: PLW0603 (a module-wide knob read by per_call)
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="each measure 10x shorter")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the files go")
    args = parser.parse_args(argv)
    results: Path = args.results
    if args.quick:
        SCALE = 0.1
    rows: list[tuple[str, float, str, str]] = []

    ring128 = build_ring(1000, 128, seed=1)
    ring128.index  # noqa: B018 - build the token index once, as a live ring would have it
    beat = Ring(heartbeats={"ingester-17": NOW + 5})
    t = per_call(lambda: ring128.merge(beat))
    rows.append(("merge one heartbeat delta into 1000 x 128", t * 1e6, "us", "< 50 (dskit ~440)"))

    ring128.remove_tombstones(NOW - 300)  # a stored ring has been through this before

    def receive() -> None:  # what the KV store does per message: merge, then collect
        result = ring128.merge(beat, horizon=NOW - 300)
        result.value.remove_tombstones(NOW - 300)
        if result.change is not None:
            result.change.remove_tombstones(NOW - 300)

    t = per_call(receive)
    rows.append(("... plus the store's two remove_tombstones calls", t * 1e6, "us", "< 50"))

    new_record = Ring.of([ring128.instances["ingester-17"]]).put(
        InstanceDesc(
            "ingester-17",
            addr="10.0.0.17:9095",
            zone="zone-c",
            state=InstanceState.LEAVING,
            tokens=ring128.instances["ingester-17"].tokens,
            registered_at=NOW - 3600,
        ),
        now=NOW + 5,
    )
    delta = Ring.of([new_record.instances["ingester-17"]])
    t = per_call(lambda: ring128.merge(delta))
    rows.append(("merge one record delta (state change) into 1000 x 128", t * 1e6, "us", ""))

    ring512 = build_ring(1000, 512, seed=2)
    full = RING_CODEC.encode(ring512)
    decoded = RING_CODEC.decode(full)
    t = per_call(lambda: ring512.merge(decoded), min_seconds=1.0)
    rows.append(("full-state merge 1000 x 512, equal state", t * 1e3, "ms", "< 50"))
    t = per_call(lambda: Ring().merge(decoded), min_seconds=1.0)
    rows.append(("full-state merge 1000 x 512 into an empty ring", t * 1e3, "ms", "< 50"))
    t = per_call(lambda: RING_CODEC.decode(full), min_seconds=1.0)
    rows.append(("decode full state 1000 x 512", t * 1e3, "ms", ""))
    t = per_call(lambda: TokenIndex.build(ring512.instances), min_seconds=1.0)
    rows.append(("token index build 1000 x 512", t * 1e3, "ms", ""))
    index = ring512.index
    leaving = attrs.evolve(ring512.instances["ingester-17"], state=InstanceState.LEAVING)
    moved = ring512.put(leaving, now=NOW + 5)
    t = per_call(lambda: index.updated(moved.instances, ["ingester-17"]), min_seconds=1.0)
    rows.append(("index patch after one instance turns LEAVING, 1000 x 512", t * 1e3, "ms", ""))
    newcomer = InstanceDesc(
        "ingester-new", zone="zone-a", state=InstanceState.JOINING, tokens=range(0, 2**32, 2**23)
    )
    joined = ring512.put(newcomer, now=NOW + 5)
    t = per_call(lambda: index.updated(joined.instances, ["ingester-new"]), min_seconds=1.0)
    rows.append(
        ("index patch after an instance joins with 512 tokens, 1000 x 512", t * 1e3, "ms", "")
    )

    def wrapped(value: Ring) -> int:
        return len(encode_pair(KeyValuePair("collectors/ring", "ring", RING_CODEC.encode(value))))

    rows.append(("encoded heartbeat delta (in its KV message)", wrapped(beat), "B", ""))
    one = Ring.of([ring128.instances["ingester-17"]])
    rows.append(
        ("encoded one instance with 128 tokens", len(RING_CODEC.encode(one)), "B", "dskit ~700")
    )
    rows.append(
        (
            "encoded full ring 1000 x 128",
            len(RING_CODEC.encode(ring128)) / 1024,
            "KiB",
            "dskit ~720",
        )
    )
    rows.append(("encoded full ring 1000 x 512", len(full) / 1024, "KiB", "dskit ~2600"))

    # 4096 random keys per pass. A ring keeps each token position's answer, so after the
    # first pass these measure cached answers (heartbeats still checked per lookup).
    key_rng = random.Random(5)
    keys = [key_rng.getrandbits(32) for _ in range(4096)]
    for label, zone_awareness, op in (
        ("zone-aware", True, WRITE),
        ("no zones", False, WRITE),
        ("zone-aware", True, READ),
    ):
        lookups = partial(_lookups, ring128, keys, op, zone_awareness)
        t = per_call(lookups, min_seconds=1.0) / len(keys)
        rows.append((f"lookups/s, RF 3, {label}, {op.name}, 1000 x 128", 1 / t, "/s", GOAL))
    # Uncached: two rings that differ in one address (same token index, other records)
    # take turns, so every pass starts with no cached answers: each lookup walks the ring.
    readdressed = attrs.evolve(ring128.instances["ingester-17"], addr="10.0.0.17:9096")
    turns = itertools.cycle((ring128, ring128.put(readdressed, now=NOW)))
    t = per_call(lambda: _lookups(next(turns), keys, WRITE, True), min_seconds=1.0) / len(keys)
    rows.append(("lookups/s, RF 3, zone-aware, write, 1000 x 128, uncached", 1 / t, "/s", ""))

    table = ["| measure | value | unit | goal / dskit |", "|---|---:|---|---|"]
    for name, value, unit, goal in rows:
        shown = f"{value:,.0f}" if value >= 100 else f"{value:,.2f}"
        table.append(f"| {name} | {shown} | {unit} | {goal} |")
    markdown = "\n".join(table)
    print(markdown)
    results.mkdir(parents=True, exist_ok=True)
    meta = {"python": sys.version.split()[0], "machine": platform.machine()}
    (results / "ring.json").write_text(
        json.dumps(
            {
                "meta": meta,
                "rows": [
                    dict(zip(("measure", "value", "unit", "goal"), r, strict=True)) for r in rows
                ],
            },
            indent=2,
        )
        + "\n"
    )
    (results / "ring.md").write_text(
        f"# bench_ring ({meta['python']}, {meta['machine']})\n\n{markdown}\n"
    )
    rates = [(name, value) for name, value, unit, _ in rows if unit == "/s"]
    plot_bars(
        results / "ring.png",
        [name.removeprefix("lookups/s, ") for name, _ in rates],
        {"lookups/s": [value for _, value in rates]},
        title="Ring lookups per CPU second (1000 instances x 128 tokens)",
        value_label="lookups/s",
        refs={"goal": 500_000},
    )


if __name__ == "__main__":
    main()
