"""Hostile input against a live agent, at scale: a ``trio-gossip agent`` in a three-agent
cluster, alone with its peers in a network namespace, receives mutated datagrams and hostile
TCP streams at a bounded rate while its peers keep probing it.

    sudo python benchmarks/bench_hostile.py [--datagrams 1000000] [--rate 3000]
        [--streams 10000] [--flood 120] [--hold SECONDS] [--profile lan] [--seed 11] [--quick]
        [--results DIR] [--name hostile]

Datagrams: the real memberlist v0.7.0 packets of tests/vectors, each mutated (bits flipped,
truncated, bytes inserted or overwritten, a random tail), at no more than --rate a second.
Streams (tests/hostile_support.py): encrypt lengths of 4 GiB, label lengths that lie,
pushPull headers promising 2^31 nodes or 2 GiB of user state, garbage after a message type,
mutated captured streams, spread over the datagram phase; then --flood connections at once
that never send, held --hold seconds (past the agent's TCP timeout), and two senders at one
byte a second.

Checks: the agent keeps running with no traceback, its peers never list it dead (suspect is
allowed: a refuted suspicion is the protocol working), every datagram our decoder refuses is
counted as bad and every lying stream as a bad stream, each under a reason, and its RSS grows
by no more than --rss-bound MiB. Writes results/<name>.{json,md,png} (the PNG: what was sent
and what the agent counted, and its RSS, over time) and prints the table. --quick: 20,000
datagrams and 600 streams, about 10 s. Needs root (a network namespace).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sim_results import RESULTS, write

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

SAMPLE_EVERY = 1.0  # seconds between samples of the target's counters and RSS
WATCH_EVERY = 0.2  # seconds between reads of the peers' views of the target
AFTER = 3.0  # seconds of probing after the attack: the peers must still hear the target


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 2)[2],
    )
    parser.add_argument("--datagrams", type=int, default=1_000_000)
    parser.add_argument("--rate", type=float, default=3000.0, help="datagrams a second at most")
    parser.add_argument("--streams", type=int, default=10_000, help="hostile streams in all")
    parser.add_argument("--flood", type=int, default=120,
                        help="half-open connections at once (memberlist accepts 128)")  # fmt: skip
    parser.add_argument("--hold", type=float, default=None,
                        help="seconds each stays open (default: the profile's TCP timeout + 2,"
                        " so the agent is the one to give up)")  # fmt: skip
    parser.add_argument("--profile", choices=("lan", "local"), default="lan")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--rss-bound", type=float, default=24.0, help="MiB of RSS growth")
    parser.add_argument("--quick", action="store_true", help="20,000 datagrams, 600 streams")
    parser.add_argument("--name", default="hostile", help="results/<name>.{json,md,png}")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the files go")
    args = parser.parse_args()
    if args.quick:
        args.datagrams, args.streams = 20_000, 600
    if args.hold is None:
        from trio_gossip.core.config import Config  # noqa: PLC0415

        args.hold = {"lan": Config.lan, "local": Config.local}[args.profile]().tcp_timeout + 2.0
    for field in ("datagrams", "streams", "flood"):
        if getattr(args, field) < 0:
            parser.error(f"--{field} must not be negative")
    if args.rate <= 0:
        parser.error("--rate must be positive")
    return args


class Progress:
    """Datagrams sent, as a rich bar on stderr (a line every 10% without rich)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.shown = -1
        try:
            from rich.progress import Progress as Bar  # noqa: PLC0415
        except ImportError:
            self.bar: Any = None
            return
        self.bar = Bar(transient=False)
        self.task = self.bar.add_task("hostile datagrams", total=total)
        self.bar.start()

    def update(self, done: int) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=done)
        elif (tenth := done * 10 // max(1, self.total)) > self.shown:
            self.shown = tenth
            print(f"{done:,}/{self.total:,} datagrams", file=sys.stderr)

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()


async def attack(args: argparse.Namespace, logs: Path) -> dict[str, Any]:
    import trio  # noqa: PLC0415
    from hostile_support import Hostile, lying_frames  # noqa: PLC0415
    from interop.cli_agent import CliAgent  # noqa: PLC0415
    from interop.procs import (  # noqa: PLC0415
        ProcessGroup,
        cpu_seconds,
        network_namespace,
        rss_kib,
        wait_until,
    )

    with network_namespace() as ns:
        group = ProcessGroup()
        try:
            target = CliAgent("target", "127.0.0.1", logs, netns=ns, profile=args.profile)
            group.add(target.process)
            target.wait_ready()
            peers = []
            for name in ("peer-1", "peer-2"):
                peer = CliAgent(name, "127.0.0.1", logs, join=[target.address], netns=ns,
                                profile=args.profile)  # fmt: skip
                group.add(peer.process)
                peers.append(peer.wait_ready())
            for agent in (target, *peers):
                wait_until(lambda a=agent: len(a.members()) == 3, 30.0, what=f"{agent.name}: 3")
            pid = target.process.pid
            before = target.stats()["node"]
            rss_before, cpu_before = rss_kib(pid), cpu_seconds(pid)
            hostile = Hostile(ns, target.bind, seed=args.seed)
            per_round = len(lying_frames(hostile.rng)) + 1
            rounds = max(0, math.ceil((args.streams - args.flood - 2) / per_round))
            phase = args.datagrams / args.rate
            interval = phase / rounds if rounds else 0.0
            verdicts: dict[str, int] = {}
            samples: list[dict[str, float]] = []
            progress = Progress(args.datagrams)
            began = time.monotonic()
            done = trio.Event()

            async def watch() -> None:
                while not done.is_set():
                    for peer in peers:
                        states = await trio.to_thread.run_sync(peer.states)
                        state = states.get("target", "missing")
                        verdicts[state] = verdicts.get(state, 0) + 1
                    await trio.sleep(WATCH_EVERY)

            async def sample() -> None:
                while not done.is_set():
                    node = await trio.to_thread.run_sync(lambda: target.stats()["node"])
                    samples.append({
                        "t": time.monotonic() - began,
                        "datagrams_sent": hostile.sent.datagrams,
                        "streams_sent": sum(hostile.sent.streams.values()),
                        "bad_packets": node["bad_packets"] - before["bad_packets"],
                        "bad_streams": node["bad_streams"] - before["bad_streams"],
                        "rss_kib": rss_kib(pid),
                    })  # fmt: skip
                    progress.update(hostile.sent.datagrams)
                    await trio.sleep(SAMPLE_EVERY)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(watch)
                nursery.start_soon(sample)
                async with trio.open_nursery() as hits:
                    hits.start_soon(hostile.datagrams, args.datagrams, args.rate)
                    hits.start_soon(hostile.streams, rounds, args.flood, args.hold, interval)
                await trio.sleep(AFTER)
                done.set()
            progress.stop()
            took = time.monotonic() - began
            after = target.stats()["node"]
            final_states = [p.states().get("target", "missing") for p in peers]
            log = target.process.log()
            return {
                "alive": target.process.alive(),
                "traceback": "Traceback" in log,
                "took": took,
                "sent": {
                    "datagrams": hostile.sent.datagrams,
                    "datagrams_bad": hostile.sent.datagrams_bad,
                    "streams": hostile.sent.streams,
                    "stream_errors": hostile.sent.stream_errors,
                },
                "received": after["packets_received"] - before["packets_received"],
                "bad_packets": after["bad_packets"] - before["bad_packets"],
                "bad_streams": after["bad_streams"] - before["bad_streams"],
                "reasons": after["bad_input_reasons"],
                "rss_before_kib": rss_before,
                "rss_after_kib": rss_kib(pid),
                "rss_peak_kib": max([s["rss_kib"] for s in samples] or [rss_before]),
                "cpu_seconds": cpu_seconds(pid) - cpu_before,
                "verdicts": verdicts,
                "final_states": final_states,
                "samples": samples,
            }
        finally:
            group.close()


def checks(args: argparse.Namespace, r: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    """(check, measured, bound, ok) rows from one attack's figures."""
    sent = r["sent"]
    lost = max(0, sent["datagrams"] - r["received"])
    lying = sum(sent["streams"].get(k, 0) for k in ("encrypt_length_lie",
                "pushpull_nodes_oversized", "pushpull_state_oversized"))  # fmt: skip
    growth = (r["rss_after_kib"] - r["rss_before_kib"]) / 1024
    seen = set(r["verdicts"])
    reasons = r["reasons"]
    bad_floor = sent["datagrams_bad"] - lost - int(sent["datagrams"] * 0.01)
    timed_out = reasons.get("stream: timed out", 0)
    return [
        ("agent running, no traceback", f"{r['alive']}, {not r['traceback']}", "True, True",
         r["alive"] and not r["traceback"]),
        ("peers' views of it while attacked", ", ".join(f"{k} {v}" for k, v in
         sorted(r["verdicts"].items())), "alive or suspect only",
         bool(seen) and seen <= {"alive", "suspect"}),
        ("peers' views after", ", ".join(r["final_states"]), "alive", set(r["final_states"])
         == {"alive"}),
        ("datagrams received / sent", f"{r['received']:,} / {sent['datagrams']:,}", ">= 80%",
         r["received"] >= 0.8 * sent["datagrams"]),
        ("bad datagrams counted / refused by our decoder",
         f"{r['bad_packets']:,} / {sent['datagrams_bad']:,}",
         ">= refused - lost - 1% of sent", r["bad_packets"] >= bad_floor),
        ("bad streams counted / lying streams sent", f"{r['bad_streams']:,} / {lying:,}",
         ">= lying", r["bad_streams"] >= lying),
        ("half-open streams timed out / held", f"{timed_out:,} / {args.flood:,}", ">= 90%",
         timed_out >= 0.9 * args.flood),
        ("refusals without a reason", str(reasons.get("other", 0)), "0", "other" not in reasons),
        ("RSS growth", f"{growth:.1f} MiB (peak {r['rss_peak_kib'] / 1024:.1f} MiB)",
         f"<= {args.rss_bound:g} MiB", growth <= args.rss_bound),
    ]  # fmt: skip


def plot(path: Path, r: dict[str, Any]) -> None:
    try:
        import matplotlib  # noqa: PLC0415

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        print("matplotlib is not installed: no PNG", file=sys.stderr)
        return
    s = r["samples"]
    if not s:
        return
    t = [x["t"] for x in s]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6), sharex=True, layout="constrained")
    top.plot(t, [x["datagrams_sent"] for x in s], label="datagrams sent")
    top.plot(t, [x["bad_packets"] for x in s], label="bad datagrams counted by the agent")
    top.plot(t, [x["streams_sent"] for x in s], label="hostile streams sent")
    top.plot(t, [x["bad_streams"] for x in s], label="bad streams counted by the agent")
    top.set_yscale("symlog")
    top.set_ylabel("count")
    top.legend(fontsize="small")
    top.set_title("hostile input against a live agent")
    bottom.plot(t, [x["rss_kib"] / 1024 for x in s], color="tab:red")
    bottom.set_ylabel("agent RSS (MiB)")
    bottom.set_xlabel("seconds since the attack began")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"(plot: {path.name})", file=sys.stderr)


