"""Serf agents and trio_gossip agents side by side: convergence, crash detection, idle cost.

Run as root from the repository root: ``python benchmarks/bench_vs_serf.py`` (about 7 min;
``--idle 10 --trials 1`` for a quick look). Needs ``serf``, ``ip`` and ``nft``. Each cluster
(N = 3 and N = 20, Serf agents or ``trio-gossip agent`` processes, LAN profile) runs alone in a
network namespace made for it, every agent on 127.0.0.1 with its own gossip port, so that an
nftables counter in that namespace sees exactly the cluster's gossip traffic and nothing else.

Figures, for each cluster:

* convergence (median of ``--trials`` fresh clusters, 3 by default): from the return of the
  last join call (Serf RPC ``join`` / our ``/v1/join``, node i joining node 0, back to back)
  until every agent lists all N alive, every agent polled every 50 ms, concurrently; an
  agent counts from the moment the request that first saw it converged was sent;
* detection (median of the same trials): from ``kill -9`` of the last agent until every
  survivor lists it failed (and until the first does), polled the same way every 100 ms;
* idle cost per node over the idle window of the first trial (starting 5 s after convergence,
  nothing polling): CPU seconds (utime + stime from /proc/<pid>/stat), peak RSS (VmHWM), and
  gossip traffic: UDP datagrams and IP bytes (UDP plus TCP on the gossip ports, both
  directions) counted by an nftables rule in the namespace's output hook, divided by N and by
  the window.

Writes benchmarks/results/vs_serf.json and vs_serf.md and prints the markdown table.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from interop.nft import add_output_chain, add_output_rule, nft  # noqa: E402
from interop.procs import (  # noqa: E402
    Process,
    cpu_seconds,
    network_namespace,
)
from interop.serf import SerfAgent  # noqa: E402
from interop.trio_agent import TrioAgent, http_post  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
HOST = "127.0.0.1"
GOSSIP_BASE = 7000
CONTROL_BASE = 9000
TABLE = "bench"


def setup_counters(ns: str) -> None:
    """Count gossip traffic leaving the namespace: UDP by destination port, TCP both ways."""
    add_output_chain(ns, TABLE)
    ports = f"{GOSSIP_BASE}-{GOSSIP_BASE + 99}"
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
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


class Cluster:
    """N agents of one kind in one namespace; ``views`` reads every agent's member list."""

    def __init__(self, kind: str, n: int, ns: str, log_dir: Path) -> None:
        self.kind = kind
        self.n = n
        self.ns = ns
        self.names = [f"{kind}{i:02d}" for i in range(n)]
        self.agents: list[SerfAgent | TrioAgent] = []
        log_dir.mkdir(parents=True, exist_ok=True)
        for i, name in enumerate(self.names):
            bind, control = (HOST, GOSSIP_BASE + i), (HOST, CONTROL_BASE + i)
            if kind == "serf":
                self.agents.append(SerfAgent(name, bind, control, log_dir, netns=ns))
            else:
                self.agents.append(TrioAgent(name, bind, control, log_dir, netns=ns))
        try:
            for agent in self.agents:
                agent.wait_ready(60.0)
        except BaseException:
            self.close()  # processes outlive a deleted namespace: stop them here
            raise

    @property
    def processes(self) -> list[Process]:
        return [a.process for a in self.agents]

    def join(self, i: int) -> None:
        agent, seed = self.agents[i], self.agents[0]
        if isinstance(agent, SerfAgent):
            agent.rpc().join(seed.gossip_address)
        else:
            http_post(agent.http, "/v1/join", {"address": seed.gossip_address}, self.ns)

    def view(self, i: int) -> dict[str, str]:
        return self.agents[i].statuses()

    def close(self) -> None:
        for agent in self.agents:
            if isinstance(agent, SerfAgent):
                agent.drop_rpc()
            agent.process.kill()


