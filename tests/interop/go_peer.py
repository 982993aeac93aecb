"""The Go memberlist v0.7.0 test peer (tests/peers/memberlist): build it, start it, drive it.

One ``GoPeer`` is one process running ``count`` memberlist nodes named ``<prefix><i>``. It is
driven by JSON lines on its stdin and answers on its stdout (see main.go); a reader thread
sorts answers from events. ``close`` asks it to exit and kills it if it does not, so a test
that wraps its peers in ``go_peers`` leaves no process behind, whatever happens.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import math
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from trio_gossip import Config

from .procs import REQUIRE_ENV, in_netns, wait_until

PEERS = Path(__file__).resolve().parents[1] / "peers"
PEER_NAME = "memberlist"
BINARY = PEERS / "bin" / PEER_NAME

_build_lock = threading.Lock()
_serials = itertools.count(1)  # tells apart the logs of peers started with the same prefix


def go_binary() -> Path:
    """The built peer, (re)built once per session with tests/peers/build.sh when a source is
    newer. Without Go the test skips, or fails when TRIO_GOSSIP_REQUIRE_INTEROP=1; a failed
    build (e.g. the module proxy refusing a module) always fails, with Go's error."""
    with _build_lock:
        return _build()


@functools.cache
def _build() -> Path:
    sources = [p for p in (PEERS / PEER_NAME).iterdir() if p.suffix in (".go", ".mod", ".sum")]
    built = BINARY.stat().st_mtime if BINARY.exists() else None
    if built is not None and all(p.stat().st_mtime <= built for p in sources):
        return BINARY
    if shutil.which("go") is None:
        message = "go not found on PATH: the Go interop peer needs Go 1.25 or newer"
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{message} ({REQUIRE_ENV}=1)")
        pytest.skip(message)
    argv = ["bash", str(PEERS / "build.sh"), PEER_NAME]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.fail(f"building the Go peer failed:\n{done.stdout}\n{done.stderr}")
    return BINARY


# ---- timing shared by both sides --------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    """memberlist timers given to Go (as flags) and to trio_gossip (as Config) alike.

    ``None`` keeps the profile's value (memberlist's DefaultLANConfig / DefaultLocalConfig,
    which Config.lan / Config.local equal).
    """

    profile: str = "local"
    probe_interval: float | None = None
    probe_timeout: float | None = None
    gossip_interval: float | None = None
    suspicion_mult: int | None = None
    retransmit_mult: int | None = None
    push_pull_interval: float | None = None
    gossip_to_the_dead_time: float | None = None
    dead_node_reclaim_time: float = 0.0

    def go_flags(self) -> list[str]:
        flags = ["-profile", self.profile]
        durations = {
            "-probe-interval": self.probe_interval,
            "-probe-timeout": self.probe_timeout,
            "-gossip-interval": self.gossip_interval,
            "-push-pull-interval": self.push_pull_interval,
            "-gossip-to-the-dead": self.gossip_to_the_dead_time,
            "-dead-node-reclaim": self.dead_node_reclaim_time or None,
        }
        for flag, seconds in durations.items():
            if seconds is not None:
                flags += [flag, f"{seconds}s"]
        if self.suspicion_mult is not None:
            flags += ["-suspicion-mult", str(self.suspicion_mult)]
        if self.retransmit_mult is not None:
            flags += ["-retransmit-mult", str(self.retransmit_mult)]
        return flags

    def config(self, **overrides: Any) -> Config:
        """A trio_gossip Config with these timers (and any other field overridden)."""
        preset = {"lan": Config.lan, "local": Config.local}[self.profile]
        timers = {
            "probe_interval": self.probe_interval,
            "probe_timeout": self.probe_timeout,
            "gossip_interval": self.gossip_interval,
            "suspicion_mult": self.suspicion_mult,
            "retransmit_mult": self.retransmit_mult,
            "push_pull_interval": self.push_pull_interval,
            "gossip_to_the_dead_time": self.gossip_to_the_dead_time,
            "dead_node_reclaim_time": self.dead_node_reclaim_time,
        }
        return preset(**{k: v for k, v in timers.items() if v is not None}, **overrides)


def suspicion_timeout(config: Config, n: int) -> float:
    """memberlist's suspicionTimeout (util.go): mult x max(1, log10(n)) x probe interval."""
    scale = max(1.0, math.log10(max(1.0, float(n))))
    return config.suspicion_mult * scale * config.probe_interval


def detection_bound(config: Config, n: int, *, probe_rounds: int | None = None) -> float:
    """Kill -9 to dead everywhere, by memberlist's rules, for a cluster of ``n`` (victim in).

    The victim is probed within ``probe_rounds`` probe intervals (round-robin: at most n; a
    big cluster, where some member probes it every interval, may pass fewer). The probe
    round adds the probe timeout and the indirect and TCP attempts (one more interval). Then
    suspicion: its minimum when the cluster is too small for confirmations (n - 2 < mult - 2,
    state.go suspectNode), else the maximum, the worst case where none arrive. Then ten gossip
    intervals for the verdict to spread, and a second for process scheduling and polling.
    """
    low = suspicion_timeout(config, n)
    k = config.suspicion_mult - 2
    timeout = low if n - 2 < k or k < 1 else config.suspicion_max_timeout_mult * low
    rounds = n if probe_rounds is None else probe_rounds
    interval = config.probe_interval
    return (
        (rounds + 1) * interval + config.probe_timeout + timeout + 10 * config.gossip_interval + 1.0
    )


