"""What each part of trio_gossip costs a process at start: peak RSS and import time of the
core, the agent, and each extra, each measured in fresh interpreters.

    python benchmarks/bench_imports.py [--runs 7] [--results DIR] [--name imports]

Each row runs its snippet in a new ``python -c`` --runs times and reports the median peak
RSS (VmHWM, which includes the interpreter itself) and the median wall time of the
snippet's imports. The rows build on each other (the agent on the core, the extras on the
agent), so the cost of an extra is its row minus the agent's. Writes results/<name>.{json,md}
and results/<name>.png, and prints the table. About two minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from sim_results import RESULTS, write

# Each snippet's imports are timed; RSS is read after it (with whatever it then ran).
BASE = "import trio"
CORE = "import trio; from trio_gossip import Config, open_memberlist"
AGENT = (
    "import trio; from trio_gossip.apps import cli;"
    " from trio_gossip.apps.agent import command, log_setup, runner"
)
# The agent as `trio-gossip agent --name a --bind 127.0.0.1:0` runs it, for two seconds: its
# options parsed, its log set up, its node on sockets (run after the imports are timed).
RUNNING = """
argv = ["agent", "--name", "a", "--bind", "127.0.0.1:0"]
opts = command.agent_options(cli.build_parser(cli._chosen(argv)).parse_args(argv))
log_setup.setup_logging("warning")

async def main():
    async with runner.open_agent(opts):
        await trio.sleep(2.0)

trio.run(main)
"""
ROWS: list[tuple[str, str, str]] = [
    ("python", "", "the interpreter alone"),
    ("trio", BASE, "Trio, every node's floor"),
    ("core: a node, no keys", CORE, "trio_gossip's core (msgpack, attrs, immutables)"),
    ("agent, no --http", AGENT, "`trio-gossip agent` as it starts"),
    ("agent, running", AGENT, "the same agent after 2 s on sockets"),
    ("+ keys", AGENT + "; from cryptography.hazmat.primitives.ciphers.aead import AESGCM",
     "cryptography, loaded by the first key in use"),
    ("+ http extra", AGENT + "; import hypercorn.trio, hypercorn.config, jinja2",
     "--http: Hypercorn's Trio worker, Jinja2 pages"),
    ("+ metrics extra", AGENT + "; import prometheus_client; from trio_gossip.apps.metrics"
     " import memberlist", "/metrics: prometheus-client"),
    ("+ dskit extra", AGENT + "; from trio_gossip.wire.dskit import ring_desc, snappy",
     "dskit mode: protobuf, cramjam"),
    ("+ dns extra", AGENT + "; import dns.asyncresolver", "dns+ joins: dnspython"),
    ("+ dissect extra", AGENT + "; import scapy.all", "trio-gossip dissect: scapy"),
]  # fmt: skip

# VmHWM, not ru_maxrss: a child's ru_maxrss keeps the high-water mark of the forked copy of
# its parent from before exec, VmHWM starts again with the new program.
PROBE = """
import time
t0 = time.perf_counter()
{snippet}
took = time.perf_counter() - t0
{after}
import json
hwm = next(int(line.split()[1]) for line in open("/proc/self/status")
           if line.startswith("VmHWM:"))
print(json.dumps({{"rss_kib": hwm, "import_s": took}}))
"""


def measure(snippet: str, after: str = "") -> dict[str, float]:
    # As an installed package runs: with its compiled bytecode (compiling source instead, as
    # PYTHONDONTWRITEBYTECODE makes every start do, costs about 0.7 MiB more at the peak).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    done = subprocess.run([sys.executable, "-c", PROBE.format(snippet=snippet, after=after)],
                          capture_output=True, text=True, timeout=120, check=True,
                          env=env)  # fmt: skip
    result: dict[str, float] = json.loads(done.stdout.splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="fresh interpreters per row")
    parser.add_argument("--name", default="imports", help="results/<name>.{json,md,png}")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the files go")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    from report import plot_bars, progress  # noqa: PLC0415

    figures: dict[str, dict[str, float]] = {}
    work = [(label, snippet) for label, snippet, _ in ROWS for _ in range(args.runs)]
    samples: dict[str, list[dict[str, float]]] = {label: [] for label, _, _ in ROWS}
    for _, snippet, _ in ROWS:
        measure(snippet)  # writes any bytecode not yet compiled, so no row pays for it
    for label, snippet in progress(work, "fresh interpreters"):
        samples[label].append(measure(snippet, RUNNING if label == "agent, running" else ""))
    for label, runs in samples.items():
        figures[label] = {
            "rss_mib": statistics.median(r["rss_kib"] for r in runs) / 1024,
            "import_ms": statistics.median(r["import_s"] for r in runs) * 1000,
        }
    agent = figures["agent, no --http"]
    rows = []
    for label, _, what in ROWS:
        f = figures[label]
        extra = label.startswith("+")
        rows.append((label, what, f"{f['rss_mib']:.1f}", f"{f['import_ms']:.0f}",
                     f"{f['rss_mib'] - agent['rss_mib']:+.1f}" if extra else ""))  # fmt: skip
    runs = f" --runs {args.runs}" if args.runs != 7 else ""
    command = f"python benchmarks/bench_imports.py{runs}"
    notes = [
        f"Median of {args.runs} fresh interpreters per row; RSS is the process's peak"
        " (VmHWM), the interpreter included. An extra's cost is its row minus the agent's."
        " Import times vary by tens of ms from run to run on this machine (disk cache, other"
        " load); RSS does not."
    ]
    write(args.name, "What each part costs a process at start",
          ["configuration", "what it loads", "peak RSS MiB", "import ms", "RSS over the agent"],
          rows, command=command, notes=notes,
          results=args.results, extra={"figures": figures})  # fmt: skip
    labels = [label for label, _, _ in ROWS]
    plot_bars(args.results / f"{args.name}.png", labels,
                    {"peak RSS (MiB)": [figures[x]["rss_mib"] for x in labels]},
                    title="Peak RSS at start, by configuration", value_label="MiB",
                    refs={"goal: 30 MiB per agent": 30.0})  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
