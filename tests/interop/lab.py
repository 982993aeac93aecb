"""A test's little lab: Serf agents and trio_gossip agents on loopback, all cleaned up after."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from trio_gossip.core.config import Config
from trio_gossip.core.membership.suspicion import confirmations_wanted, suspicion_timeout

from .procs import ProcessGroup, free_port, loopback_block, require, wait_until
from .serf import SerfAgent, SerfRPC
from .trio_agent import TrioAgent


class Lab:
    """Hands out loopback addresses (127.x.y.N, or 127.0.0.N inside a namespace) and starts
    agents on them; ``close`` kills every process it started."""

    def __init__(self, log_dir: Path, netns: str | None = None) -> None:
        self.log_dir = log_dir
        self.netns = netns
        self.block = "127.0.0" if netns else loopback_block()
        self._hosts = itertools.count(2)
        self.group = ProcessGroup()
        self.serfs: dict[str, SerfAgent] = {}
        self.trios: dict[str, TrioAgent] = {}
        print(f"interop logs in {log_dir}")

    def address(self) -> tuple[str, int]:
        host = f"{self.block}.{next(self._hosts)}"
        return host, free_port(host, netns=self.netns)

    def serf(
        self,
        name: str,
        *,
        tags: Mapping[str, str] | None = None,
        key: bytes | None = None,
        wait: bool = True,
    ) -> SerfAgent:
        bind = self.address()
        agent = SerfAgent(
            name,
            bind,
            (bind[0], free_port(bind[0], netns=self.netns)),
            self.log_dir,
            tags=tags,
            key=key,
            netns=self.netns,
        )
        self.group.add(agent.process)
        self.serfs[name] = agent
        if wait:
            agent.wait_ready()
        return agent

    def trio(
        self,
        name: str,
        *,
        join: Sequence[str] = (),
        keys: Sequence[bytes] = (),
        tags: Mapping[str, str] | None = None,
        wait: bool = True,
    ) -> TrioAgent:
        bind = self.address()
        agent = TrioAgent(
            name,
            bind,
            (bind[0], free_port(bind[0], netns=self.netns)),
            self.log_dir,
            join=join,
            keys=keys,
            tags=tags,
            netns=self.netns,
        )
        self.group.add(agent.process)
        self.trios[name] = agent
        if wait:
            agent.wait_ready()
        return agent

    def views(self) -> dict[str, dict[str, str]]:
        """Every running agent's view: observer -> {member: status}."""
        out: dict[str, dict[str, str]] = {}
        for name, serf in self.serfs.items():
            if serf.process.alive():
                out[name] = serf.statuses()
        for name, trio in self.trios.items():
            if trio.process.alive():
                out[name] = trio.statuses()
        return out

    def wait_views(self, expected: Mapping[str, str], timeout: float, what: str) -> float:
        """Wait until every running agent reports ``expected`` (member -> status; Serf's
        ``alive`` and our ``alive``/``suspect`` both count as alive); returns the seconds it
        took."""
        start = time.monotonic()

        def agreed() -> bool:
            return all(_matches(view, expected) for view in self.views().values())

        try:
            wait_until(agreed, timeout, interval=0.05, what=what)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nviews: {self.views()}") from None
        return time.monotonic() - start

    def close(self) -> None:
        for serf in self.serfs.values():
            serf.drop_rpc()
        self.group.close()


def _matches(view: Mapping[str, str], expected: Mapping[str, str]) -> bool:
    for name, status in expected.items():
        got = view.get(name)
        if status == "alive":
            if got not in ("alive", "suspect"):
                return False
        elif got != status:
            return False
    return True


def open_lab(tmp_path: Path) -> Iterator[Lab]:
    """The body of a test module's ``lab`` fixture: ``yield from open_lab(tmp_path)``."""
    require("serf")
    lab = Lab(tmp_path)
    try:
        yield lab
    finally:
        lab.close()


def alive(*names: str) -> dict[str, str]:
    return dict.fromkeys(names, "alive")


def tags_of(view: Mapping[str, Any]) -> dict[str, str]:
    return dict(view.get("Tags") or view.get("tags") or {})


def detection_bound(n: int, profile: str = "lan") -> float:
    """Kill -9 to "failed" everywhere, from memberlist's formula for a cluster of ``n``.

    The round-robin walk reaches the victim within n probe intervals (start-up stagger
    included), one probe round follows (direct, indirect and TCP attempts), then the
    suspicion timeout: its minimum when the cluster is too small for confirmations, else the
    maximum (the worst case, with no confirmation). Then ten gossip intervals for the verdict
    to spread, and half a second for process scheduling and polling.
    """
    config = {"lan": Config.lan, "wan": Config.wan, "local": Config.local}[profile]()
    low = suspicion_timeout(config.suspicion_mult, n, config.probe_interval)
    k = confirmations_wanted(config.suspicion_mult, n)
    timeout = low if k == 0 else config.suspicion_max_timeout_mult * low
    return (n + 1) * config.probe_interval + timeout + 10 * config.gossip_interval + 0.5


class Watch:
    """Polls every agent's view in a thread and records any moment a member looked lost.

    Uses its own RPC connections so the test can keep using the agents' clients meanwhile.
    """

    def __init__(self, lab: Lab, names: Sequence[str]) -> None:
        self.names = set(names)
        self.lost: list[tuple[str, dict[str, str]]] = []
        self.polls = 0
        self._serfs = {n: SerfRPC(s.rpc_address, s.netns) for n, s in lab.serfs.items()}
        self._trios = dict(lab.trios)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            views = {
                n: {m: v["Status"] for m, v in rpc.members().items()}
                for n, rpc in self._serfs.items()
            }
            views |= {n: t.statuses() for n, t in self._trios.items()}
            self.polls += 1
            for observer, view in views.items():
                if not _matches(view, alive(*self.names)):
                    self.lost.append((observer, view))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        for rpc in self._serfs.values():
            rpc.close()
