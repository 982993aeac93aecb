"""Failure detection time vs the formula, on the simulated network (LAN config, no loss).

    python benchmarks/bench_sim_detection.py [--sizes 10,30,100] [--seeds 10] [--kills 3]
                                             [--quick] [--results DIR]

For each size and seed: join, let one full probe round pass, then kill --kills nodes one at a
time; record for every survivor the time from the kill to its dead verdict. The formula
(memberlist suspicion.go): probe interval + probe timeout + minimum suspicion timeout for n
nodes. --quick: sizes 10,30, 2 seeds, 1 kill. Writes results/sim_detection.{json,md}
(distributions over all survivors of all kills) and .png (their CDFs against the formula).
"""

from __future__ import annotations

import argparse
import logging
import statistics
from pathlib import Path

import attrs
from report import plot_lines, progress
from sim_results import RESULTS, recorded_command, write

from trio_gossip.apps.sim.studies import Detection, detection_study
from trio_gossip.core.config import Config
from trio_gossip.core.membership.bounds import detection_formula, suspicion_window


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    logging.disable(logging.WARNING)  # lost probes under loss are expected here, not news
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10,30,100")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="sizes 10,30, 2 seeds, 1 kill")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the files go")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.seeds, args.kills = "10,30", 2, 1
    config = Config.lan(name="sim", enable_compression=False)
    rows = []
    runs = []
    sizes = [int(x) for x in args.sizes.split(",")]
    by_size: dict[int, list[Detection]] = {n: [] for n in sizes}
    for n, seed in progress([(n, s) for n in sizes for s in range(args.seeds)], "detection runs"):
        by_size[n].append(detection_study(nodes=n, seed=seed, kills=args.kills, config=config))
    curves: dict[str, tuple[list[float], list[float | None]]] = {}
    formulas: dict[str, float] = {}
    for n, studies in by_size.items():
        runs += studies
        every = [t for d in studies for kill in d.times for t in kill]
        last = [max(kill) for d in studies for kill in d.times]
        suspect = [t for d in studies for t in d.first_suspected]
        formula = detection_formula(config, n)
        ordered = sorted(every)
        curves[f"n = {n}"] = (ordered, [(i + 1) / len(ordered) for i in range(len(ordered))])
        formulas[f"formula, n = {n}"] = formula
        low, high = suspicion_window(config, n)
        rows.append((n, len(last), formula, low, high, statistics.median(suspect),
                     min(every), statistics.median(every), quantile(every, 0.9), max(every),
                     sum(1 for t in last if t <= formula) / len(last),
                     statistics.median(t - formula for t in last)))  # fmt: skip
    notes = [
        "Seconds from the kill. formula = probe interval (1 s) + probe timeout (0.5 s) + min",
        "suspicion (n-dependent; the max is 6x). 'first suspect' = first survivor suspecting.",
        "min/median/p90/max over every survivor of every kill; 'last within formula' = share",
        "of kills where even the last survivor's verdict came within the formula; 'last -",
        "formula' = median overshoot of the last survivor. The overshoot is the wait for the",
        "first probe of the victim (geometric, about e^-t after t probe intervals) plus the",
        "probe round running to the end of the interval, plus the dead verdict's spread.",
    ]
    command = recorded_command()
    write("sim_detection", "Failure detection time vs the formula",
          ["nodes", "kills", "formula s", "min susp s", "max susp s", "first suspect s",
           "min s", "median s", "p90 s", "max s", "last within formula", "last - formula s"],
          rows, command=command, notes=notes,
          extra={"runs": [attrs.asdict(r) for r in runs]},
          results=args.results)  # fmt: skip
    plot_lines(args.results / "sim_detection.png", curves, marks=formulas, steps=True,
               title="Failure detection: CDF over every survivor of every kill",
               xlabel="seconds from the kill to the dead verdict",
               ylabel="share of survivors")  # fmt: skip


if __name__ == "__main__":
    main()
