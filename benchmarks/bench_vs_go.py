"""Go memberlist v0.7.0, Serf and trio_gossip agents side by side, at N = 3, 20 and 100.

Run as root from the repository root: ``python benchmarks/bench_vs_go.py`` (the default, three
sizes x three implementations x 3 trials, each with a 60 s idle window, takes about half an
hour on two shared cores; ``--quick`` runs N=3 once with a 10 s idle window in about a minute).
``--sizes 3,20``, ``--trials`` and ``--idle`` pick the work; ``--results DIR`` writes the
files elsewhere (e.g. for a ``--quick`` look that should not replace the committed results).
Needs ``serf``, ``go`` (or an already built tests/peers/bin/memberlist, see
tests/peers/build.sh), ``ip`` and ``nft``.

Implementations, all with memberlist's LAN profile, one process per node:

* ``memberlist``: the Go test peer (tests/peers/memberlist, hashicorp/memberlist v0.7.0)
  started with ``-count 1`` for every node, driven over its stdin (tests/interop/go_peer.py);
  a member it lists as ``dead`` counts as failed;
* ``Serf``: ``serf agent`` (the Debian binary), read over its RPC;
* ``trio_gossip``: ``trio-gossip agent``, read over its HTTP endpoint.

Each cluster runs alone in a network namespace made for it, every node on 127.0.0.1 with its
own gossip port (7000 + i), so that an nftables counter in that namespace sees exactly the
cluster's gossip traffic and nothing else. Nodes start in batches of ten (each batch up
before the next starts, so that a hundred starting Python processes do not starve each
other; netns_traffic.py has the counters). The joins follow a fixed schedule rather than
each waiting for the previous one: a
``trio-gossip agent`` join first pings its own name at the join address and waits a probe
timeout (0.5 s) for an ack that would mean a name conflict, so a hundred joins in a row
would take 50 s; and all joins at once race (see JOIN_SPACING), making the figure a coin
toss between seconds and a 90 s push/pull. Figures, for each cluster:

* convergence (median of ``--trials`` fresh clusters): node i > 0 joins node 0 (Serf RPC
  ``join``, ``/v1/join``, the Go peer's ``join`` command) at i x 50 ms, each call in a
  thread of its own; from issuing the last join (this includes the call's own time, e.g.
  trio_gossip's name probe), and from the return of the last call, until every node lists
  all N alive, every node polled concurrently every 50 ms (every 50 ms x N/20 for N > 20,
  so that polling a hundred nodes does not load the two cores they run on); a node counts
  from the moment the request that first saw it converged was sent;
* detection (median of the same trials): from ``kill -9`` of the last node until every
  survivor lists it failed (and until the first does), polled the same way every 100 ms
  (x N/20 above 20);
* idle cost per node, the median over the trials of each one's idle window (starting 5 s
  after convergence, nothing polling): CPU seconds per second of the window (utime + stime from
  /proc/<pid>/stat), peak RSS (VmHWM, read at the end of the window), and gossip traffic:
  UDP datagrams and IP bytes (UDP plus TCP on the gossip ports, both directions) counted by
  an nftables rule in the namespace's output hook, divided by N and by the window.

Writes vs_go.json, vs_go.md (with the ratios trio_gossip / memberlist and trio_gossip / Serf)
and vs_go.png (grouped bars per figure against N) into benchmarks/results, and prints the
table.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

ROOT = Path(__file__).resolve().parents[1]
# tests/interop has the node drivers; go_peer.py imports trio_gossip, which need not be
# installed when the script runs from a checkout.
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import pytest  # noqa: E402  (go_binary reports a missing Go through pytest's outcomes)
from interop.go_peer import GoOptions, GoPeer, Timing, go_binary  # noqa: E402
from interop.procs import cpu_seconds, network_namespace, rss_kib  # noqa: E402
from interop.serf import SerfAgent  # noqa: E402
from interop.trio_agent import TrioAgent, http_post  # noqa: E402
from netns_traffic import (  # noqa: E402
    CONTROL_BASE,
    GOSSIP_BASE,
    HOST,
    peak_rss_kib,
    read_counters,
    setup_counters,
)

if TYPE_CHECKING:
    from rich.console import Console

RESULTS = ROOT / "benchmarks" / "results"
KINDS = ("go", "serf", "trio")
LABELS = {"go": "memberlist", "serf": "Serf", "trio": "trio_gossip"}
DEFAULT_SIZES = (3, 20, 100)
MAX_N = 100  # the nftables rules count ports GOSSIP_BASE .. GOSSIP_BASE + 99
BATCH = 10  # nodes started before waiting for them to be up
SETTLE = 5.0  # seconds between convergence and the idle window
# Between two join calls. Joins all at once race: a node whose push/pull with node 0 beats
# node 0's merge of another joiner may miss that one's gossip (sent only to members known by
# then) and wait for a periodic push/pull, 90 s at N=100, in any implementation.
JOIN_SPACING = 0.05


# ---- one node of each kind ----------------------------------------------------------------------


class Node(Protocol):
    """What the measurements need of a node, whatever runs it."""

    name: str
    gossip_address: str
    pid: int

    def wait_ready(self, timeout: float) -> None: ...

    def join(self, seed: str) -> None: ...

    def statuses(self) -> dict[str, str]:
        """Member name -> alive, suspect, failed or left, as this node sees it."""
        ...

    def kill9(self) -> None: ...

    def close(self) -> None: ...


class GoNode:
    """One Go memberlist node: a test peer process of ``-count 1``, driven over its stdin."""

    def __init__(self, i: int, ns: str, log_dir: Path) -> None:
        options = GoOptions(
            count=1,
            prefix=f"go{i:02d}-",
            bind=HOST,
            base_port=GOSSIP_BASE + i,
            timing=Timing(profile="lan"),
            quiet=True,  # no join/leave events on stdout: nobody reads them here
        )
        self.peer = GoPeer(options, log_dir, netns=ns)  # returns once the node is up
        self.name = self.peer.names[0]
        self.gossip_address = self.peer.address(self.name)
        self.pid = self.peer.proc.pid  # ip netns exec execs the peer: same pid

    def wait_ready(self, timeout: float) -> None:
        pass  # GoPeer waited for the peer's ready line

    def join(self, seed: str) -> None:
        answer = self.peer.join(self.name, [seed])
        if answer.get("error"):
            raise RuntimeError(f"{self.name} join {seed}: {answer['error']}")

    def statuses(self) -> dict[str, str]:
        # memberlist says dead where Serf and trio_gossip say failed.
        states = self.peer.states(self.name)
        return {name: "failed" if s == "dead" else s for name, s in states.items()}

    def kill9(self) -> None:
        self.peer.kill()

    def close(self) -> None:
        self.peer.kill()  # no graceful exit: it would only slow the teardown of 100 nodes
        self.peer.close()


class SerfNode:
    """``serf agent``, read and joined over its RPC."""

    def __init__(self, i: int, ns: str, log_dir: Path) -> None:
        self.name = f"serf{i:02d}"
        self.agent = SerfAgent(
            self.name, (HOST, GOSSIP_BASE + i), (HOST, CONTROL_BASE + i), log_dir, netns=ns
        )
        self.gossip_address = self.agent.gossip_address
        self.pid = self.agent.process.pid

    def wait_ready(self, timeout: float) -> None:
        self.agent.wait_ready(timeout)

    def join(self, seed: str) -> None:
        self.agent.rpc().join(seed)

    def statuses(self) -> dict[str, str]:
        return self.agent.statuses()

    def kill9(self) -> None:
        self.agent.drop_rpc()
        self.agent.process.signal(signal.SIGKILL)
        self.agent.process.wait(10.0)

    def close(self) -> None:
        self.agent.drop_rpc()
        self.agent.process.kill()
        self.agent.process.stop()  # closes its log file: 300 agents per run would leak them


class TrioNode:
    """``trio-gossip agent``, read and joined over its HTTP endpoint."""

    def __init__(self, i: int, ns: str, log_dir: Path) -> None:
        self.name = f"trio{i:02d}"
        self.ns = ns
        self.agent = TrioAgent(
            self.name, (HOST, GOSSIP_BASE + i), (HOST, CONTROL_BASE + i), log_dir, netns=ns
        )
        self.gossip_address = self.agent.gossip_address
        self.pid = self.agent.process.pid

    def wait_ready(self, timeout: float) -> None:
        self.agent.wait_ready(timeout)

    def join(self, seed: str) -> None:
        http_post(self.agent.http, "/v1/join", {"address": seed}, self.ns)

    def statuses(self) -> dict[str, str]:
        return self.agent.statuses()

    def kill9(self) -> None:
        self.agent.process.signal(signal.SIGKILL)
        self.agent.process.wait(10.0)

    def close(self) -> None:
        self.agent.process.kill()
        self.agent.process.stop()


NODE_TYPES: dict[str, Callable[[int, str, Path], Node]] = {
    "go": GoNode,
    "serf": SerfNode,
    "trio": TrioNode,
}


# ---- a cluster and its measurements -------------------------------------------------------------


class Cluster:
    """N nodes of one kind in namespace ``ns``, started in batches of ``BATCH``."""

    def __init__(
        self, kind: str, n: int, ns: str, log_dir: Path, status: Callable[[str], None]
    ) -> None:
        self.kind = kind
        self.n = n
        self.ns = ns
        self.nodes: list[Node] = []
        log_dir.mkdir(parents=True, exist_ok=True)
        try:
            for lo in range(0, n, BATCH):
                for i in range(lo, min(n, lo + BATCH)):
                    self.nodes.append(NODE_TYPES[kind](i, ns, log_dir))
                for node in self.nodes[lo:]:
                    node.wait_ready(60.0)
                status(f"started {len(self.nodes)}/{n}")
        except BaseException:
            self.close()  # processes outlive a deleted namespace: stop them here
            raise

    @property
    def names(self) -> list[str]:
        return [node.name for node in self.nodes]

    def poll_interval(self, base: float) -> float:
        """``base`` up to N=20, then proportionally longer: every poll of a trio_gossip node
        costs it (and this script) CPU on the same two cores the cluster runs on."""
        return base * max(1.0, self.n / 20)

    def close(self) -> None:
        for node in self.nodes:
            node.close()


def first_seen(
    c: Cluster,
    indices: list[int],
    check: Callable[[dict[str, str]], bool],
    timeout: float,
    interval: float,
) -> list[float]:
    """Poll the nodes' views concurrently (one thread each, so a slow node does not delay the
    others) until ``check`` holds for every one; for each, the monotonic time at which the
    request that first saw it was sent."""
    seen: dict[int, float] = {}
    deadline = time.monotonic() + timeout

    def ask(i: int) -> tuple[int, float, bool]:
        sent = time.monotonic()
        return i, sent, check(c.nodes[i].statuses())

    with concurrent.futures.ThreadPoolExecutor(max_workers=len(indices)) as pool:
        while len(seen) < len(indices):
            if time.monotonic() > deadline:
                missing = sorted(c.nodes[i].name for i in set(indices) - set(seen))
                raise TimeoutError(f"{c.kind} N={c.n}: {missing} never got there")
            for i, sent, ok in pool.map(ask, [i for i in indices if i not in seen]):
                if ok:
                    seen[i] = sent
            time.sleep(interval)
    return [seen[i] for i in indices]


def converge(c: Cluster) -> dict[str, float]:
    """Node i > 0 joins node 0 at ``i x JOIN_SPACING`` s, each call in a thread of its own so
    that a slow call does not shift the schedule: seconds from issuing the last join, and
    from the return of the last call, until every node lists all N alive; and how long the
    join calls took, first issued to last returned."""
    seed = c.nodes[0].gossip_address
    returned: list[float] = []

    def join(node: Node) -> None:
        node.join(seed)
        returned.append(time.monotonic())

    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=c.n - 1) as pool:
        calls = []
        for k, node in enumerate(c.nodes[1:]):
            time.sleep(max(0.0, t0 + k * JOIN_SPACING - time.monotonic()))
            calls.append(pool.submit(join, node))
        issued = time.monotonic()
        for call in calls:
            call.result()  # re-raises a failed join
    last = max(returned)

    def converged(view: dict[str, str]) -> bool:
        return sum(1 for s in view.values() if s == "alive") == c.n

    seen = max(first_seen(c, list(range(c.n)), converged, 60.0 + c.n, c.poll_interval(0.05)))
    return {
        "convergence_s": round(seen - issued, 3),
        "convergence_after_joins_s": round(seen - last, 3),
        "join_calls_s": round(last - t0, 3),
    }


def idle_cost(c: Cluster, idle: float) -> dict[str, Any]:
    """CPU, peak RSS and gossip traffic per node over ``idle`` quiet seconds."""
    n = c.n
    time.sleep(SETTLE)  # let the join traffic settle before the window
    pids = [node.pid for node in c.nodes]
    cpu0 = [cpu_seconds(pid) for pid in pids]
    counters0 = read_counters(c.ns)
    t0 = time.monotonic()
    time.sleep(idle)
    window = time.monotonic() - t0
    cpu = [cpu_seconds(pid) - before for pid, before in zip(pids, cpu0, strict=True)]
    counters1 = read_counters(c.ns)
    peak = [peak_rss_kib(pid) for pid in pids]
    rss = [rss_kib(pid) for pid in pids]

    def rate(key: str, index: int) -> float:
        return (counters1.get(key, (0, 0))[index] - counters0.get(key, (0, 0))[index]) / n / window

    return {
        "idle_window_s": round(window, 1),
        "cpu_s_per_node": round(sum(cpu) / n, 3),
        "cpu_s_per_node_s": round(sum(cpu) / n / window, 5),
        "cpu_percent_per_node": round(100 * sum(cpu) / n / window, 3),
        "cpu_percent_max": round(100 * max(cpu) / window, 3),
        "peak_rss_mib_per_node": round(sum(peak) / n / 1024, 1),
        "peak_rss_mib_max": round(max(peak) / 1024, 1),
        "rss_mib_per_node": round(sum(rss) / n / 1024, 1),
        "udp_packets_per_node_s": round(rate("udp", 0), 2),
        "udp_bytes_per_node_s": round(rate("udp", 1), 1),
        "tcp_packets_per_node_s": round(rate("tcp", 0), 2),
        "gossip_bytes_per_node_s": round(rate("udp", 1) + rate("tcp", 1), 1),
    }


def detect(c: Cluster) -> tuple[float, float]:
    """kill -9 of the last node: seconds until the first and until every survivor says so."""
    victim = c.nodes[-1].name
    c.nodes[-1].kill9()
    start = time.monotonic()
    seen = first_seen(
        c,
        list(range(c.n - 1)),
        lambda view: view.get(victim) == "failed",
        180.0,  # memberlist's worst case at N=100, no confirmations: 6 x 8 s of suspicion
        c.poll_interval(0.1),
    )
    return round(min(seen) - start, 3), round(max(seen) - start, 3)


def errors_in_logs(log_dir: Path) -> int:
    """Python tracebacks and Go panics the nodes wrote to their logs."""
    return sum(
        text.count("Traceback") + text.count("panic:")
        for path in log_dir.rglob("*.log")
        for text in [path.read_text(errors="replace")]
    )


def measure(
    kind: str,
    n: int,
    *,
    idle: float,
    trials: int,
    logs: Path,
    status: Callable[[str], None],
    advance: Callable[[], None],
) -> dict[str, Any]:
    """``trials`` fresh clusters: each converges, idles, and loses one node; each figure is the
    median over the trials (idle CPU of one window moved by 5 % between runs of the same
    tree). A failed trial is recorded and the others still run."""
    log_dir = logs / f"{kind}-{n}"
    shutil.rmtree(log_dir, ignore_errors=True)  # count only this run's errors
    result: dict[str, Any] = {"kind": kind, "n": n}
    joining: dict[str, list[float]] = {}
    idling: dict[str, list[float]] = {}
    first: list[float] = []
    every: list[float] = []
    failures: list[str] = []
    for trial in range(trials):

        def say(what: str, trial: int = trial) -> None:
            status(f"{LABELS[kind]} N={n} trial {trial + 1}/{trials}: {what}")

        try:
            with network_namespace() as ns:
                setup_counters(ns)
                say("starting")
                cluster = Cluster(kind, n, ns, log_dir / str(trial), say)
                try:
                    say("joining")
                    for key, value in converge(cluster).items():
                        joining.setdefault(key, []).append(value)
                    say(f"idle window ({idle:.0f} s)")
                    for key, value in idle_cost(cluster, idle).items():
                        idling.setdefault(key, []).append(value)
                    say("kill -9, waiting for detection")
                    detected = detect(cluster)
                    first.append(detected[0])
                    every.append(detected[1])
                finally:
                    say("stopping")
                    cluster.close()
        except Exception as exc:  # a timeout in one trial must not lose the whole run
            failures.append(f"trial {trial}: {type(exc).__name__}: {exc}")
        advance()
    result["errors_in_logs"] = errors_in_logs(log_dir)
    if failures:
        result["failures"] = failures
    result |= {key: round(statistics.median(v), 3) for key, v in joining.items()}
    result |= {key: round(statistics.median(v), 5) for key, v in idling.items()}
    if first:
        result |= {
            "detection_first_s": round(statistics.median(first), 3),
            "detection_all_s": round(statistics.median(every), 3),
        }
    result["trials"] = {
        **joining,
        **idling,
        "detection_first_s": first,
        "detection_all_s": every,
    }
    return result


# ---- reporting ----------------------------------------------------------------------------------

FIGURES = [
    ("convergence_s", "last join issued → every node lists all N alive (s)"),
    ("convergence_after_joins_s", "… after the last join call returned (s)"),
    ("detection_first_s", "kill -9 → first survivor reports failed (s)"),
    ("detection_all_s", "kill -9 → every survivor reports failed (s)"),
    ("cpu_percent_per_node", "idle CPU per node (% of a core = CPU s per s x 100)"),
    ("peak_rss_mib_per_node", "peak RSS per node (MiB, VmHWM)"),
    ("udp_packets_per_node_s", "UDP packets per node per s (idle)"),
    ("gossip_bytes_per_node_s", "gossip bytes per node per s (UDP+TCP, IP, idle)"),
]
COLUMNS = ["figure", "N", "memberlist", "Serf", "trio_gossip", "trio/memberlist", "trio/Serf"]


def rows(results: list[dict[str, Any]]) -> list[list[str]]:
    """The table's cells: one row per figure and N; ``-`` where a cluster failed."""
    by = {(r["kind"], r["n"]): r for r in results}
    sizes = sorted({r["n"] for r in results})

    def ratio(ours: float | None, theirs: float | None) -> str:
        return f"{ours / theirs:.2f}" if ours is not None and theirs else "-"

    out = []
    for key, label in FIGURES:
        for n in sizes:
            values = [by.get((kind, n), {}).get(key) for kind in KINDS]
            go, serf, trio = values
            cells = ["-" if v is None else str(v) for v in values]
            out.append([label, str(n), *cells, ratio(trio, go), ratio(trio, serf)])
    return out