def first_seen(
    c: Cluster,
    agents: list[int],
    check: Callable[[dict[str, str]], bool],
    timeout: float,
    interval: float,
) -> list[float]:
    """Poll the agents' views concurrently (one thread each, so a slow endpoint does not delay
    the others) until ``check`` holds for every one; for each, the monotonic time at which
    the request that first saw it was sent."""
    seen: dict[int, float] = {}
    deadline = time.monotonic() + timeout

    def ask(i: int) -> tuple[int, float, bool]:
        sent = time.monotonic()
        return i, sent, check(c.view(i))

    with concurrent.futures.ThreadPoolExecutor(max_workers=len(agents)) as pool:
        while len(seen) < len(agents):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{c.kind} N={c.n}: agents {set(agents) - set(seen)} never"
                                   " got there")  # fmt: skip
            for i, sent, ok in pool.map(ask, [i for i in agents if i not in seen]):
                if ok:
                    seen[i] = sent
            time.sleep(interval)
    return [seen[i] for i in agents]


def measure(kind: str, n: int, idle: float, trials: int, logs: Path) -> dict[str, Any]:
    """``trials`` fresh clusters: each converges and loses one node; the first also idles."""
    log_dir = logs / f"{kind}-{n}"
    shutil.rmtree(log_dir, ignore_errors=True)  # count only this run's tracebacks
    result: dict[str, Any] = {"kind": kind, "n": n}
    convergence, first, every = [], [], []
    for trial in range(trials):
        with network_namespace() as ns:
            setup_counters(ns)
            cluster = Cluster(kind, n, ns, log_dir / str(trial))
            try:
                convergence.append(_converge(cluster))
                if trial == 0:
                    result |= _idle(cluster, idle)
                detected = _detect(cluster)
                first.append(detected[0])
                every.append(detected[1])
            finally:
                cluster.close()
    tracebacks = sum(
        path.read_text(errors="replace").count("Traceback") for path in log_dir.rglob("*.log")
    )
    if tracebacks:
        print(f"warning: {tracebacks} traceback(s) in the {kind} N={n} agent logs under "
              f"{log_dir}", file=sys.stderr)  # fmt: skip
    result |= {
        "tracebacks_in_logs": tracebacks,
        "convergence_s": round(statistics.median(convergence), 3),
        "detection_first_s": round(statistics.median(first), 3),
        "detection_all_s": round(statistics.median(every), 3),
        "trials": {"convergence_s": convergence, "detection_first_s": first,
                   "detection_all_s": every},
    }  # fmt: skip
    return result


def _converge(c: Cluster) -> float:
    for i in range(1, c.n):
        c.join(i)
    start = time.monotonic()

    def converged(view: dict[str, str]) -> bool:
        return sum(1 for s in view.values() if s == "alive") == c.n

    return round(max(first_seen(c, list(range(c.n)), converged, 60.0, 0.05)) - start, 3)


def _idle(c: Cluster, idle: float) -> dict[str, Any]:
    n = c.n
    time.sleep(5.0)  # let join traffic settle before the idle window
    pids = [p.pid for p in c.processes]
    cpu0 = [cpu_seconds(pid) for pid in pids]
    counters0 = read_counters(c.ns)
    t0 = time.monotonic()
    time.sleep(idle)
    window = time.monotonic() - t0
    cpu = [cpu_seconds(pid) - before for pid, before in zip(pids, cpu0, strict=True)]
    counters1 = read_counters(c.ns)
    rss = [peak_rss_kib(pid) for pid in pids]

    def rate(key: str, index: int) -> float:
        return (counters1.get(key, (0, 0))[index] - counters0.get(key, (0, 0))[index]) / n / window

    return {
        "idle_window_s": round(window, 1),
        "cpu_s_per_node": round(sum(cpu) / n, 3),
        "cpu_percent_per_node": round(100 * sum(cpu) / n / window, 3),
        "peak_rss_mib_per_node": round(sum(rss) / n / 1024, 1),
        "peak_rss_mib_max": round(max(rss) / 1024, 1),
        "udp_packets_per_node_s": round(rate("udp", 0), 2),
        "udp_bytes_per_node_s": round(rate("udp", 1), 1),
        "tcp_packets_per_node_s": round(rate("tcp", 0), 2),
        "gossip_bytes_per_node_s": round(rate("udp", 1) + rate("tcp", 1), 1),
    }


