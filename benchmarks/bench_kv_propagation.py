"""KV propagation benchmark: how long a ring change takes to reach every node.

Run from the repository root: ``python benchmarks/bench_kv_propagation.py`` (N = 100
with 0% and 10% loss, N = 1,000 loss-free). Slow: the four N = 100 runs take under a minute,
each N = 1,000 run 5 to 8 minutes on a busy 2-core machine (15 minutes in all, nearly all of
it simulating 1,000 memberlist nodes); ``--skip-big`` skips N = 1,000;
``--quick`` runs N = 30 only (seconds). With push/pull off a node can lack a member for good
(nothing repairs a join gossip missed), so the wait for complete views is bounded and the
table says how many views were complete. Writes benchmarks/results/kv_propagation.json, .md
and .png (time until every node has the change, per run, against the bound) and prints the
markdown table; ``--results DIR`` writes elsewhere.

Each run simulates N nodes (memberlist defaults: gossip to 3 nodes every 200 ms, push/pull
every 30 s scaled with N) on a MemoryNetwork under the mock clock, each with a KV store
as its delegate and no lifecyclers, so nothing else writes. Once membership has
converged and a ring of 10 instances is everywhere, one node makes a change (a new
instance with 128 tokens, about 650 bytes on the wire) and every node records when its
copy shows it. Then another node marks an instance LEAVING (a change of one record).
"Reach" is the time until the last node has it; the bound is the epidemic estimate
``log_{f+1}(N) + ln(N) / f`` gossip rounds (f = fanout) used across this project.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import trio
import trio.testing
from report import plot_bars, progress

from trio_gossip.apps.sim.ring_cluster import ring_cluster, seed_trio
from trio_gossip.core.config import Config
from trio_gossip.core.ring import InstanceDesc, InstanceState, Ring, random_tokens
from trio_gossip.shell.kv.store import KVStore
from trio_gossip.transport.memory import LinkConfig, MemoryNetwork

RESULTS = Path(__file__).resolve().parent / "results"
TIMEOUT = 120.0  # simulated seconds a change may take before the run reports a miss


def epidemic_rounds(n: int, fanout: int) -> float:
    return math.log(n, fanout + 1) + math.log(n) / fanout


async def _reach(
    kvs: list[KVStore], seen: Callable[[Ring], bool], change: Callable[[], Any]
) -> list[float]:
    """Make `change`, then the delay until each node's ring satisfies `seen` (inf: never,
    within TIMEOUT)."""
    delays = [math.inf] * len(kvs)
    start = trio.current_time()

    async def watch(i: int) -> None:
        with kvs[i].watch_key("ring") as updates:
            async for ring in updates:
                if ring is not None and seen(ring):
                    delays[i] = trio.current_time() - start
                    return

    with trio.move_on_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            for i in range(len(kvs)):
                nursery.start_soon(watch, i)
            await change()
    return delays


async def _run(n: int, push_pull: bool, loss: float, seed: int) -> dict[str, Any]:
    seed_trio(seed)
    rng = random.Random(seed)
    net = MemoryNetwork(seed=seed, default_link=LinkConfig(loss=loss))
    config = Config.lan(name="bench", push_pull_interval=30.0 if push_pull else 0.0)
    result: dict[str, Any] = {}
    async with ring_cluster(net, n, config=config, seed=seed, join_random=True) as ring_nodes:
        kvs = [ring_node.kv for ring_node in ring_nodes]
        nodes = [kv.node for kv in kvs]
        started = trio.current_time()
        # Without push/pull nothing repairs a join that gossip missed (memberlist has no other
        # anti-entropy): a node may lack a member for good, so the wait is bounded, and the
        # run goes on with the views it has (the KV store gossips to the members it knows).
        with trio.move_on_after(TIMEOUT):
            while not all(node.num_members() == n for node in nodes):
                await trio.sleep(0.5)
        complete = sum(node.num_members() == n for node in nodes)
        result["views_complete"] = complete
        result["membership_converged_s"] = (
            round(trio.current_time() - started, 1) if complete == n else None
        )

        # A ring of ten instances everywhere, written by node 0 before anything is timed.
        now = kvs[0].now()
        base = Ring()
        for i in range(10):
            tokens = random_tokens(128, rng, base.taken_tokens())
            base = base.put(
                InstanceDesc(
                    id=f"i{i}", addr=f"10.1.0.{i}:9095", state=InstanceState.ACTIVE, tokens=tokens
                ),
                now=now,
            )
        await kvs[0].cas("ring", lambda _: base, codec="ring")
        setup = await _reach(kvs, lambda r: len(r.instances) == 10, trio.lowlevel.checkpoint)
        result["setup_reached"] = sum(math.isfinite(d) for d in setup)
        await trio.sleep(5.0)  # let queues drain: the timed changes travel alone

        writer, other = kvs[rng.randrange(n)], kvs[rng.randrange(n)]
        tokens = random_tokens(128, rng, base.taken_tokens())
        newcomer = InstanceDesc(id="new", addr="10.2.0.1:9095", state=InstanceState.ACTIVE,
                                tokens=tokens)  # fmt: skip

        async def register() -> None:
            await writer.cas("ring", lambda r: r.put(newcomer, now=writer.now()))

        async def retire() -> None:
            await other.cas(
                "ring",
                lambda r: r.put(
                    attrs.evolve(r.instances["i3"], state=InstanceState.LEAVING), now=other.now()
                ),
            )

        changes = {
            "register (128 tokens)": await _reach(kvs, lambda r: "new" in r.instances, register),
        }
        await trio.sleep(5.0)
        changes["state change"] = await _reach(
            kvs, lambda r: r.instances["i3"].state is InstanceState.LEAVING, retire
        )
        result["changes"] = changes
        result["kv"] = attrs.asdict(kvs[0].statistics())
    return result


def simulate(n: int, push_pull: bool, loss: float, seed: int) -> dict[str, Any]:
    clock = trio.testing.MockClock(autojump_threshold=0)
    wall = time.perf_counter()
    result = trio.run(_run, n, push_pull, loss, seed, clock=clock)
    result["wall_s"] = round(time.perf_counter() - wall, 1)
    return result


def summarize(
    n: int, push_pull: bool, loss: float, seed: int, run: dict[str, Any]
) -> list[dict[str, Any]]:
    gossip_interval, fanout = 0.2, 3
    bound = epidemic_rounds(n, fanout) * gossip_interval
    rows = []
    for change, delays in run["changes"].items():
        reached = [d for d in delays if math.isfinite(d)]
        rows.append({
            "n": n, "push_pull": push_pull, "loss": loss, "seed": seed, "change": change,
            "views_complete": run["views_complete"], "reached": len(reached),
            "p50_s": round(statistics.median(reached), 3) if reached else None,
            "p90_s": round(sorted(reached)[int(0.9 * (len(reached) - 1))], 3) if reached else None,
            "all_s": round(max(delays), 3) if len(reached) == n else None,
            "bound_s": round(bound, 3),
            "rounds": round(max(delays) / gossip_interval, 1) if len(reached) == n else None,
            "bound_rounds": round(epidemic_rounds(n, fanout), 2),
            "wall_s": run["wall_s"],
        })  # fmt: skip
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    head = ("| N | push/pull | loss | complete views | change | reached | p50 s | p90 s | all s"
            " | rounds | bound s (rounds) | wall s |")  # fmt: skip
    lines = [head, "|" + "---|" * 12]
    for r in rows:
        lines.append(
            f"| {r['n']} | {'on' if r['push_pull'] else 'off'} | {r['loss']:.0%} "
            f"| {r['views_complete']}/{r['n']} | {r['change']} "
            f"| {r['reached']}/{r['n']} | {r['p50_s']} | {r['p90_s']} | {r['all_s']} "
            f"| {r['rounds']} | {r['bound_s']} ({r['bound_rounds']}) | {r['wall_s']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--skip-big", action="store_true", help="N = 100 only")
    parser.add_argument("--quick", action="store_true", help="N = 30 only")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the files go")
    args = parser.parse_args(argv)
    results: Path = args.results
    # (N, packet loss): loss shows what push/pull adds; at N = 1,000 one loss-free run each.
    matrix = [(100, 0.0), (100, 0.1)] + ([] if args.skip_big else [(1000, 0.0)])
    if args.quick:
        matrix = [(30, 0.0), (30, 0.1)]
    plan = [(n, loss, push_pull) for n, loss in matrix for push_pull in (True, False)]
    rows: list[dict[str, Any]] = []
    for n, loss, push_pull in progress(plan, "propagation runs"):
        run = simulate(n, push_pull, loss, args.seed)
        rows.extend(summarize(n, push_pull, loss, args.seed, run))
        converged = run["membership_converged_s"]
        views = (f"membership converged after {converged} s simulated" if converged is not None
                 else f"{n - run['views_complete']} of {n} views still incomplete after"
                      f" {TIMEOUT:.0f} s simulated (no push/pull repairs a missed join)")
        print(f"N={n} loss={loss:.0%} push/pull={'on' if push_pull else 'off'}: "
              f"{run['wall_s']} s wall, {views}", file=sys.stderr)  # fmt: skip
    table = markdown(rows)
    results.mkdir(parents=True, exist_ok=True)
    command = " ".join(["python benchmarks/bench_kv_propagation.py", *(argv or sys.argv[1:])])
    meta = {"python": platform.python_version(), "machine": platform.machine(), "command": command}
    (results / "kv_propagation.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    (results / "kv_propagation.md").write_text(
        "# KV propagation: time for a ring change to reach every node\n\n"
        f"Command: `{meta['command'].strip()}`\n\n{table}\n"
    )
    print(table)
    runs = list(dict.fromkeys((r["n"], r["loss"], r["push_pull"]) for r in rows))
    reach = {(r["n"], r["loss"], r["push_pull"], r["change"]): r["all_s"] for r in rows}
    plot_bars(
        results / "kv_propagation.png",
        [f"N={n}, loss {loss:.0%}, push/pull {'on' if pp else 'off'}" for n, loss, pp in runs],
        {
            change: [reach.get((*run, change)) for run in runs]
            for change in dict.fromkeys(r["change"] for r in rows)
        },
        title="KV propagation: simulated seconds until every node has the change",
        value_label="seconds (missing bar: some node never got it)",
        refs={f"bound, N={n}": b for n, b in {r["n"]: r["bound_s"] for r in rows}.items()},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