def main() -> int:
    args = parse()
    import trio  # noqa: PLC0415

    logs = Path(tempfile.mkdtemp(prefix="tg-hostile-"))
    print(f"agent logs in {logs}", file=sys.stderr)
    r = trio.run(attack, args, logs)
    rows = checks(args, r)
    ok = all(row[3] for row in rows)
    plot(args.results / f"{args.name}.png", r)
    shown = [a for i, a in enumerate(sys.argv[1:])
             if not a.startswith("--results") and sys.argv[i] != "--results"]  # fmt: skip
    notes = [
        f"One `trio-gossip agent --profile {args.profile}` with two peers in a network"
        f" namespace; the attack took {r['took']:.0f} s and the agent used"
        f" {r['cpu_seconds']:.0f} CPU seconds over it. Streams by kind:"
        f" {json.dumps(r['sent']['streams'], sort_keys=True)}; connections refused or reset"
        f" (beyond the agent's backlog): {r['sent']['stream_errors']:,}.",
        "Refusals by reason: "
        + ", ".join(f"`{k}` {v:,}" for k, v in sorted(r["reasons"].items()))
        + ".",
        f"Overall: {'pass' if ok else 'FAIL'}.",
    ]
    write(
        args.name,
        "Hostile input against a live agent",
        ["check", "measured", "bound", "result"],
        [(c, m, b, "pass" if k else "FAIL") for c, m, b, k in rows],
        command=("python benchmarks/bench_hostile.py " + " ".join(shown)).strip(),
        notes=notes,
        results=args.results,
        extra={"figures": {k: v for k, v in r.items() if k != "samples"}, "samples": r["samples"]},
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
