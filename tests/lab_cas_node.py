"""One host of the chaos lab's CAS scenario (tests/lab_support.py ``cas``): a KV node with the
ring codec, written only with the public API, as an application embeds it.

It joins, logs member events as the agent does (the lab reads them), waits until the ``--go``
file exists, then makes ``--writes`` CAS updates of the ring key, each adding one token to its
own instance, so that every update leaves a mark that a lost update would erase. Its view of
the ring goes to ``--out`` (JSON, replaced atomically) twice a second until it is killed.

    python tests/lab_cas_node.py --name h01 --bind 10.0.0.11:7946 --join 10.0.0.10:7946 \\
        --go GO_FILE --out h01.json --writes 100 --pace 0.3
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
from pathlib import Path

import attrs
import trio

from trio_gossip import (
    RING_CODEC,
    Config,
    InstanceDesc,
    InstanceState,
    JoinError,
    KVStore,
    Ring,
    open_kv,
)
from trio_gossip.apps.agent.log_setup import setup_logging
from trio_gossip.apps.agent.runner import log_event

log = logging.getLogger("trio_gossip.lab.cas")

KEY = "ring"
TOKEN_BASE = 1_000_000  # instance i writes tokens i * TOKEN_BASE + k: disjoint, never in conflict
REPORT_EVERY = 0.5
PRESETS = {"lan": Config.lan, "wan": Config.wan, "local": Config.local}


def token(index: int, k: int) -> int:
    return index * TOKEN_BASE + k


def view(kv: KVStore) -> dict[str, list[int]]:
    ring = kv.get(KEY)
    if not isinstance(ring, Ring):
        return {}
    return {i: sorted(d.tokens) for i, d in sorted(ring.instances.items()) if not d.is_tombstone}


async def write(kv: KVStore, name: str, index: int, k: int) -> None:
    now = kv.now()

    def add_token(current: Ring | None) -> Ring:
        ring = current if current is not None else Ring()
        mine = ring.instance(name) or InstanceDesc(name, addr=f"{name}:9095",
                                                   state=InstanceState.ACTIVE)  # fmt: skip
        return ring.put(attrs.evolve(mine, tokens=(*mine.tokens, token(index, k))), now=now)

    await kv.cas(KEY, add_token, codec=RING_CODEC.id)


def report(out: Path, name: str, done: int, kv: KVStore) -> None:
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps({"name": name, "done": done, "ring": view(kv)}))
    os.replace(tmp, out)


async def main(args: argparse.Namespace) -> None:
    host, port = args.bind.rsplit(":", 1)
    config = PRESETS[args.profile](name=args.name, bind_addr=host, bind_port=int(port),
                                   reconnect_interval=args.reconnect_interval)  # fmt: skip
    index = int(args.name.lstrip("h"))
    rng = random.Random(args.name)
    done = 0
    async with open_kv(config, codecs=[RING_CODEC]) as kv, trio.open_nursery() as nursery:

        async def events() -> None:
            async for event in kv.node.events(replay=False):
                log_event(event)

        async def reports() -> None:
            while True:
                report(args.out, args.name, done, kv)
                await trio.sleep(REPORT_EVERY)

        nursery.start_soon(events)
        for attempt in range(20):
            try:
                if not args.join or await kv.node.join(args.join):
                    break
            except JoinError as e:  # retried, then fatal
                if attempt == 19:
                    raise
                log.info("join failed (%s), retrying", e)
            await trio.sleep(0.5)
        log.info("agent %s running", args.name)
        nursery.start_soon(reports)
        while not args.go.exists():
            await trio.sleep(0.05)
        for k in range(args.writes):
            await write(kv, args.name, index, k)
            done = k + 1
            await trio.sleep(args.pace * rng.uniform(0.5, 1.5))
        log.info("cas %s: %d writes done", args.name, done)
        report(args.out, args.name, done, kv)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--name", required=True, help="node and instance name, h<index>")
    p.add_argument("--bind", required=True, help="HOST:PORT to gossip on")
    p.add_argument("--join", action="append", default=[], help="HOST:PORT to join (repeat)")
    p.add_argument("--profile", choices=sorted(PRESETS), default="lan")
    p.add_argument("--reconnect-interval", type=float, default=30.0)
    p.add_argument("--go", type=Path, required=True, help="start writing once this file exists")
    p.add_argument("--out", type=Path, required=True, help="where the view of the ring goes")
    p.add_argument("--writes", type=int, default=100)
    p.add_argument("--pace", type=float, default=0.3, help="mean seconds between writes")
    return p.parse_args(argv)


if __name__ == "__main__":
    setup_logging("info", "json")
    trio.run(main, parse())
