"""Coverage-guided fuzzing of the wire decoders with atheris (libFuzzer) for a fixed time.

Run from the repository root: ``python benchmarks/bench_fuzz.py [--seconds 600] [--quick]
[--results DIR]`` (needs the ``fuzz`` extra). The seed corpus is the real memberlist v0.7.0
traffic in tests/vectors, each vector once per decoder (the first byte picks the decoder, see
fuzz_target.py). Writes fuzz.json and fuzz.png (coverage and corpus against executions) under
the results directory, prints a table, and exits 1 if libFuzzer found a crash (saved there as
``crash-*``).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
VECTORS = HERE.parent / "tests" / "vectors" / "memberlist-v070" / "vectors.json"
DECODERS = 5  # fuzz_target.DECODERS, kept out of --help's way (importing it starts atheris)
# libFuzzer's status lines: "#4096  pulse  cov: 1234 ft: 2345 corp: 67/890b ... exec/s: 100"
STATUS = re.compile(r"^#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)/")


def seed_corpus(directory: Path) -> int:
    vectors = json.loads(VECTORS.read_text())["vectors"]
    n = 0
    for v in vectors:
        for decoder in range(DECODERS):
            (directory / f"seed-{n}").write_bytes(bytes([decoder]) + bytes.fromhex(v["hex"]))
            n += 1
    return n


def run(seconds: int, results: Path) -> dict[str, object]:
    sys.path.insert(0, str(HERE))
    from report import progress  # noqa: PLC0415

    results.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as corpus_dir:
        corpus = Path(corpus_dir)
        seeds = seed_corpus(corpus)
        argv = [sys.executable, str(HERE / "fuzz_target.py"), str(corpus),
                f"-max_total_time={seconds}", "-print_final_stats=1",
                f"-artifact_prefix={results}/"]  # fmt: skip
        started = time.monotonic()
        with tempfile.TemporaryFile("w+") as log:
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, text=True)
            try:
                for _ in progress(range(seconds), f"fuzzing {seconds} s"):
                    if proc.poll() is not None:
                        break
                    time.sleep(1.0)
                code = proc.wait(timeout=seconds + 60)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            log.seek(0)
            output = log.read()
    points = [tuple(int(g) for g in m.groups()) for m in map(STATUS.match, output.splitlines())
              if m]  # fmt: skip
    final = dict(re.findall(r"^stat::(\w+):\s+(\d+)", output, re.MULTILINE))
    crashed = code != 0 or "==ERROR" in output or "Uncaught Python exception" in output
    return {
        "seconds": seconds,
        "wall_seconds": round(time.monotonic() - started, 1),
        "seeds": seeds,
        "exit_code": code,
        "crashed": crashed,
        "executions": int(final.get("number_of_executed_units", 0)),
        "execs_per_second": int(final.get("average_exec_per_sec", 0)),
        "new_units": int(final.get("new_units_added", 0)),
        "peak_rss_mb": int(final.get("peak_rss_mb", 0)),
        "coverage_start": points[0][1] if points else 0,
        "coverage_end": points[-1][1] if points else 0,
        "timeline": [{"execs": p[0], "cov": p[1], "ft": p[2], "corpus": p[3]} for p in points],
        "tail": output[-3000:] if crashed else "",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--seconds", type=int, default=600, help="fuzzing time (default 600)")
    parser.add_argument("--quick", action="store_true", help="fuzz for 10 seconds")
    parser.add_argument("--results", type=Path, default=HERE / "results", help="output dir")
    args = parser.parse_args()
    seconds = 10 if args.quick else args.seconds
    figures = run(seconds, args.results)
    (args.results / "fuzz.json").write_text(json.dumps(figures, indent=1) + "\n")
    sys.path.insert(0, str(HERE))
    from report import plot_lines  # noqa: PLC0415

    timeline: list[dict[str, int]] = figures["timeline"]  # type: ignore[assignment]
    execs = [float(p["execs"]) for p in timeline]
    plot_lines(args.results / "fuzz.png",
               {"coverage (edges)": (execs, [float(p["cov"]) for p in timeline]),
                "corpus (inputs)": (execs, [float(p["corpus"]) for p in timeline])},
               title=f"atheris on the wire decoders, {seconds} s", xlabel="executions",
               ylabel="count", logx=True)  # fmt: skip
    print("| seconds | executions | exec/s | coverage start -> end | new inputs | peak RSS MB |"
          " crashed |\n|---|---|---|---|---|---|---|")  # fmt: skip
    print(f"| {seconds} | {figures['executions']:,} | {figures['execs_per_second']:,} |"
          f" {figures['coverage_start']} -> {figures['coverage_end']} | {figures['new_units']} |"
          f" {figures['peak_rss_mb']} | {figures['crashed']} |")  # fmt: skip
    if figures["crashed"]:
        print(figures["tail"], file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
