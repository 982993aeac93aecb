"""The chaos lab on real sockets: N ``trio-gossip agent`` processes, each in its own network
namespace on a shared bridge, driven through three scenarios.

    sudo python benchmarks/bench_lab.py [--hosts 30] [--duration 300] [--loss 0.10]
        [--starved 0.10] [--cpu-share 0.05] [--kills 3] [--partition 120]
        [--scenarios abc] [--profile lan] [--reconnect-interval 30] [--quick]
        [--go-peers 0] [--cas-hosts 10] [--cas-writes 100] [--cas-pace 0.5]
        [--cas-partition 40] [--results DIR] [--name lab] [--logs DIR]

(a) soak: --loss on every link (an nftables ``numgen random`` drop in each host namespace's
    input chain, so each one-way link loses that share; the input side, as a drop in the
    sender's output hook would fail its send with EPERM, which real loss never does),
    --starved of the hosts capped at --cpu-share of one CPU (a cgroup CFS quota per host on
    the agent's pid and a spinning process that uses the quota up: v2 cpu.max or v1
    cpu.cfs_quota_us, whichever the machine has; a SIGSTOP/SIGCONT duty cycle without one),
    for --duration seconds: false deaths (a healthy host declared failed by anyone), crashes,
    error-level log lines, RSS growth.
(b) kill -9 of --kills hosts, 2 s apart: time to the first ``failed`` verdict and to every
    view, against memberlist's detection formula (bounds.detection_formula, unconfirmed,
    plus the probe walk reaching the victim); then each restarts under its name and address,
    timed until every view lists it; then one host SIGSTOPped until declared failed, and
    SIGCONTed.
(c) partition: nftables drops between two halves for --partition seconds, then heal; the
    time until every view lists everyone, against one push/pull or reconnect interval.
(d) CAS, in a lab of its own: --cas-hosts KV nodes (tests/lab_cas_node.py, the public API)
    each make --cas-writes CAS updates of one ring key, one every --cas-pace seconds on
    average, all at once, under --loss on every link; 10 s in, the halves are cut apart for
    --cas-partition seconds (by default past gossip_to_the_dead_time). Each update adds a
    token of the writer's own to its instance: after the heal and the last write, every view
    must hold all of them (lost updates: 0) within one push/pull or reconnect interval plus
    anti-entropy. Its plot, results/<name>_cas.png (<name>.png if it runs alone): updates
    each view holds over time.

Needs root, iproute2 and nftables. Every namespace (``tglab-<pid>-*``), cgroup and agent is
removed at the end, on Ctrl-C and on SIGTERM; leftovers of a run killed harder are removed at
the next start. Writes results/<name>.{json,md,png} (the PNG: each host's view over time,
with the kills, restarts, pauses, the partition and any false death) and prints the table.
--quick: 8 hosts, 30 s soak, 1 kill, a partition held just past gossip_to_the_dead_time,
reconnect every 5 s (what tests/test_lab_quick.py runs), and the CAS lab's 12 s partition
with a write every 0.25 s (tests/test_lab_cas.py).
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sim_results import RESULTS, write

ROOT = Path(__file__).resolve().parents[1]
# The lab's helpers live with the tests; this checkout's trio_gossip comes first, as the agents
# it starts run this checkout too (lab_support puts the repository on their PYTHONPATH).
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]


class Ticker:
    """A rich progress bar per phase on stderr (plain lines without rich)."""

    def __init__(self) -> None:
        self.label = ""
        self.task: Any = None
        try:
            from rich.console import Console  # noqa: PLC0415
            from rich.progress import (  # noqa: PLC0415
                BarColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )
        except ImportError:
            self.progress: Any = None
            return
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed:.0f}/{task.total:.0f} s"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
        )
        self.progress.start()

    def __call__(self, label: str, done: float, total: float) -> None:
        if self.progress is None:
            if label != self.label:
                print(f"{label} (up to {total:.0f} s)", file=sys.stderr)
                self.label = label
            return
        if label != self.label:
            if self.task is not None:
                self.progress.update(self.task, completed=self.progress.tasks[-1].total)
            self.task = self.progress.add_task(label, total=max(total, 0.1))
            self.label = label
        self.progress.update(self.task, completed=min(done, total), total=max(total, 0.1))

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()


def timeline(path: Path, lab: Any, out: Any) -> None:
    """Each host's view (members it lists alive) over time as a heat map, with the lab's
    actions and every false death marked; below, ``failed`` verdicts per 5 s."""
    try:
        import matplotlib  # noqa: PLC0415

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        print("matplotlib is not installed: no PNG", file=sys.stderr)
        return
    t0 = lab.started
    end = time.time() - t0
    step = 1.0
    ticks = int(end / step) + 1
    grid = [[math.nan] * ticks for _ in lab.hosts]
    per_host: dict[str, list[tuple[float, int]]] = {h.name: [] for h in lab.hosts}
    for t, observer, size in lab.view_sizes:
        per_host[observer].append((t - t0, size))
    down: dict[str, list[tuple[float, float]]] = {h.name: [] for h in lab.hosts}
    for a in lab.actions:
        if a.kind == "kill":
            down[a.hosts[0]].append((a.time - t0, end))
        if a.kind == "restart":
            spans = down[a.hosts[0]]
            spans[-1] = (spans[-1][0], a.time - t0)
    for row, h in enumerate(lab.hosts):
        changes = sorted(per_host[h.name])
        k, size = 0, math.nan
        for i in range(ticks):
            t = i * step
            while k < len(changes) and changes[k][0] <= t:
                size = changes[k][1]
                k += 1
            grid[row][i] = math.nan if any(a <= t < b for a, b in down[h.name]) else size
    fig, (top, bottom) = plt.subplots(
        2,
        1,
        figsize=(12, 3 + 0.22 * lab.n),
        sharex=True,
        gridspec_kw={"height_ratios": [4, 1]},
        layout="constrained",
    )
    image = top.imshow(
        grid,
        aspect="auto",
        interpolation="nearest",
        cmap="viridis",
        vmin=0,
        vmax=lab.n,
        extent=(0, ticks * step, lab.n - 0.5, -0.5),
    )
    fig.colorbar(image, ax=[top, bottom], label="members listed alive", pad=0.01)
    rows = {h.name: i for i, h in enumerate(lab.hosts)}
    marks = {
        "kill": ("x", "red"),
        "restart": ("^", "lime"),
        "pause": ("s", "orange"),
        "resume": ("s", "cyan"),
    }
    seen: set[str] = set()
    for a in lab.actions:
        if a.kind in marks and a.hosts:
            shape, color = marks[a.kind]
            top.scatter(
                [a.time - t0],
                [rows[a.hosts[0]]],
                marker=shape,
                color=color,
                s=60,
                zorder=3,
                label=None if a.kind in seen else a.kind,
            )
            seen.add(a.kind)
        if a.kind in ("partition", "heal", "starve", "unstarve"):
            for ax in (top, bottom):
                ax.axvline(
                    a.time - t0, color="white" if ax is top else "grey", linestyle="--", linewidth=1
                )
            top.text(a.time - t0, -0.7, a.kind, fontsize=7, rotation=30, va="bottom")
    false = lab.false_deaths()
    if false:
        top.scatter(
            [e.time - t0 for e in false],
            [rows[e.member] for e in false],
            marker="o",
            facecolors="none",
            edgecolors="magenta",
            s=80,
            zorder=4,
            label="false death (member row)",
        )
    labels = [f"{h.name}{' (starved)' if h.name in _starved(out) else ''}" for h in lab.hosts]
    top.set_yticks(range(lab.n), labels, fontsize=7)
    top.set_ylabel("host (its view)")
    top.set_title(f"chaos lab: {lab.n} agents, {lab.profile} profile")
    if seen or false:
        top.legend(fontsize="small", loc="lower left")
    bins = int(end / 5) + 1
    expected = [0] * bins
    wrong = [0] * bins
    false_ids = {id(e) for e in false}
    for e in lab.events:
        if e.kind == "failed" and 0 <= e.time - t0 < end:
            b = int((e.time - t0) / 5)
            (wrong if id(e) in false_ids else expected)[b] += 1
    xs = [b * 5 for b in range(bins)]
    bottom.bar(xs, expected, width=5, align="edge", label="failed verdicts (a fault)")
    bottom.bar(
        xs, wrong, width=5, align="edge", bottom=expected, color="magenta", label="false deaths"
    )
    bottom.set_xlim(0, end)
    bottom.set_ylabel("per 5 s")
    bottom.set_xlabel("seconds since the lab started")
    bottom.legend(fontsize="small")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"(plot: {path.name})", file=sys.stderr)


def cas_plot(path: Path, lab: Any, out: Any) -> None:
    """Updates each view holds over time in the CAS scenario, the partition and heal marked."""
    data = out.data.get("cas")
    try:
        import matplotlib  # noqa: PLC0415

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        print("matplotlib is not installed: no PNG", file=sys.stderr)
        return
    if not data:
        return
    t0 = data["start"]
    fig, ax = plt.subplots(figsize=(10, 4.5), layout="constrained")
    for h in lab.hosts:
        points = [(t - t0, held) for t, name, held in data["samples"] if name == h.name]
        if points:
            ax.plot(*zip(*points, strict=True), linewidth=1, label=h.name)
    total = lab.n * lab.cas_writes
    ax.axhline(total, color="black", linestyle=":", linewidth=1, label=f"all {total} updates")
    for a in lab.actions:
        if a.kind in ("partition", "heal"):
            ax.axvline(a.time - t0, color="grey", linestyle="--", linewidth=1)
            ax.text(a.time - t0, total * 1.01, a.kind, fontsize=8)
    ax.set_xlabel("seconds since the writes began")
    ax.set_ylabel("updates in the view")
    cut = data["partition_seconds"]
    ax.set_title(f"{lab.n} nodes x {lab.cas_writes} CAS on one ring key,"
                 f" {data['loss']:.0%} loss, partition of {cut:g} s")  # fmt: skip
    ax.legend(fontsize="x-small", ncol=2, loc="lower right")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"(plot: {path.name})", file=sys.stderr)


def _starved(out: Any) -> set[str]:
    return set(out.data.get("soak", {}).get("starved", []))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 2)[2],
    )
    parser.add_argument("--hosts", type=int, default=30, help="agents, one per namespace")
    parser.add_argument("--duration", type=float, default=300.0, help="(a) soak seconds")
    parser.add_argument("--loss", type=float, default=0.10, help="(a) loss on every link")
    parser.add_argument("--starved", type=float, default=0.10, help="(a) share of hosts starved")
    parser.add_argument(
        "--cpu-share",
        type=float,
        default=0.05,
        help="(a) a starved host's CPU, share of one CPU (default 0.05)",
    )
    parser.add_argument("--kills", type=int, default=None, help="(b) hosts killed (hosts/10)")
    parser.add_argument("--no-pause", action="store_true", help="(b) skip the SIGSTOP pause")
    parser.add_argument(
        "--partition",
        type=float,
        default=120.0,
        help="(c) seconds the halves stay apart; 0: just past the dead time",
    )
    parser.add_argument("--scenarios", default="abcd", help="which of a-d to run, in order")
    parser.add_argument("--cas-hosts", type=int, default=10, help="(d) KV nodes")
    parser.add_argument("--cas-writes", type=int, default=100, help="(d) CAS updates per node")
    parser.add_argument(
        "--cas-pace", type=float, default=0.5, help="(d) mean seconds between one node's writes"
    )
    parser.add_argument(
        "--cas-partition",
        type=float,
        default=40.0,
        help="(d) seconds the halves stay apart, from 10 s in",
    )
    parser.add_argument(
        "--go-peers",
        type=int,
        default=0,
        help="this many hosts run a Go memberlist peer (tests/peers/memberlist) instead",
    )
    parser.add_argument("--profile", choices=("lan", "local"), default="lan")
    parser.add_argument("--reconnect-interval", type=float, default=30.0)
    parser.add_argument("--quick", action="store_true", help="8 hosts, 30 s soak, short partitions")
    parser.add_argument("--name", default="lab", help="results/<name>.{json,md,png}")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the files go")
    parser.add_argument(
        "--logs",
        type=Path,
        default=None,
        help="keep the agents' logs here (default: a new temporary directory)",
    )
    args = parser.parse_args()
    if args.quick:
        args.hosts, args.duration = 8, 30.0
        args.reconnect_interval, args.partition, args.kills, args.no_pause = 5.0, 0.0, 1, True
        args.cas_pace, args.cas_partition = 0.25, 12.0

    # Imported after parsing, so --help runs without root and without touching anything.
    from lab_cas import cas  # noqa: PLC0415
    from lab_support import (  # noqa: PLC0415
        Event,
        Lab,
        Outcome,
        interruptible,
        kills,
        partition,
        soak,
    )

    logs = args.logs or Path(tempfile.mkdtemp(prefix="tglab-logs-"))
    logs.mkdir(parents=True, exist_ok=True)
    print(f"agent logs in {logs}", file=sys.stderr)
    ticker = Ticker()
    out = Outcome()
    began = time.monotonic()
    labs: dict[str, Any] = {}  # "agents" (a-c), "cas" (d)
    try:
        with interruptible():
            if set(args.scenarios) & set("abc"):
                lab = Lab(
                    args.hosts,
                    logs,
                    profile=args.profile,
                    reconnect_interval=args.reconnect_interval,
                    tick=ticker,
                    go_peers=args.go_peers,
                )
                labs["agents"] = lab
                with lab:
                    for scenario in args.scenarios:
                        if scenario == "a":
                            soak(
                                lab,
                                out,
                                seconds=args.duration,
                                loss=args.loss,
                                starved=args.starved,
                                cpu_share=args.cpu_share,
                            )
                        elif scenario == "b":
                            count = (
                                args.kills if args.kills is not None else max(1, args.hosts // 10)
                            )
                            kills(lab, out, count=count, pause=not args.no_pause)
                        elif scenario == "c":
                            partition(lab, out, seconds=args.partition or None)
                    lab.poll()
                    timeline(args.results / f"{args.name}.png", lab, out)
            if "d" in args.scenarios:
                cas_lab = Lab(
                    args.cas_hosts,
                    logs / "cas",
                    profile=args.profile,
                    reconnect_interval=args.reconnect_interval,
                    tick=ticker,
                    cas_writes=args.cas_writes,
                    cas_pace=args.cas_pace,
                )
                labs["cas"] = cas_lab
                with cas_lab:
                    cas(cas_lab, out, loss=args.loss, partition_at=10.0,
                        partition_seconds=args.cas_partition)  # fmt: skip
                    # Alone, the CAS lab's plot is the run's; beside a-c, it has a name of its own.
                    png = f"{args.name}_cas.png" if "agents" in labs else f"{args.name}.png"
                    cas_plot(args.results / png, cas_lab, out)
    finally:
        for each in labs.values():
            each.close()
        ticker.stop()
    left = [x for each in labs.values() for x in each.leftovers()]
    out.add("cleanup", "namespaces, cgroups, processes left", str(len(left)), "0", not left)
    # Where the logs and files went is this machine's business, not the figure's.
    shown, skip = [], False
    for arg in sys.argv[1:]:
        if skip or arg.startswith(("--logs=", "--results=")):
            skip = False
            continue
        skip = arg in ("--logs", "--results")
        if not skip:
            shown.append(arg)
    command = "python benchmarks/bench_lab.py " + " ".join(shown)
    rows = [(c.scenario, c.what, c.value, c.bound, "pass" if c.ok else "FAIL") for c in out.checks]
    hosts = (f"{args.hosts - args.go_peers} agents (`trio-gossip agent`)" if "agents" in labs
             else f"{args.cas_hosts} KV nodes")  # fmt: skip
    notes = [
        f"{hosts} on memberlist's {args.profile} profile, reconnect every"
        f" {args.reconnect_interval:g} s, each alone in a network namespace on one bridge;"
        " faults by nftables in each host's input chain; verdicts from the JSON logs."
        f" Run took {time.monotonic() - began:.0f} s."
    ]
    soak_data = out.data.get("soak")
    if soak_data:
        notes.append(
            f"(a) {soak_data['setup']}. CPU used over the soak, share of one CPU:"
            f" starved hosts {[round(x, 3) for x in soak_data['cpu_share_starved']]},"
            f" others {soak_data['cpu_share_healthy_mean']:.3f} on average."
        )
    cas_data = out.data.get("cas")
    if cas_data:
        notes.append(
            f"(d) {args.cas_hosts} KV nodes (tests/lab_cas_node.py, ring codec), each making"
            f" {cas_data['writes']} CAS updates of one ring key, one every {cas_data['pace']:g} s"
            f" on average, under {cas_data['loss']:.0%} loss; halves cut apart"
            f" {cas_data['partition_at']:g} s in for {cas_data['partition_seconds']:g} s."
        )
    traces = []
    for key, data in out.data.items():
        lab = labs["cas" if key == "cas" else "agents"]
        for e in data.get("false_deaths", [])[:10]:
            notes.append(
                f"False death ({key}): {e['observer']} declared {e['member']} failed"
                f" at +{e['time'] - lab.started:.1f} s (log context: lab.json, traces)."
            )
            traces.append({"false_death": e, "log": lab.trace(Event(**e))})
    go = [h.name for h in labs["agents"].hosts if h.go] if "agents" in labs else []
    if go:
        notes.append(
            f"Go memberlist v0.7.0 peers (no Serf reconnect of their own): {', '.join(go)};"
            f" memberlist [ERR] lines on their stderr: {len(labs['agents'].go_error_lines())}."
        )
    notes.append(f"Overall: {'pass' if out.ok else 'FAIL'}.")
    write(
        args.name,
        "Chaos lab: agents in network namespaces under faults",
        ["scenario", "check", "measured", "bound", "result"],
        rows,
        command=command.strip(),
        notes=notes,
        results=args.results,
        extra={
            "data": out.data,
            "events": {k: len(each.events) for k, each in labs.items()},
            "actions": {k: [vars(a) for a in each.actions] for k, each in labs.items()},
            "traces": traces,
            "started": {k: each.started for k, each in labs.items()},
        },
    )
    return 0 if out.ok else 1


if __name__ == "__main__":
    sys.exit(main())
