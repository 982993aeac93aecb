"""For interop tests that run a trio_gossip agent in-process: blocking calls (Serf RPC,
subprocesses) go to a worker thread so the node keeps answering probes meanwhile."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import trio

from trio_gossip.apps.agent.options import AgentOptions

T = TypeVar("T")


async def in_thread(fn: Callable[..., T], *args: object) -> T:
    return await trio.to_thread.run_sync(fn, *args)


async def eventually(
    check: Callable[[], Awaitable[T | None]], timeout: float, what: str, interval: float = 0.05
) -> T:
    """Await ``check`` until it returns something truthy; AssertionError after ``timeout``."""
    last: object = None
    with trio.move_on_after(timeout):
        while True:
            last = await check()
            if last:
                return last
            await trio.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.1f}s waiting for {what}; last: {last!r}")


def options(name: str, bind: tuple[str, int], **kw: object) -> AgentOptions:
    return AgentOptions(name=name, bind=bind, **kw)  # type: ignore[arg-type]