def _detect(c: Cluster) -> tuple[float, float]:
    """kill -9 of the last agent: seconds until the first and until every survivor says so."""
    victim = c.names[-1]
    c.processes[-1].signal(signal.SIGKILL)
    c.processes[-1].wait(10.0)
    start = time.monotonic()
    seen = first_seen(c, list(range(c.n - 1)), lambda v: v.get(victim) == "failed", 120.0, 0.1)
    return round(min(seen) - start, 3), round(max(seen) - start, 3)


FIGURES = [
    ("convergence_s", "convergence after the last join (s)"),
    ("detection_first_s", "kill -9 → first survivor reports failed (s)"),
    ("detection_all_s", "kill -9 → every survivor reports failed (s)"),
    ("cpu_s_per_node", "idle CPU per node (s per window)"),
    ("cpu_percent_per_node", "idle CPU per node (% of a core)"),
    ("peak_rss_mib_per_node", "peak RSS per node (MiB)"),
    ("udp_packets_per_node_s", "UDP packets per node per s"),
    ("gossip_bytes_per_node_s", "gossip bytes per node per s (UDP+TCP, IP)"),
]


def table(results: list[dict[str, Any]]) -> str:
    by = {(r["kind"], r["n"]): r for r in results}
    sizes = sorted({r["n"] for r in results})
    lines = ["| figure | N | Serf | trio_gossip | trio/Serf |", "|---|---|---|---|---|"]
    for key, label in FIGURES:
        for n in sizes:
            serf, ours = by[("serf", n)][key], by[("trio", n)][key]
            ratio = f"{ours / serf:.2f}" if serf else "n/a"
            lines.append(f"| {label} | {n} | {serf} | {ours} | {ratio} |")
    return "\n".join(lines)


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(f"bench_vs_serf: stopped by {signal.Signals(signum).name}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--idle", type=float, default=60.0, help="idle window in seconds")
    parser.add_argument("--sizes", type=int, nargs="+", default=[3, 20])
    parser.add_argument("--trials", type=int, default=3, help="clusters per size and kind")
    parser.add_argument(
        "--logs",
        type=Path,
        default=Path(tempfile.gettempdir()) / "bench_vs_serf",
        help="where the agents' logs go",
    )
    args = parser.parse_args()
    # Stop cleanly on SIGTERM or SIGINT (even when started in the background, where SIGINT is
    # ignored): the finally blocks kill the agents and delete the namespaces.
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    missing = [tool for tool in ("serf", "ip", "nft") if shutil.which(tool) is None]
    if missing:
        print(
            f"bench_vs_serf: needs {', '.join(missing)} (apt-get install serf iproute2"
            " nftables) and root for network namespaces",
            file=sys.stderr,
        )
        return 1
    args.logs.mkdir(parents=True, exist_ok=True)
    results = []
    for n in args.sizes:
        for kind in ("serf", "trio"):
            print(f"running {kind} N={n} ...", file=sys.stderr, flush=True)
            results.append(measure(kind, n, args.idle, args.trials, args.logs))
            print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    serf_version = subprocess.run(
        ["serf", "version"], capture_output=True, text=True, check=False
    ).stdout
    meta = {
        "machine": platform.platform(),
        "python": platform.python_version(),
        "serf": serf_version.strip().splitlines()[0] if serf_version else "?",
        "profile": "lan",
        "idle_window_s": args.idle,
        "trials": args.trials,
        "method": __doc__,
    }
    md = table(results)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "vs_serf.json").write_text(
        json.dumps({"meta": meta, "results": results}, indent=2) + "\n"
    )
    header = (
        f"# trio_gossip vs Serf ({meta['serf']}), loopback, LAN profile\n\n"
        f"{meta['machine']}, Python {meta['python']}, idle window {args.idle:.0f} s."
        " Method: see benchmarks/bench_vs_serf.py.\n\n"
    )
    (RESULTS / "vs_serf.md").write_text(header + md + "\n")
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