def markdown(results: list[dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|---|---|---:|---:|---:|---:|---:|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows(results)]
    return "\n".join(lines)


def rich_table(results: list[dict[str, Any]], title: str) -> Any:
    from rich.table import Table  # noqa: PLC0415 (kept out of --help's way)

    table = Table(title=title)
    for i, column in enumerate(COLUMNS):
        table.add_column(column, justify="left" if i == 0 else "right")
    cells = rows(results)
    for row, following in zip(cells, [*cells[1:], None], strict=True):
        # A rule after each figure's last N, so that the rows of one figure read as a group.
        table.add_row(*row, end_section=following is None or following[0] != row[0])
    return table


def plot(results: list[dict[str, Any]], path: Path, title: str) -> None:
    """Grouped bars: one panel per figure, N on the x axis, one bar per implementation."""
    import matplotlib  # noqa: PLC0415 (slow to import: kept out of --help's way)

    matplotlib.use("Agg")  # no display: write the file only
    import matplotlib.pyplot as plt  # noqa: PLC0415

    by = {(r["kind"], r["n"]): r for r in results}
    sizes = sorted({r["n"] for r in results})
    colors = {"go": "#00add8", "serf": "#ca2171", "trio": "#e69f00"}
    width = 0.27
    fig, axes = plt.subplots(3, 3, figsize=(15, 11))
    panels = list(axes.flat)
    for ax, (key, label) in zip(panels, FIGURES, strict=False):
        for j, kind in enumerate(KINDS):
            values = [by.get((kind, n), {}).get(key) for n in sizes]
            xs = [k + (j - 1) * width for k in range(len(sizes))]
            bars = ax.bar(
                xs,
                [0.0 if v is None else v for v in values],
                width,
                label=LABELS[kind],
                color=colors[kind],
            )
            ax.bar_label(bars, labels=["-" if v is None else f"{v:.3g}" for v in values],
                         fontsize=7)  # fmt: skip
        ax.set_xticks(range(len(sizes)), [f"N={n}" for n in sizes])
        ax.set_title(label, fontsize=9)
        ax.margins(y=0.15)  # room for the value labels above the tallest bar
    legend = panels[len(FIGURES)]
    legend.axis("off")
    handles, names = panels[0].get_legend_handles_labels()
    legend.legend(handles, names, loc="center", fontsize=12)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def memberlist_version() -> str:
    go_mod = (ROOT / "tests" / "peers" / "memberlist" / "go.mod").read_text()
    found = re.search(r"github\.com/hashicorp/memberlist (v\S+)", go_mod)
    return found.group(1) if found else "?"


# ---- main ---------------------------------------------------------------------------------------


def sizes_arg(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma separated list of N: {text!r}") from None
    if not sizes or any(not 2 <= n <= MAX_N for n in sizes):
        raise argparse.ArgumentTypeError(f"every N must be between 2 and {MAX_N}")
    return sizes


def kinds_arg(text: str) -> list[str]:
    kinds = [part.strip() for part in text.split(",") if part.strip()]
    unknown = set(kinds) - set(KINDS)
    if not kinds or unknown:
        raise argparse.ArgumentTypeError(f"kinds are {', '.join(KINDS)}, not {text!r}")
    return [kind for kind in KINDS if kind in kinds]


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(f"bench_vs_go: stopped by {signal.Signals(signum).name}")


def check_tools(console: Console) -> bool:
    missing = [tool for tool in ("serf", "ip", "nft") if shutil.which(tool) is None]
    if missing:
        console.print(
            f"bench_vs_go: needs {', '.join(missing)} (apt-get install serf iproute2 nftables)"
            " and root for network namespaces"
        )
        return False
    try:
        go_binary()  # builds tests/peers/bin/memberlist when a source is newer
    except (pytest.skip.Exception, pytest.fail.Exception) as exc:
        console.print(f"bench_vs_go: no Go memberlist peer: {exc}")
        return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Run as root from the repository root. See the module docstring for the method.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="N=3 only, one trial, a 10 s idle window"
    )
    parser.add_argument(
        "--sizes",
        type=sizes_arg,
        default=None,
        help="comma separated cluster sizes (default 3,20,100; --quick: 3)",
    )
    parser.add_argument(
        "--kinds",
        type=kinds_arg,
        default=list(KINDS),
        help="comma separated implementations to run: go,serf,trio (default all three)",
    )
    parser.add_argument(
        "--trials", type=int, default=None, help="clusters per size and kind (default 3)"
    )
    parser.add_argument(
        "--idle", type=float, default=None, help="idle window in seconds (default 60)"
    )
    parser.add_argument(
        "--results", type=Path, default=RESULTS, help="where vs_go.{json,md,png} go"
    )
    parser.add_argument(
        "--logs",
        type=Path,
        default=Path(tempfile.gettempdir()) / "bench_vs_go",
        help="where the nodes' logs go",
    )
    args = parser.parse_args()
    sizes: list[int] = args.sizes or ([3] if args.quick else list(DEFAULT_SIZES))
    trials: int = args.trials or (1 if args.quick else 3)
    idle: float = args.idle or (10.0 if args.quick else 60.0)

    from rich.console import Console  # noqa: PLC0415 (kept out of --help's way)
    from rich.progress import (  # noqa: PLC0415
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    err = Console(stderr=True)
    # Stop cleanly on SIGTERM or SIGINT (even when started in the background, where SIGINT is
    # ignored): the finally blocks kill the nodes and delete the namespaces.
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    if not check_tools(err):
        return 1
    args.logs.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    results: list[dict[str, Any]] = []
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
    )
    with progress:
        task = progress.add_task("starting", total=len(sizes) * len(args.kinds) * trials)
        last: list[str] = [""]

        def status(text: str) -> None:
            progress.update(task, description=text)
            # Phase changes also go to the log, which is all a non-terminal stderr shows.
            phase = text.split(": ", 1)[-1].split(" ", 1)[0]
            if phase != last[0] or text.endswith(("starting", "joining")):
                last[0] = phase
                if not err.is_terminal:
                    err.log(text)

        for n in sizes:
            for kind in args.kinds:
                result = measure(
                    kind,
                    n,
                    idle=idle,
                    trials=trials,
                    logs=args.logs,
                    status=status,
                    advance=lambda: progress.advance(task),
                )
                results.append(result)
                summary = {k: v for k, v in result.items() if k != "trials"}
                progress.console.log(f"{LABELS[kind]} N={n}: {json.dumps(summary)}")
    wall = time.monotonic() - started

    serf_version = subprocess.run(
        ["serf", "version"], capture_output=True, text=True, check=False
    ).stdout
    meta = {
        "machine": platform.platform(),
        "python": platform.python_version(),
        "memberlist": memberlist_version(),
        "serf": serf_version.strip().splitlines()[0] if serf_version else "?",
        "profile": "lan",
        "sizes": sizes,
        "kinds": args.kinds,
        "trials": trials,
        "idle_window_s": idle,
        "wall_time_s": round(wall, 1),
        "method": __doc__,
    }
    title = (
        f"trio_gossip vs memberlist {meta['memberlist']} (Go) and Serf {meta['serf']},"
        " loopback, LAN profile"
    )
    md = markdown(results)
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "vs_go.json").write_text(
        json.dumps({"meta": meta, "results": results}, indent=2) + "\n"
    )
    header = (
        f"# {title}\n\n"
        f"{meta['machine']}, Python {meta['python']}; one process per node; {trials} trial(s)"
        f" per cluster, idle window {idle:.0f} s; the run took {wall / 60:.1f} min."
        " Method: see benchmarks/bench_vs_go.py.\n\n"
    )
    (args.results / "vs_go.md").write_text(header + md + "\n")
    plot(results, args.results / "vs_go.png", title)
    out = Console()
    if not out.is_terminal:
        out.width = 160  # rich's 80 columns would wrap every label into a tall column
    out.print(rich_table(results, title))
    failed = [r for r in results if r.get("failures")]
    for r in failed:
        err.print(f"[yellow]{LABELS[r['kind']]} N={r['n']}: {'; '.join(r['failures'])}")
    err.print(f"wall time {wall / 60:.1f} min; results in {args.results}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
