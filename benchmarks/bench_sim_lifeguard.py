"""False positives with and without Lifeguard (the scenario of tests/test_scenario_lifeguard).

    python benchmarks/bench_sim_lifeguard.py [--seeds 0,1] [--minutes 10] [--delay S]
                                             [--loss 0.1] [--quick] [--results DIR]

50 nodes, every tenth slowed (everything reaches it --delay late, default probe timeout +
0.1 s), --loss packet loss on every link; nobody dies, so every dead verdict is false. "off"
is plain SWIM: awareness_max_multiplier=1, suspicion_max_timeout_mult=1 (the buddy system
stays on: the node has no switch for it). About 2.5 wall minutes per run of 10 simulated
minutes. --quick: seed 0, 1 simulated minute. Writes results/sim_lifeguard.{json,md} and
.png (on/off bars, summed over the seeds).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import attrs
from report import plot_bars, progress
from sim_results import RESULTS, recorded_command, write

from trio_gossip.apps.sim.studies import FalsePositives, false_positive_study


def main() -> None:
    logging.disable(logging.WARNING)  # lost probes under loss are expected here, not news
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--delay", type=float, default=None)
    parser.add_argument("--loss", type=float, default=0.1)
    parser.add_argument("--quick", action="store_true", help="seed 0, 1 simulated minute")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the files go")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.minutes = "0", 1.0
    runs: list[FalsePositives] = []
    rows: list[tuple[object, ...]] = []
    seeds = [int(x) for x in args.seeds.split(",")]
    plan = [(seed, lifeguard) for seed in seeds for lifeguard in (True, False)]
    for seed, lifeguard in progress(plan, "lifeguard runs"):
        r = false_positive_study(seed=seed, minutes=args.minutes, lifeguard=lifeguard,
                                 delay=args.delay, loss=args.loss)  # fmt: skip
        runs.append(r)
        rows.append((seed, "on" if lifeguard else "off", r.healthy_nodes, r.healthy_verdicts,
                     r.slow_nodes, r.slow_verdicts, r.suspicions))  # fmt: skip
        if lifeguard:
            continue
        on, off = runs[-2], runs[-1]
        rows.append((seed, "on / off", _ratio(on.healthy_nodes, off.healthy_nodes),
                     _ratio(on.healthy_verdicts, off.healthy_verdicts),
                     _ratio(on.slow_nodes, off.slow_nodes),
                     _ratio(on.slow_verdicts, off.slow_verdicts),
                     _ratio(on.suspicions, off.suspicions)))  # fmt: skip
    notes = [
        f"{args.minutes:g} simulated minutes per run, 50 nodes, 5 slowed, loss {args.loss:g}.",
        "healthy/slow nodes: distinct nodes some survivor declared dead; verdicts: distinct",
        "(observer, node) pairs; suspicions: suspicions started, all nodes together.",
    ]
    command = recorded_command()
    write("sim_lifeguard", "False positives with and without Lifeguard",
          ["seed", "lifeguard", "healthy nodes", "healthy verdicts", "slow nodes",
           "slow verdicts", "suspicions"],
          rows, command=command, notes=notes,
          extra={"runs": [attrs.asdict(r) for r in runs]},
          results=args.results)  # fmt: skip
    fields = ("healthy_nodes", "healthy_verdicts", "slow_nodes", "slow_verdicts", "suspicions")
    totals = {label: [float(sum(getattr(r, f) for r in runs[start::2])) for f in fields]
              for label, start in (("Lifeguard on", 0), ("off (plain SWIM)", 1))}  # fmt: skip
    plot_bars(args.results / "sim_lifeguard.png", [f.replace("_", " ") for f in fields], totals,
              title=f"False positives, {len(seeds)} seed(s) x {args.minutes:g} simulated min",
              value_label="count, summed over seeds (log scale)", log=True)  # fmt: skip


def _ratio(a: int, b: int) -> str:
    return f"{a / b:.2f}" if b else ("-" if a == 0 else "inf")


if __name__ == "__main__":
    main()