# ---- the process ------------------------------------------------------------------------------


class GoError(Exception):
    """A control command the Go peer answered with an error."""


@dataclass
class GoOptions:
    """The peer's flags (main.go); see ``Timing`` for the timers."""

    count: int = 1
    prefix: str = "go-"
    bind: str = "127.0.0.1"
    base_port: int = 0
    join: Sequence[str] = ()
    keys: Sequence[str] = ()  # base64
    label: str = ""
    skip_inbound_label_check: bool = False
    compression: bool = True
    meta: str = ""
    user_state: str = ""
    protocol_version: int | None = None
    delegate_version: tuple[int, int, int] = (0, 0, 0)
    timing: Timing = field(default_factory=Timing)
    udp_buffer_size: int = 0  # memberlist's UDPBufferSize, the gossip packet budget (0: 1400)
    capture: Path | None = None
    capture_nodes: int = 0  # capture only the first this many nodes (0: all)
    quiet: bool = False
    extra: Sequence[str] = ()

    def argv(self, binary: Path) -> list[str]:
        argv = [str(binary), "-count", str(self.count), "-name-prefix", self.prefix]
        argv += ["-bind", self.bind, "-base-port", str(self.base_port)]
        for address in self.join:
            argv += ["-join", address]
        for key in self.keys:
            argv += ["-key", key]
        if self.label:
            argv += ["-label", self.label]
        if self.skip_inbound_label_check:
            argv.append("-skip-inbound-label-check")
        argv += ["-compression", "on" if self.compression else "off"]
        if self.meta:
            argv += ["-meta", self.meta]
        if self.user_state:
            argv += ["-user-state", self.user_state]
        if self.protocol_version is not None:
            argv += ["-protocol-version", str(self.protocol_version)]
        argv += ["-delegate-version", ",".join(map(str, self.delegate_version))]
        argv += self.timing.go_flags()
        if self.udp_buffer_size:
            argv += ["-udp-buffer-size", str(self.udp_buffer_size)]
        if self.capture is not None:
            argv += ["-capture", str(self.capture), "-capture-nodes", str(self.capture_nodes)]
        if self.quiet:
            argv.append("-quiet")
        return [*argv, *self.extra]


