"""Draw docs/memberlist-page.png and docs/ring-page.png: three agents in a ring on loopback,
their status pages photographed by headless Chromium (the system's ``chromium``).

    python docs/screenshots.py [--out DIR]

The README shows the two files; tests/test_docs_screenshots.py runs this into a scratch
directory, so the pictures can always be made again from the code as it stands.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from contextlib import AsyncExitStack
from pathlib import Path

import trio

from trio_gossip.apps.agent.options import AgentOptions
from trio_gossip.apps.agent.runner import Agent, open_agent

NAMES = ("ingester-a", "ingester-b", "ingester-c")
ZONES = ("zone-1", "zone-2", "zone-3")
LOOPBACK = ("127.0.0.1", 0)
WINDOWS = {"memberlist": "--window-size=1280,1100", "ring": "--window-size=1280,480"}
BROWSER_TIMEOUT = 60.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent,
                        help="where the two PNG files go (default: this docs/ folder)")  # fmt: skip
    parser.add_argument("--chromium", default=shutil.which("chromium") or "chromium",
                        help="the browser binary (default: chromium on PATH)")  # fmt: skip
    return parser.parse_args(argv)


async def _settled(agents: list[Agent]) -> None:
    """Every agent lists every member and sees every instance ACTIVE in the ring, and the
    first one has message history both ways."""

    def ready() -> bool:
        for agent in agents:
            ring = agent.kv.get("ring") if agent.kv is not None else None
            if agent.node.num_members() != len(agents) or ring is None:
                return False
            if sorted(d.id for d in ring.live() if d.state.name == "ACTIVE") != sorted(NAMES):
                return False
        history = agents[0].history
        return history is not None and len(history.sent) > 0 and len(history.received) > 0

    with trio.fail_after(60):
        while not ready():
            await trio.sleep(0.1)


async def _photograph(chromium: str, url: str, path: Path, window: str) -> None:
    with tempfile.TemporaryDirectory() as profile, trio.fail_after(BROWSER_TIMEOUT):
        done = await trio.run_process(
            [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--hide-scrollbars", f"--user-data-dir={profile}", window, f"--screenshot={path}",
             url],
            capture_stdout=True, capture_stderr=True, check=False,
        )  # fmt: skip
    if done.returncode != 0 or not path.exists():
        tail = done.stderr.decode(errors="replace")[-500:]
        raise SystemExit(f"chromium could not photograph {url}: {tail}")


async def main(args: argparse.Namespace) -> list[Path]:
    args.out.mkdir(parents=True, exist_ok=True)
    async with AsyncExitStack() as stack:
        agents: list[Agent] = []
        for i, (name, zone) in enumerate(zip(NAMES, ZONES, strict=True)):
            opts = AgentOptions(name=name, bind=LOOPBACK, http=LOOPBACK if i == 0 else None,
                                profile="local", ring="ring", ring_zone=zone,
                                tags=(("role", "ingester"),),
                                message_history_buffer_bytes=65536 if i == 0 else 0)  # fmt: skip
            agents.append(await stack.enter_async_context(open_agent(opts)))
        seed = "{}:{}".format(*agents[0].node.local_member.address)
        for agent in agents[1:]:
            await agent.join([seed])
        await _settled(agents)
        address = agents[0].http_address
        assert address is not None
        written = []
        for page in ("memberlist", "ring"):
            path = args.out / f"{page}-page.png"
            print(f"photographing /{page} -> {path}", flush=True)
            url = f"http://127.0.0.1:{address[1]}/{page}"
            await _photograph(args.chromium, url, path, WINDOWS[page])
            written.append(path)
    return written


if __name__ == "__main__":
    options = parse_args()
    paths = trio.run(main, options)
    print("\n".join(str(p) for p in paths))
    sys.exit(0)
