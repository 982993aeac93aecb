"""Embedded trio_gossip nodes beside the Go peer: a recording delegate, views, polling.

Only trio_gossip's public names are used here (the package root), so the helpers keep working
whatever the library's internal layout.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import trio

from trio_gossip import BaseDelegate, MemberEvent, Memberlist

from .go_peer import GoPeer

T = TypeVar("T")

STATE_WORDS = {0: "alive", 1: "suspect", 2: "dead", 3: "left"}


class Inbox(BaseDelegate):
    """Records user messages and events; serves settable metadata."""

    def __init__(self, meta: bytes = b"") -> None:
        self.meta = meta
        self.messages: list[bytes] = []
        self.events: list[MemberEvent] = []

    def node_meta(self, limit: int) -> bytes:
        return self.meta

    def notify_msg(self, message: bytes) -> None:
        self.messages.append(bytes(message))

    def notify_event(self, event: MemberEvent) -> None:
        self.events.append(event)


async def run(fn: Callable[..., T], *args: Any) -> T:
    """A blocking call (the Go peer's control pipe, an agent's HTTP) off the Trio thread, so
    the embedded nodes keep answering probes meanwhile."""
    return await trio.to_thread.run_sync(fn, *args)


async def eventually(
    check: Callable[[], Awaitable[T | None]], timeout: float, what: str, interval: float = 0.1
) -> float:
    """Await ``check`` until it returns something truthy; the seconds it took, or an
    AssertionError after ``timeout`` naming what was awaited and the last value seen."""
    start = time.monotonic()
    last: object = None
    with trio.move_on_after(timeout):
        while True:
            last = await check()
            if last:
                return time.monotonic() - start
            await trio.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.1f}s waiting for {what}; last: {last!r}")


def trio_view(node: Memberlist, names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """``node``'s records of ``names`` (dead and left ones too, until reaped), shaped like the
    Go peer's member views: state, incarnation, meta (hex), addr, port."""
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        m = node.member(name)
        if m is not None:
            out[name] = {
                "state": STATE_WORDS[int(m.state)],
                "incarnation": m.incarnation,
                "meta": m.meta.hex(),
                "addr": m.host,
                "port": m.port,
            }
    return out


def trio_states(node: Memberlist, names: Iterable[str]) -> dict[str, str]:
    return {name: v["state"] for name, v in trio_view(node, names).items()}


async def all_views(
    gos: Iterable[GoPeer], trios: Iterable[Memberlist], names: Iterable[str]
) -> dict[str, dict[str, dict[str, Any]]]:
    """observer -> member -> view, for every Go node of ``gos`` and every trio node."""
    names = list(names)
    views: dict[str, dict[str, dict[str, Any]]] = {}
    for go in gos:
        for observer in go.names:
            views[observer] = await run(go.members, observer)
    for node in trios:
        views[node.local_member.name] = trio_view(node, names)
    return views


def disagreements(
    views: Mapping[str, Mapping[str, Mapping[str, Any]]],
    expected: Mapping[str, Mapping[str, Any]],
) -> list[str]:
    """Where an observer's view of a member differs from ``expected`` (member -> fields)."""
    out = []
    for observer, view in views.items():
        for name, fields in expected.items():
            got = view.get(name)
            if got is None:
                out.append(f"{observer} does not know {name}")
                continue
            for key, value in fields.items():
                if got.get(key) != value:
                    out.append(f"{observer} sees {name}.{key}={got.get(key)!r}, not {value!r}")
    return out


async def wait_views(
    gos: Iterable[GoPeer],
    trios: Iterable[Memberlist],
    expected: Mapping[str, Mapping[str, Any]],
    timeout: float,
    what: str,
) -> float:
    """Poll every view until all agree with ``expected``; the seconds it took."""
    gos, trios = list(gos), list(trios)
    problems: list[str] = []

    async def agreed() -> bool:
        nonlocal problems
        problems = disagreements(await all_views(gos, trios, expected), expected)
        return not problems

    try:
        return await eventually(agreed, timeout, what, interval=0.2)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n" + "\n".join(problems[:30])) from None


async def resend_until(
    send: Callable[[], Awaitable[object]],
    arrived: Callable[[], Awaitable[bool]],
    timeout: float,
    what: str,
    every: float = 0.5,
) -> float:
    """Best-effort delivery: ``send`` again every ``every`` seconds until ``arrived``."""
    start = time.monotonic()
    with trio.move_on_after(timeout):
        while True:
            await send()
            with trio.move_on_after(every):
                while not await arrived():
                    await trio.sleep(0.05)
                return time.monotonic() - start
    raise AssertionError(f"timed out after {timeout:.1f}s waiting for {what}")


class Observers:
    """Go nodes, embedded trio nodes and agents whose views of one member a test waits on.

    ``gos`` maps each Go peer to the node names observing (None: all its running nodes).
    States use memberlist's words: alive, suspect, dead, left, or "none" when unknown.
    """

    def __init__(
        self,
        gos: Mapping[GoPeer, Sequence[str] | None] | None = None,
        trios: Iterable[Memberlist] = (),
        agents: Iterable[Any] = (),
    ) -> None:
        self.gos = dict(gos or {})
        self.trios = list(trios)
        self.agents = list(agents)

    async def view(self, name: str, *, addresses: bool = False) -> dict[str, tuple[str, str, int]]:
        """observer -> (state, addr, port) of ``name``; addr and port only with ``addresses``
        (which costs a full member list per Go node)."""
        out: dict[str, tuple[str, str, int]] = {}
        for go, observers in self.gos.items():
            if addresses:
                for observer in observers or go.names:
                    m = (await run(go.members, observer)).get(name)
                    out[observer] = (m["state"], m["addr"], int(m["port"])) if m else _NONE
            else:
                census = await run(go.census, [name])
                for observer in observers or census:
                    out[observer] = (census[observer]["states"][name], "", 0)
        for node in self.trios:
            v = trio_view(node, [name]).get(name)
            out[node.local_member.name] = (v["state"], v["addr"], v["port"]) if v else _NONE
        for agent in self.agents:
            m = (await run(agent.members)).get(name)
            if m is None:
                out[agent.name] = _NONE
            else:
                word = "dead" if m["state"] == "failed" else m["state"]
                out[agent.name] = (word, m["addr"], int(m["port"]))
        return out

    async def wait(
        self,
        name: str,
        state: str,
        timeout: float,
        *,
        address: tuple[str, int] | None = None,
    ) -> float:
        """Until every observer sees ``name`` in ``state`` (at ``address`` if given); the
        seconds it took. A failure or departure is seen once and for all: an observer may
        reap the member (gossip_to_the_dead_time) before a slower one has marked it, so an
        observer that showed "dead" or "left" once counts as having seen it."""
        last: dict[str, tuple[str, str, int]] = {}
        seen: set[str] = set()
        final = state in ("dead", "left")

        async def everyone() -> bool:
            nonlocal last
            last = await self.view(name, addresses=address is not None)
            now = {observer for observer, (s, a, p) in last.items()
                   if s == state and (address is None or (a, p) == address)}  # fmt: skip
            if final:
                seen.update(now)
                now = seen
            return all(observer in now for observer in last)

        try:
            return await eventually(everyone, timeout, f"everyone to see {name} {state}", 0.2)
        except AssertionError as exc:
            wrong = {
                k: v
                for k, v in last.items()
                if k not in seen and (v[0] != state or (address is not None and v[1:] != address))
            }
            raise AssertionError(f"{exc}\nnot there yet: {wrong}") from None


_NONE = ("none", "", 0)