class GoPeer:
    """A running Go peer process; every method is a blocking round trip on its control pipe
    (call it through ``trio.to_thread.run_sync`` from Trio code)."""

    def __init__(
        self,
        options: GoOptions,
        log_dir: Path,
        *,
        netns: str | None = None,
        ready_timeout: float | None = None,
    ) -> None:
        self.options = options
        self.netns = netns
        serial = next(_serials)
        self.log_path = log_dir / f"go-{options.prefix.rstrip('-')}-{os.getpid()}-{serial}.log"
        self._log = self.log_path.open("wb")
        self._ids = itertools.count(1)
        self._lock = threading.Condition()
        self._answers: dict[int, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.ready: dict[str, Any] | None = None
        self._closed = False
        argv = in_netns(netns, options.argv(go_binary()))
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if ready_timeout is None:
            # Joining is one push/pull per node, but a big process also weathers its own join
            # storm meanwhile; allow for a slow, shared machine.
            ready_timeout = 20.0 + 0.5 * options.count
        try:
            wait_until(
                lambda: self.ready or self._check_running(),
                ready_timeout,
                what=f"Go peer {options.prefix}* ready",
            )
        except BaseException:
            self.close()
            raise
        assert self.ready is not None
        self.nodes: dict[str, tuple[str, int]] = {
            n["name"]: (n["addr"], int(n["port"])) for n in self.ready["nodes"]
        }
        self.join_errors: dict[str, str] = dict(self.ready.get("join_errors") or {})

    # ---- plumbing ------------------------------------------------------------------------------

    def _check_running(self) -> None:
        if self.proc.poll() is not None:
            raise AssertionError(f"Go peer exited with {self.proc.returncode}:\n{self.log()}")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            with self._lock:
                if "id" in line:
                    self._answers[int(line["id"])] = line
                elif line.get("event") == "ready":
                    self.ready = line
                else:
                    self.events.append(line)
                self._lock.notify_all()
        with self._lock:
            self._closed = True
            self._lock.notify_all()

    def call(self, cmd: str, *, wait: float = 15.0, **args: Any) -> Any:
        """Send one command and wait for its answer; GoError if the peer refused it."""
        ident = next(self._ids)
        line = json.dumps({"id": ident, "cmd": cmd, **args}) + "\n"
        assert self.proc.stdin is not None
        with self._lock:
            if self._closed:
                raise GoError(f"{cmd}: the Go peer has exited")
            self.proc.stdin.write(line.encode())
            self.proc.stdin.flush()
            deadline = time.monotonic() + wait
            while ident not in self._answers:
                left = deadline - time.monotonic()
                if self._closed:
                    raise GoError(f"{cmd}: the Go peer exited")
                if left <= 0:
                    raise GoError(f"{cmd}: no answer within {wait}s")
                self._lock.wait(left)
            answer = self._answers.pop(ident)
        if not answer.get("ok"):
            raise GoError(f"{cmd}: {answer.get('error')}")
        return answer.get("result")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    @property
    def names(self) -> list[str]:
        return list(self.nodes)

    def address(self, node: str) -> str:
        host, port = self.nodes[node]
        return f"{host}:{port}"

    # ---- commands ------------------------------------------------------------------------------

    def members(self, node: str) -> dict[str, dict[str, Any]]:
        """Node ``node``'s whole node map: name -> {addr, port, state, incarnation, meta, vsn}."""
        return {m["name"]: m for m in self.call("members", node=node)}

    def states(self, node: str) -> dict[str, str]:
        return {name: m["state"] for name, m in self.members(node).items()}

    def census(self, names: Sequence[str] = ()) -> dict[str, dict[str, Any]]:
        """Every running node: {"counts": {state: n}, "states": {name: state or "none"}}.
        A process of 200 nodes answers slowly on a busy machine: allow it a minute (this is
        the harness waiting for an answer, not a protocol bound)."""
        result: dict[str, dict[str, Any]] = self.call("census", names=list(names), wait=60.0)
        return result

    def send(self, node: str, to: str, data: bytes, *, reliable: bool) -> None:
        self.call("send", node=node, to=to, data=data.hex(), reliable=reliable)

    def messages(self, node: str) -> list[bytes]:
        return [bytes.fromhex(m) for m in self.call("messages", node=node)]

    def broadcast(self, node: str, items: Sequence[bytes]) -> None:
        """Queue user broadcasts for the node's delegate to hand to memberlist's gossip."""
        self.call("broadcast", node=node, items=[item.hex() for item in items])

    def update_meta(self, node: str, meta: bytes, timeout: float = 5.0) -> None:
        self.call("update_meta", node=node, data=meta.hex(), timeout=timeout, wait=timeout + 5)

    def leave(self, node: str, timeout: float = 5.0) -> None:
        self.call("leave", node=node, timeout=timeout, wait=timeout + 5)

    def shutdown(self, node: str) -> None:
        self.call("shutdown", node=node)

    def join(self, node: str, addresses: Sequence[str]) -> dict[str, Any]:
        result: dict[str, Any] = self.call("join", node=node, addrs=list(addresses))
        return result

    def keyring(self, node: str, op: str, key: str = "") -> dict[str, Any]:
        result: dict[str, Any] = self.call("keyring", node=node, op=op, key=key)
        return result

    def logs(self, node: str) -> dict[str, int]:
        """Lines the node's memberlist logger printed (info and up), with their counts."""
        result: dict[str, int] = self.call("logs", node=node)["counts"]
        return result

    def log_count(self, node: str, fragment: str) -> int:
        return sum(n for line, n in self.logs(node).items() if fragment in line)

    def stats(self, node: str) -> dict[str, Any]:
        result: dict[str, Any] = self.call("stats", node=node)
        return result

    def events_of(self, kind: str, node: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [
                e
                for e in self.events
                if e.get("event") == kind and (node is None or e.get("node") == node)
            ]

    # ---- ending --------------------------------------------------------------------------------

    def kill(self) -> None:
        """kill -9 the whole process (every node in it stops answering at once)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(GoError, OSError, ValueError):
                self.call("exit", wait=5.0)
            try:
                self.proc.wait(5.0)
            except subprocess.TimeoutExpired:
                self.kill()
        self.kill()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        self._log.close()


class GoPeers:
    """Every Go peer a test started; ``close`` stops them all (the ``go_peers`` fixture)."""

    def __init__(self, log_dir: Path, netns: str | None = None) -> None:
        self.log_dir = log_dir
        self.netns = netns
        self.peers: list[GoPeer] = []

    def start(self, options: GoOptions | None = None, **kw: Any) -> GoPeer:
        options = options or GoOptions(**kw)
        peer = GoPeer(options, self.log_dir, netns=self.netns)
        self.peers.append(peer)
        return peer

    def close(self) -> None:
        for peer in self.peers:
            peer.close()


@contextlib.contextmanager
def go_peers(log_dir: Path, netns: str | None = None) -> Iterator[GoPeers]:
    go_binary()
    peers = GoPeers(log_dir, netns)
    try:
        yield peers
    finally:
        peers.close()


# ---- captures (-capture) ----------------------------------------------------------------------


def read_capture(path: Path) -> list[dict[str, Any]]:
    """The records a peer started with ``capture=path`` has written so far: packets
    ({kind: "packet", node, dir: in|out, peer, hex}) and streams ({kind: "stream", node, conn,
    dialer, local, remote, sent, received}), in order."""
    records = []
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:  # the last line may be half written
                break
    return records


def port_of(address: str) -> int:
    return int(address.rsplit(":", 1)[1])
