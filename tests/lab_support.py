"""The chaos lab on real sockets: ``trio-gossip agent`` processes, one per network namespace,
on a bridge, under nftables loss, blocks and partitions, kills, pauses and CPU starvation.

Layout: a hub namespace holds the bridge ``br0`` (so that no address of the root namespace
ever carries lab traffic); each host namespace holds one agent on ``eth0`` = 10.213.0.<10+i>,
a veth whose peer sits on the bridge. Faults live in each host's own nftables input chain
(every packet a host receives passes it, so a rule there is a one-way fault on the links to
that host). The input side, not the output: a packet dropped in the sender's output hook fails
its sendto() with EPERM (TCP connects fail at once too), which real loss never tells a
sender. The agents are observed through their JSON logs only (``member failed: NAME
host:port`` and friends, stamped by the agent itself), plus ``/v1/members`` on the host's
loopback for a final cross-check, so the harness adds no load or traffic of its own.

Everything a lab makes is named ``tglab-<pid>-<tag>`` (namespaces, cgroups): ``sweep`` removes
whatever a killed earlier run left, and ``Lab.close`` removes what this one made.
Used by ``benchmarks/bench_lab.py`` (full form) and ``tests/test_lab_quick.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from interop.procs import rss_kib
from interop.trio_agent import REPO, http_get

from trio_gossip.core.config import Config
from trio_gossip.core.membership.bounds import (
    anti_entropy_time,
    detection_formula,
    join_timeout,
    suspicion_window,
)
from trio_gossip.core.membership.schedule import push_pull_scale

PREFIX = "tglab"
SUBNET = "10.213.0"
GOSSIP_PORT = 7946
HTTP_PORT = 8500
TABLE = "tglab"
CGROUP_V2 = Path("/sys/fs/cgroup")
CGROUP_V1_CPU = Path("/sys/fs/cgroup/cpu")
# A probe walk: each of the n-1 others probes the victim once per pass over its shuffled list,
# so the first probe of a killed node comes after about one probe interval, and after more
# than k intervals with probability about e^-k. Seven intervals: about 1 run in 1,000 exceeds.
REACH_INTERVALS = 7
RSS_GROWTH_KIB = 24 * 1024  # per host over a scenario (as tests/test_hostile_agent.py)

_EVENT = re.compile(r"^member (joined|updated|left|failed): (\S+) ")
# The observer's own verdict (its suspicion of the member ran out), as opposed to a dead
# message it heard: memberlist state.go suspectNode logs "Marking %s as failed, ...".
_OWN_VERDICT = re.compile(r"^\S+: marking (\S+) as failed, suspect timeout reached")


def sh(*argv: str, check: bool = True, stdin: str | None = None) -> str:
    done = subprocess.run(argv, check=False, capture_output=True, text=True, input=stdin)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {done.returncode}: {done.stderr.strip()}")
    return done.stdout


def profile_config(profile: str, reconnect_interval: float) -> Config:
    import attrs  # noqa: PLC0415 (Config is an attrs class)

    base = {"lan": Config.lan, "wan": Config.wan, "local": Config.local}[profile]()
    return attrs.evolve(base, reconnect_interval=reconnect_interval)


# ---- bounds, from the config ----------------------------------------------------------------


def first_detection_bound(config: Config, n: int) -> float:
    """kill -9 to the first ``failed`` verdict: memberlist's formula with no confirmation (the
    maximum suspicion timeout) plus the probe walk reaching the victim (REACH_INTERVALS)."""
    return detection_formula(config, n, confirmed=False) + REACH_INTERVALS * config.probe_interval


def all_detection_bound(config: Config, n: int) -> float:
    """kill -9 to ``failed`` in every view: the first verdict, then anti-entropy at the
    latest (push/pull carries dead states to whoever missed the gossip)."""
    return first_detection_bound(config, n) + anti_entropy_time(config, n)


VERDICT_SLACK = 1.0  # seconds between an agent's verdict log line and its member event


def fault_grace(config: Config, n: int) -> float:
    """How long after a fault ends a ``failed`` verdict may still come from it: a suspicion
    raised during the fault runs out (at most the maximum timeout) and spreads."""
    return all_detection_bound(config, n)


def heal_bound(config: Config, n: int) -> float:
    """Heal to every view agreeing: the issue's figure, one push/pull or reconnect interval
    (whichever is longer). Either mechanism carries a whole view across: a reconnect tick
    joins a failed member (each node tries one, with probability failed/alive, every
    reconnect interval), a periodic push/pull swaps views with a random live one. Gossip
    alone does not heal: the halves stopped gossiping to each other after
    gossip_to_the_dead_time, and an alive message naming the incarnation already declared
    dead is not news to the other side."""
    return max(config.reconnect_interval, push_pull_scale(config.push_pull_interval, n))


# ---- leftovers -----------------------------------------------------------------------------


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _owner(name: str) -> int | None:
    parts = name.split("-")
    if len(parts) < 3 or parts[0] != PREFIX or not parts[1].isdigit():
        return None
    return int(parts[1])


def lab_namespaces(run: str | None = None) -> list[str]:
    """Namespaces a lab made (of run ``run``, or of any run)."""
    names = [line.split()[0] for line in sh("ip", "netns", "list").splitlines() if line.strip()]
    start = f"{run}-" if run else f"{PREFIX}-"
    return [n for n in names if n.startswith(start)]


def _kill_inside(ns: str) -> None:
    """SIGKILL whatever runs in namespace ``ns`` (only labs start processes there)."""
    for pid in sh("ip", "netns", "pids", ns, check=False).split():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)


def _cgroup_dirs() -> list[Path]:
    found: list[Path] = []
    for root in (CGROUP_V1_CPU, CGROUP_V2):
        if root.is_dir():
            found += [p for p in root.glob(f"{PREFIX}-*") if p.is_dir()]
    return found


def _remove_cgroup(path: Path) -> None:
    with contextlib.suppress(OSError):
        for pid in (path / "cgroup.procs").read_text().split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
    for _ in range(50):  # the killed need a moment to leave the group
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.1)


def sweep() -> list[str]:
    """Remove what earlier labs whose process is gone left behind; the names removed."""
    removed = []
    for ns in lab_namespaces():
        owner = _owner(ns)
        if owner is None or (owner != os.getpid() and _pid_alive(owner)):
            continue  # a lab still running (another test run): not ours to touch
        _kill_inside(ns)
        sh("ip", "netns", "delete", ns, check=False)
        removed.append(ns)
    for path in _cgroup_dirs():
        owner = _owner(path.name)
        if owner is not None and not _pid_alive(owner):
            _remove_cgroup(path)
            removed.append(str(path))
    return removed


# ---- CPU starvation --------------------------------------------------------------------------


class Starver:
    """Caps some processes at ``share`` of one CPU: a cgroup with a CFS quota (cgroup v2
    cpu.max, or v1 cpu.cfs_quota_us), else a SIGSTOP/SIGCONT duty cycle with the same share
    per 100 ms period. ``method`` says which."""

    PERIOD_US = 100_000

    def __init__(self, name: str, share: float) -> None:
        self.share = share
        self.pids: set[int] = set()
        self.path: Path | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        quota = max(1000, int(share * self.PERIOD_US))
        if (CGROUP_V2 / "cgroup.controllers").exists() and "cpu" in (
            CGROUP_V2 / "cgroup.controllers"
        ).read_text().split():
            with contextlib.suppress(OSError):
                (CGROUP_V2 / "cgroup.subtree_control").write_text("+cpu")
            path = CGROUP_V2 / name
            with contextlib.suppress(OSError):
                path.mkdir()
                (path / "cpu.max").write_text(f"{quota} {self.PERIOD_US}")
                self.path, self.method = path, f"cgroup v2 cpu.max {quota}/{self.PERIOD_US} us"
        elif (CGROUP_V1_CPU / "cpu.cfs_quota_us").exists():
            path = CGROUP_V1_CPU / name
            with contextlib.suppress(OSError):
                path.mkdir()
                (path / "cpu.cfs_period_us").write_text(str(self.PERIOD_US))
                (path / "cpu.cfs_quota_us").write_text(str(quota))
                self.path = path
                self.method = f"cgroup v1 cpu.cfs_quota_us {quota}/{self.PERIOD_US} us"
        if self.path is None:
            self.method = f"SIGSTOP/SIGCONT duty cycle, {share:.0%} of each 100 ms"

    def add(self, pid: int) -> None:
        self.pids.add(pid)
        if self.path is not None:
            (self.path / "cgroup.procs").write_text(str(pid))
        elif self._thread is None:
            self._thread = threading.Thread(target=self._cycle, daemon=True)
            self._thread.start()

    def _cycle(self) -> None:
        run, stop = self.share * 0.1, (1 - self.share) * 0.1
        while not self._stop.is_set():
            for sig, pause in ((signal.SIGSTOP, stop), (signal.SIGCONT, run)):
                for pid in list(self.pids):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, sig)
                time.sleep(pause)

    def release(self) -> None:
        """Give the processes their CPU back (they keep running)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            for pid in self.pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)
        if self.path is not None:
            parent = self.path.parent / "cgroup.procs"
            for pid in self.pids:
                with contextlib.suppress(OSError):
                    parent.write_text(str(pid))
            _remove_cgroup(self.path)
        self.pids.clear()


# ---- the lab -----------------------------------------------------------------------------------


@dataclass
class Event:
    """One member event an agent logged: at ``time`` (its clock), ``observer`` saw ``member``
    become ``kind``."""

    time: float
    observer: str
    kind: str
    member: str


@dataclass
class Fault:
    """While [start, end + grace], ``members`` may be declared failed by ``observers``
    (None: anyone / by anyone)."""

    kind: str
    start: float
    end: float | None
    members: frozenset[str] | None
    observers: frozenset[str] | None = None

    def covers(self, t: float, observer: str, member: str, grace: float) -> bool:
        if t < self.start or (self.end is not None and t > self.end + grace):
            return False
        ok_member = self.members is None or member in self.members
        ok_observer = self.observers is None or observer in self.observers
        return ok_member and ok_observer


@dataclass
class Action:
    time: float
    kind: str
    hosts: tuple[str, ...]
    detail: str = ""


@dataclass
class Host:
    index: int
    name: str
    ns: str
    ip: str
    proc: subprocess.Popen[bytes] | None = None
    log_files: list[Path] = field(default_factory=list)
    offset: int = 0
    partial: bytes = b""
    go: bool = False  # a Go memberlist peer (tests/peers/memberlist) instead of an agent
    down: bool = False  # killed by the lab (not a crash)
    paused: bool = False
    starved: bool = False

    @property
    def address(self) -> str:
        return f"{self.ip}:{GOSSIP_PORT}"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass
class Rules:
    """A host's nftables faults, on what it receives: loss on everything from the lab,
    per-source loss, and sources it cannot hear."""

    loss: float = 0.0
    link_loss: dict[str, float] = field(default_factory=dict)
    blocked: set[str] = field(default_factory=set)

    def script(self) -> str:
        lines = [f"ip saddr {ip} drop" for ip in sorted(self.blocked)]
        lines += [_loss_rule(ip, p) for ip, p in sorted(self.link_loss.items()) if p > 0]
        if self.loss > 0:
            lines.append(_loss_rule(f"{SUBNET}.0/24", self.loss))
        body = "\n    ".join(lines)
        hook = "type filter hook input priority 0; policy accept;"
        # Declaring the table first makes the delete succeed on a first run; nft -f applies
        # the whole script atomically, so no packet sees a half-written chain.
        chain = f"  chain in {{\n    {hook}\n    {body}\n  }}\n"
        return f"table inet {TABLE}\ndelete table inet {TABLE}\ntable inet {TABLE} {{\n{chain}}}\n"


def _loss_rule(saddr: str, p: float) -> str:
    return f"ip saddr {saddr} numgen random mod 1000 < {round(p * 1000)} drop"


def _parse_time(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


_GO_KINDS = {"join": "joined", "update": "updated"}


def _go_event(event: dict[str, Any]) -> tuple[str, str] | None:
    """A Go peer's join / leave / update event as (kind, member); memberlist reports a death
    as a leave whose member is in state dead."""
    member = event.get("member")
    if not isinstance(member, dict):
        return None
    kind = event.get("event")
    if kind == "leave":
        return ("failed" if member.get("state") == "dead" else "left"), str(member["name"])
    if kind in _GO_KINDS:
        return _GO_KINDS[kind], str(member["name"])
    return None


def _stamp(proc: subprocess.Popen[bytes], log: Path) -> None:
    """Copy a Go peer's stdout lines to ``log``, each wrapped as {"time": ..., "go": line}."""
    assert proc.stdout is not None
    with log.open("a") as out:
        for raw in proc.stdout:
            try:
                event = json.loads(raw)
            except ValueError:
                event = {"raw": raw.decode(errors="replace")}
            now = datetime.now(UTC).isoformat(timespec="milliseconds")
            out.write(json.dumps({"time": now, "go": event}) + "\n")
            out.flush()


class Lab:
    """``hosts`` agents, each alone in a namespace on one bridge. Use as a context manager
    (or call ``close`` in a finally): it removes every namespace, cgroup and process it made."""

    def __init__(
        self,
        hosts: int,
        log_dir: Path,
        *,
        profile: str = "lan",
        reconnect_interval: float = 30.0,
        tick: Callable[[str, float, float], None] | None = None,
        go_peers: int = 0,
        cas_writes: int = 0,
        cas_pace: float = 0.3,
    ) -> None:
        for tool in ("ip", "nft"):
            if shutil.which(tool) is None:
                raise RuntimeError(f"{tool} not found on PATH (install iproute2 and nftables)")
        if not 2 <= hosts <= 240:
            raise ValueError("hosts must be in [2, 240]")
        self.n = hosts
        self.log_dir = log_dir
        log_dir.mkdir(parents=True, exist_ok=True)
        self.profile = profile
        self.reconnect_interval = reconnect_interval
        self.config = profile_config(profile, reconnect_interval)
        self.tick = tick  # progress callback: (label, seconds done, seconds in all)
        # With cas_writes, every host is a KV node (tests/lab_cas_node.py) that makes that
        # many CAS updates of the ring key, one every cas_pace seconds on average, once
        # `cas_go` exists; its view of the ring is in `view_file(host)`.
        self.cas_writes = cas_writes
        self.cas_pace = cas_pace
        self.cas_go = log_dir / "cas.go"
        self.swept = sweep()
        self.run = f"{PREFIX}-{os.getpid()}-{random.randrange(1 << 16):04x}"
        self.hub = f"{self.run}-hub"
        self.hosts = [
            Host(i, f"h{i:02d}", f"{self.run}-h{i:02d}", f"{SUBNET}.{10 + i}") for i in range(hosts)
        ]
        self.go_binary: Path | None = None
        if go_peers:
            from interop.go_peer import go_binary  # noqa: PLC0415 (builds the peer if needed)

            self.go_binary = go_binary()
            # Spread over the hosts, never h00 (the agent everyone joins first): the peer
            # names its single node <prefix>0.
            step = max(1, (hosts - 1) // go_peers)
            for i in range(go_peers):
                h = self.hosts[min(hosts - 1, 1 + step // 2 + i * step)]
                h.go, h.name = True, f"g{h.index:02d}-0"
        self.by_name = {h.name: h for h in self.hosts}
        self.rules = {h.name: Rules() for h in self.hosts}
        self.events: list[Event] = []
        self.verdicts: list[Event] = []  # the agents' own suspicion timeouts ("timed out")
        self.views: dict[str, dict[str, str]] = {}  # observer -> member -> last kind
        self.view_changed: dict[str, float] = {}  # observer -> time of its last view change
        self.view_sizes: list[tuple[float, str, int]] = []  # (time, observer, alive in view)
        self.faults: list[Fault] = []
        self.actions: list[Action] = []
        self.error_lines: list[tuple[str, str]] = []  # (host, line) at error level or unparsed
        self.crashes: list[tuple[str, int | None, str]] = []  # (host, exit code, log tail)
        self.starvers: list[Starver] = []
        self.spinners: list[subprocess.Popen[bytes]] = []
        self.started = time.time()
        self._made: list[str] = []
        self._closed = False

    # -- lifecycle

    def __enter__(self) -> Lab:
        try:
            self.build()
            self.start_agents()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _netns(self, name: str) -> None:
        sh("ip", "netns", "add", name)
        self._made.append(name)
        sh("ip", "-n", name, "link", "set", "lo", "up")

    def build(self) -> None:
        self._netns(self.hub)
        sh("ip", "-n", self.hub, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", self.hub, "link", "set", "br0", "up")
        for h in self.hosts:
            self._netns(h.ns)
            port = f"v{h.index}"
            sh("ip", "-n", self.hub, "link", "add", port, "type", "veth",
               "peer", "name", "eth0", "netns", h.ns)  # fmt: skip
            sh("ip", "-n", self.hub, "link", "set", port, "master", "br0", "up")
            sh("ip", "-n", h.ns, "addr", "add", f"{h.ip}/24", "dev", "eth0")
            sh("ip", "-n", h.ns, "link", "set", "eth0", "up")
            self.apply_rules(h.name)

    def apply_rules(self, name: str) -> None:
        sh("ip", "netns", "exec", self.by_name[name].ns, "nft", "-f", "-",
           stdin=self.rules[name].script())  # fmt: skip

    def _argv(self, h: Host, join: Sequence[Host]) -> list[str]:
        argv = ["ip", "netns", "exec", h.ns, sys.executable, "-m", "trio_gossip", "agent",
                "--name", h.name, "--bind", h.address, "--http", f"127.0.0.1:{HTTP_PORT}",
                "--profile", self.profile, "--log-format", "json", "--log-level", "info",
                "--reconnect-interval", f"{self.reconnect_interval:g}",
                "--max-join-retries", "10", "--min-join-backoff", "0.5",
                "--max-join-backoff", "2"]  # fmt: skip
        for other in join:
            argv += ["--join", other.address]
        return argv

    def _cas_argv(self, h: Host, join: Sequence[Host]) -> list[str]:
        node = str(REPO / "tests" / "lab_cas_node.py")
        argv = ["ip", "netns", "exec", h.ns, sys.executable, node,
                "--name", h.name, "--bind", h.address, "--profile", self.profile,
                "--reconnect-interval", f"{self.reconnect_interval:g}", "--go", str(self.cas_go),
                "--out", str(self.view_file(h)), "--writes", str(self.cas_writes),
                "--pace", f"{self.cas_pace:g}"]  # fmt: skip
        for other in join:
            argv += ["--join", other.address]
        return argv

    def view_file(self, h: Host) -> Path:
        return self.log_dir / f"{h.name}.ring.json"

    def ring_views(self) -> dict[str, dict[str, Any]]:
        """What each CAS node last reported: writes done and its ring (instance -> tokens)."""
        views = {}
        for h in self.running():
            with contextlib.suppress(OSError, ValueError):
                views[h.name] = json.loads(self.view_file(h).read_text())
        return views

    def _go_argv(self, h: Host, join: Sequence[Host]) -> list[str]:
        assert self.go_binary is not None
        argv = ["ip", "netns", "exec", h.ns, str(self.go_binary), "-count", "1",
                "-name-prefix", h.name[:-1], "-bind", h.ip, "-base-port", str(GOSSIP_PORT),
                # The agent speaks Serf's delegate protocol range [2, 5]: overlap it.
                "-delegate-version", "2,5,5", "-profile", self.profile]  # fmt: skip
        for other in join:
            argv += ["-join", other.address]
        return argv

    def spawn(self, h: Host, join: Sequence[Host]) -> None:
        log = self.log_dir / f"{h.name}.{len(h.log_files)}.log"
        h.log_files.append(log)
        h.offset, h.partial = 0, b""
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        if h.go:
            # The peer reports events as JSON lines on stdout, unstamped: a thread stamps each
            # as it arrives. It exits when its stdin closes, so stdin stays an open pipe.
            err = log.with_suffix(".stderr")
            with err.open("wb") as errors:
                h.proc = subprocess.Popen(self._go_argv(h, join), stdout=subprocess.PIPE,
                                          stderr=errors, stdin=subprocess.PIPE,
                                          start_new_session=True)  # fmt: skip
            threading.Thread(target=_stamp, args=(h.proc, log), daemon=True).start()
        else:
            with log.open("wb") as out:
                # A session of its own: a Ctrl-C at the terminal reaches the harness only
                # (whose cleanup kills the agents), not every agent at once (they would all
                # leave).
                argv = self._cas_argv(h, join) if self.cas_writes else self._argv(h, join)
                h.proc = subprocess.Popen(argv, stdout=out,
                                          stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                          env=env, start_new_session=True)  # fmt: skip
        h.down = False
        self.views[h.name] = {}
        self.view_changed[h.name] = time.time()

    def start_agents(self) -> None:
        first = self.hosts[0]
        self.spawn(first, [])
        self.wait_for(lambda: self._logged(first, "agent h00 running"), 60.0, "h00 up")
        for h in self.hosts[1:]:
            self.spawn(h, [first])
            time.sleep(0.05)  # the 2-core box imports ~30 interpreters; spread the burst
        names = {h.name for h in self.hosts}
        self.wait_agreement(names, self.hosts, join_timeout(self.config, self.n) + 60.0,
                            "cluster converged")  # fmt: skip

    def _logged(self, h: Host, text: str) -> bool:
        self.poll()
        return text in h.log_files[-1].read_text(errors="replace")

    def close(self) -> None:
        """Kill every agent, free the cgroup, delete every namespace made (idempotent)."""
        if self._closed:
            return
        self._closed = True
        for h in self.hosts:
            if h.proc is not None and h.proc.poll() is None:
                h.proc.kill()
        for h in self.hosts:
            if h.proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    h.proc.wait(10.0)
        for spin in self.spinners:
            spin.kill()
            spin.wait()
        for starver in self.starvers:
            starver.release()
        for ns in reversed(self._made):
            _kill_inside(ns)
            sh("ip", "netns", "delete", ns, check=False)

    def leftovers(self) -> list[str]:
        """Namespaces and processes of this lab still present (empty after ``close``)."""
        left = lab_namespaces(self.run)
        left += [f"pid {h.proc.pid}" for h in self.hosts if h.proc and h.proc.poll() is None]
        left += [f"pid {s.pid}" for s in self.spinners if s.poll() is None]
        left += [str(p) for p in _cgroup_dirs() if p.name.startswith(self.run)]
        return left

    # -- observing

    def poll(self) -> None:
        """Read what the agents logged since the last poll; note crashes."""
        for h in self.hosts:
            if h.log_files:
                self._read(h)
            if h.proc is not None and h.proc.poll() is not None and not h.down:
                self._read(h)
                tail = h.log_files[-1].read_text(errors="replace")[-3000:]
                self.crashes.append((h.name, h.proc.returncode, tail))
                h.down = True

    def _read(self, h: Host) -> None:
        with h.log_files[-1].open("rb") as f:
            f.seek(h.offset)
            data = f.read()
        h.offset += len(data)
        lines = (h.partial + data).split(b"\n")
        h.partial = lines.pop()
        for raw in lines:
            self._line(h, raw.decode(errors="replace"))

    def _line(self, h: Host, line: str) -> None:
        if not line.strip():
            return
        try:
            entry: dict[str, Any] = json.loads(line)
        except ValueError:
            self.error_lines.append((h.name, line))  # not ours: a traceback or a print
            return
        if "go" in entry:
            parsed = _go_event(entry["go"])
            if parsed is None:
                return
            kind, member = parsed
        else:
            if entry.get("level") in ("error", "critical"):
                self.error_lines.append((h.name, line))
            message = str(entry.get("message", ""))
            own = _OWN_VERDICT.match(message)
            if own is not None:
                t = _parse_time(entry["time"])
                self.verdicts.append(Event(t, h.name, "timed out", own.group(1)))
                return
            found = _EVENT.match(message)
            if found is None:
                return
            kind, member = found.groups()
        t = _parse_time(entry["time"])
        self.events.append(Event(t, h.name, kind, member))
        view = self.views[h.name]
        if kind != "updated" and view.get(member) != kind:
            view[member] = kind
            self.view_changed[h.name] = t
            self.view_sizes.append((t, h.name, len(self.alive_view(h.name))))

    def alive_view(self, observer: str) -> set[str]:
        """Whom ``observer`` lists alive (its own name included), from its log."""
        view = self.views.get(observer, {})
        return {m for m, kind in view.items() if kind in ("joined", "updated")} | {observer}

    def agreement(self, expected: set[str], observers: Iterable[Host]) -> float | None:
        """When every observer's view became ``expected`` (the latest change among them, by
        the agents' own clocks), or None while one disagrees."""
        latest = 0.0
        for h in observers:
            if self.alive_view(h.name) != expected:
                return None
            latest = max(latest, self.view_changed[h.name])
        return latest

    def running(self) -> list[Host]:
        return [h for h in self.hosts if h.alive() and not h.down]

    def http_views(self, hosts: Iterable[Host]) -> dict[str, set[str]]:
        """Whom each agent lists alive through /v1/members (on its loopback)."""
        out = {}
        for h in hosts:
            if h.go:
                continue  # no HTTP endpoint
            members = http_get(("127.0.0.1", HTTP_PORT), "/v1/members", h.ns)
            out[h.name] = {m["name"] for m in members if m["state"] in ("alive", "suspect")}
        return out

    # -- waiting

    def wait(self, seconds: float, label: str) -> None:
        """Let ``seconds`` pass, reading the logs twice a second and reporting progress."""
        start = time.monotonic()
        while (done := time.monotonic() - start) < seconds:
            self.poll()
            if self.tick is not None:
                self.tick(label, done, seconds)
            time.sleep(min(0.5, seconds - done))
        self.poll()
        if self.tick is not None:
            self.tick(label, seconds, seconds)

    def wait_for(self, check: Callable[[], Any], timeout: float, label: str) -> Any:
        """Poll ``check`` (after reading the logs) until truthy; TimeoutError after
        ``timeout``."""
        start = time.monotonic()
        while True:
            self.poll()
            value = check()
            if value:
                return value
            done = time.monotonic() - start
            if self.tick is not None:
                self.tick(label, done, timeout)
            if done > timeout:
                raise TimeoutError(f"{label}: not within {timeout:.0f}s")
            time.sleep(0.2)

    def wait_agreement(self, expected: set[str], observers: Sequence[Host], timeout: float,
                       label: str) -> float:  # fmt: skip
        """Wait until every observer lists exactly ``expected``; when that became true."""
        return float(self.wait_for(lambda: self.agreement(expected, observers), timeout, label))

    # -- faults

    def note(self, kind: str, hosts: Iterable[Host], detail: str = "") -> float:
        t = time.time()
        self.actions.append(Action(t, kind, tuple(h.name for h in hosts), detail))
        return t

    def set_loss(self, loss: float, hosts: Iterable[Host] | None = None) -> None:
        """``loss`` (0..1) on every lab packet the hosts receive (all hosts by default): with
        every host chosen, each one-way link loses that share."""
        chosen = list(self.hosts if hosts is None else hosts)
        for h in chosen:
            self.rules[h.name].loss = loss
            self.apply_rules(h.name)
        self.note("loss", chosen, f"{loss:.0%}")

    def set_link_loss(self, a: Host, b: Host, loss: float) -> None:
        """``loss`` on the link from ``a`` to ``b`` only."""
        self.rules[b.name].link_loss[a.ip] = loss
        self.apply_rules(b.name)
        self.note("link-loss", [a, b], f"{loss:.0%}")

    def block(self, a: Host, b: Host) -> None:
        """Nothing ``a`` sends reaches ``b`` (one way)."""
        self.rules[b.name].blocked.add(a.ip)
        self.apply_rules(b.name)

    def partition(self, side_a: Sequence[Host], side_b: Sequence[Host]) -> float:
        for one, other in ((side_a, side_b), (side_b, side_a)):
            for h in one:
                self.rules[h.name].blocked |= {o.ip for o in other}
                self.apply_rules(h.name)
        t = self.note("partition", [*side_a, *side_b], f"{len(side_a)}|{len(side_b)}")
        a = frozenset(h.name for h in side_a)
        b = frozenset(h.name for h in side_b)
        self.faults += [Fault("partition", t, None, b, a), Fault("partition", t, None, a, b)]
        return t

    def heal(self) -> float:
        """Lift every block (partition or one-way)."""
        for h in self.hosts:
            if self.rules[h.name].blocked:
                self.rules[h.name].blocked.clear()
                self.apply_rules(h.name)
        t = self.note("heal", [])
        self._end_faults("partition", t)
        return t

    def clear_faults(self) -> None:
        for h in self.hosts:
            self.rules[h.name] = Rules()
            self.apply_rules(h.name)
        self.note("clear", [])

    def _end_faults(self, kind: str, t: float, member: str | None = None) -> None:
        for f in self.faults:
            if f.kind == kind and f.end is None and (member is None or f.members == {member}
                                                     or f.observers == {member}):  # fmt: skip
                f.end = t

    def kill(self, h: Host) -> float:
        assert h.proc is not None
        h.down = True
        t = self.note("kill", [h])
        h.proc.send_signal(signal.SIGKILL)
        h.proc.wait()
        self.poll()
        self.faults.append(Fault("kill", t, None, frozenset({h.name})))
        return t

    def restart(self, h: Host) -> float:
        """Start ``h`` again under the same name and address, joining two running hosts."""
        peers = [o for o in self.running() if o is not h][:2]
        t = self.note("restart", [h])
        self.spawn(h, peers)
        self._end_faults("kill", t, h.name)
        return t

    def pause(self, h: Host) -> float:
        assert h.proc is not None
        h.paused = True
        t = self.note("pause", [h])
        h.proc.send_signal(signal.SIGSTOP)
        # A paused host may be declared failed, and when it wakes it may briefly declare
        # others failed (its timers all fire at once).
        self.faults += [Fault("pause", t, None, frozenset({h.name})),
                        Fault("pause", t, None, None, frozenset({h.name}))]  # fmt: skip
        return t

    def resume(self, h: Host) -> float:
        assert h.proc is not None
        h.proc.send_signal(signal.SIGCONT)
        h.paused = False
        t = self.note("resume", [h])
        self._end_faults("pause", t, h.name)
        return t

    def starve(self, hosts: Sequence[Host], share: float) -> str:
        """Cap each host's agent at ``share`` of one CPU (a group per host), the group kept
        busy by a spinning process beside the agent: a throttled container whose limit its
        other work already uses up (a 50-millicore pod under load), so the agent waits up to
        a period for its turn. The duty-cycle fallback stops the agent itself; no spinner."""
        method = "none"
        for h in hosts:
            assert h.proc is not None
            starver = Starver(f"{self.run}-cpu-{h.name}", share)
            self.starvers.append(starver)
            starver.add(h.proc.pid)
            h.starved = True
            method = starver.method
            if starver.path is not None:
                argv = ["ip", "netns", "exec", h.ns, "sh", "-c", "while :; do :; done"]
                spin = subprocess.Popen(argv, stdin=subprocess.DEVNULL, start_new_session=True)
                self.spinners.append(spin)
                starver.add(spin.pid)
                method += " per host, shared with a spinning process"
        self.note("starve", hosts, method)
        return method

    def unstarve(self) -> None:
        for spin in self.spinners:
            spin.kill()
            spin.wait()
        self.spinners.clear()
        for starver in self.starvers:
            starver.release()
        self.starvers.clear()
        for h in self.hosts:
            h.starved = False
        self.note("unstarve", [])

    # -- verdicts

    def false_deaths(self, since: float = 0.0) -> list[Event]:
        """``failed`` verdicts no fault explains: a healthy host declared failed.

        A fault explains a verdict it covers, and the same verdict heard by others: when a
        partition heals, a dead message one side still gossips about a member of the other
        reaches that member's own side too (memberlist applies a dead message at the current
        incarnation, deadNode in state.go) until the member's refutation arrives. Heard, not
        made: an agent's own verdict (its suspicion ran out, logged as "marking M as failed")
        is only ever explained by a fault covering it. Go peers' verdicts count as heard.
        """
        grace = fault_grace(self.config, self.n)
        failed = [e for e in self.events if e.kind == "failed"]

        def covered(e: Event) -> bool:
            return any(f.covers(e.time, e.observer, e.member, grace) for f in self.faults)

        sources = [e for e in failed if covered(e)]

        def own(e: Event) -> bool:
            return any(v.observer == e.observer and v.member == e.member
                       and e.time - VERDICT_SLACK <= v.time <= e.time + VERDICT_SLACK
                       for v in self.verdicts)  # fmt: skip

        def heard(e: Event) -> bool:
            return not own(e) and any(x.member == e.member and x.observer != e.observer
                                      and x.time - VERDICT_SLACK <= e.time <= x.time + grace
                                      for x in sources)  # fmt: skip

        return [e for e in failed if e.time >= since and not covered(e) and not heard(e)]

    def trace(self, e: Event, before: float = 40.0) -> list[str]:
        """The log lines behind a verdict: the observer's lines naming the member, and every
        line the member logged, over the ``before`` seconds up to it (a false death's cause)."""
        lines: list[tuple[float, str]] = []
        for name, mention in ((e.observer, e.member), (e.member, "")):
            h = self.by_name.get(name)
            for log in h.log_files if h is not None else []:
                for raw in log.read_text(errors="replace").splitlines():
                    with contextlib.suppress(ValueError, KeyError, TypeError):
                        entry = json.loads(raw)
                        t = _parse_time(entry["time"])
                        text = str(entry.get("message", entry.get("go", "")))
                        if e.time - before <= t <= e.time + 1 and mention in text:
                            lines.append((t, f"{t - e.time:+.1f}s {name}: {text[:160]}"))
        return [line for _, line in sorted(lines)]

    def go_error_lines(self) -> list[tuple[str, str]]:
        """memberlist's [ERR] lines on the Go peers' stderr (theirs, not the agents')."""
        found = []
        for h in self.hosts:
            for log in h.log_files if h.go else []:
                err = log.with_suffix(".stderr")
                if err.exists():
                    found += [(h.name, ln) for ln in err.read_text(errors="replace").splitlines()
                              if "[ERR]" in ln]  # fmt: skip
        return found

    def rss(self) -> dict[str, int]:
        return {h.name: rss_kib(h.proc.pid) for h in self.running() if h.proc is not None}


# ---- scenarios -----------------------------------------------------------------------------------


@dataclass
class Check:
    """One pass/fail line of the report."""

    scenario: str
    what: str
    value: str
    bound: str
    ok: bool


@dataclass
class Outcome:
    checks: list[Check] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def add(self, scenario: str, what: str, value: str, bound: str, ok: bool) -> None:
        self.checks.append(Check(scenario, what, value, bound, ok))

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


def soak(lab: Lab, out: Outcome, *, seconds: float, loss: float, starved: float,
         cpu_share: float) -> None:  # fmt: skip
    """(a) ``loss`` on every link, ``starved`` of the hosts capped at ``cpu_share`` of a CPU,
    for ``seconds``: no false death, no crash, no error line, bounded RSS growth."""
    k = round(starved * lab.n)
    victims = lab.hosts[1 : 1 + k]  # not h00, the join target of restarts
    errors_before, crashes_before = len(lab.error_lines), len(lab.crashes)
    rss_before = lab.rss()
    cpu_before = {h.name: _cpu(h) for h in lab.running()}
    lab.set_loss(loss)
    method = lab.starve(victims, cpu_share) if victims else "none"
    t0 = time.time()
    lab.wait(seconds, "soak: loss + starvation")
    rss_after = lab.rss()
    cpu_after = {h.name: _cpu(h) for h in lab.running()}
    lab.unstarve()
    lab.clear_faults()
    false = lab.false_deaths(t0)
    growth = {n: rss_after[n] - rss_before[n] for n in rss_after if n in rss_before}
    worst = max(growth.items(), key=lambda kv: kv[1]) if growth else ("-", 0)
    cpu = {n: (cpu_after[n] - cpu_before[n]) / seconds for n in cpu_after if n in cpu_before}
    errors = lab.error_lines[errors_before:]
    crashes = lab.crashes[crashes_before:]
    name = "a: soak"
    what = f"{lab.n} hosts, {loss:.0%} loss every link, {k} starved ({method}), {seconds:.0f}s"
    out.add(name, "false deaths", str(len(false)), "0", not false)
    out.add(name, "crashes", str(len(crashes)), "0", not crashes)
    out.add(name, "error-level log lines", str(len(errors)), "0", not errors)
    out.add(name, "max RSS growth", f"{worst[1] / 1024:.1f} MiB ({worst[0]})",
            f"<= {RSS_GROWTH_KIB / 1024:.0f} MiB", worst[1] <= RSS_GROWTH_KIB)  # fmt: skip
    starved_cpu = [cpu.get(h.name, 0.0) for h in victims]
    healthy_cpu = [v for n, v in cpu.items() if n not in {h.name for h in victims}]
    out.data["soak"] = {
        "setup": what,
        "starved": [h.name for h in victims],
        "starve_method": method,
        "start": t0,
        "seconds": seconds,
        "false_deaths": [vars(e) for e in false],
        "errors": errors[:50],
        "crashes": crashes,
        "rss_growth_kib": growth,
        "cpu_share_starved": starved_cpu,
        "cpu_share_healthy_mean": sum(healthy_cpu) / max(1, len(healthy_cpu)),
        "suspicion_window": suspicion_window(lab.config, lab.n),
    }


def _cpu(h: Host) -> float:
    from interop.procs import cpu_seconds  # noqa: PLC0415

    assert h.proc is not None
    return cpu_seconds(h.proc.pid)


def kills(lab: Lab, out: Outcome, *, count: int, pause: bool) -> None:
    """(b) kill -9 ``count`` hosts a few seconds apart: each detected (first verdict and in
    every view) within the bound; each restarted under its name rejoins everywhere. With
    ``pause``, one more host is SIGSTOPped past the detection bound, then SIGCONTed: it must be
    declared failed and come back."""
    first_bound = first_detection_bound(lab.config, lab.n)
    all_bound = all_detection_bound(lab.config, lab.n)
    rejoin_bound = join_timeout(lab.config, lab.n)
    name = "b: kill -9"
    victims = lab.hosts[-count:]
    errors_before, crashes_before = len(lab.error_lines), len(lab.crashes)
    t_start = time.time()
    killed: dict[str, float] = {}
    for h in victims:
        killed[h.name] = lab.kill(h)
        lab.wait(2.0, f"kill {h.name}")
    rows = []

    def detected(victim: str, t_kill: float) -> tuple[float | None, float | None]:
        seen = {e.observer: e.time for e in lab.events
                if e.member == victim and e.kind == "failed" and e.time >= t_kill}  # fmt: skip
        if not seen:
            return None, None
        everyone = {h.name for h in lab.running()}
        first = min(seen.values()) - t_kill
        done = everyone <= set(seen)
        return first, (max(seen[o] for o in everyone) - t_kill if done else None)

    def all_detected() -> bool:
        return all(detected(v, t)[1] is not None for v, t in killed.items())

    with contextlib.suppress(TimeoutError):
        lab.wait_for(all_detected, all_bound + 5.0, "kills detected everywhere")
    for victim, t_kill in killed.items():
        first, everywhere = detected(victim, t_kill)
        rows.append({"host": victim, "first": first, "everywhere": everywhere})
        out.add(name, f"{victim} detected, first verdict",
                "never" if first is None else f"{first:.1f}s", f"<= {first_bound:.1f}s",
                first is not None and first <= first_bound)  # fmt: skip
        out.add(name, f"{victim} detected in every view",
                "never" if everywhere is None else f"{everywhere:.1f}s", f"<= {all_bound:.1f}s",
                everywhere is not None and everywhere <= all_bound)  # fmt: skip
    # Restart each under its name; it has rejoined when every running view lists everyone.
    for h in victims:
        t = lab.restart(h)
        names = {o.name for o in lab.hosts if not o.down} | {h.name}
        try:
            when = lab.wait_agreement(names, lab.running(), rejoin_bound, f"{h.name} rejoins")
            took: float | None = when - t
        except TimeoutError:
            took = None
        next(r for r in rows if r["host"] == h.name)["rejoin"] = took
        out.add(name, f"{h.name} restarted, rejoined in every view",
                "never" if took is None else f"{took:.1f}s", f"<= {rejoin_bound:.0f}s",
                took is not None and took <= rejoin_bound)  # fmt: skip
    if pause:
        h = lab.hosts[-count - 1]
        t = lab.pause(h)
        with contextlib.suppress(TimeoutError):
            lab.wait_for(lambda: all(h.name not in lab.alive_view(o.name)
                                     for o in lab.running() if o is not h),
                         all_bound, f"{h.name} paused")  # fmt: skip
        down = [e.time for e in lab.events if e.member == h.name and e.kind == "failed"
                and e.time >= t]  # fmt: skip
        t_resume = lab.resume(h)
        names = {o.name for o in lab.hosts if not o.down}
        try:
            back: float | None = lab.wait_agreement(names, lab.running(), rejoin_bound,
                                                    f"{h.name} resumed") - t_resume  # fmt: skip
        except TimeoutError:
            back = None
        rows.append({"host": h.name, "pause": True,
                     "first": min(down) - t if down else None, "back": back})  # fmt: skip
        out.add(name, f"{h.name} SIGSTOP: detected, then back after SIGCONT",
                f"{'never' if not down else f'{min(down) - t:.1f}s'}, back "
                f"{'never' if back is None else f'{back:.1f}s'}",
                f"<= {first_bound:.1f}s, <= {rejoin_bound:.0f}s",
                bool(down) and min(down) - t <= first_bound and back is not None)  # fmt: skip
    crashes = lab.crashes[crashes_before:]
    errors = lab.error_lines[errors_before:]
    false = lab.false_deaths(t_start)
    out.add(name, "false deaths, crashes, error lines",
            f"{len(false)}, {len(crashes)}, {len(errors)}", "0, 0, 0",
            not (false or crashes or errors))  # fmt: skip
    out.data["kills"] = {"rows": rows, "first_bound": first_bound, "all_bound": all_bound,
                         "rejoin_bound": rejoin_bound, "false_deaths": [vars(e) for e in false],
                         "errors": errors[:50], "crashes": crashes}  # fmt: skip


def partition(lab: Lab, out: Outcome, *, seconds: float | None) -> None:
    """(c) split the hosts in two halves for ``seconds`` (None: until each half has declared
    the other failed, plus gossip_to_the_dead_time, so the halves have stopped gossiping to
    each other); then heal and time until every view lists everyone again."""
    name = "c: partition"
    half = lab.n // 2
    side_a, side_b = lab.hosts[:half], lab.hosts[half:]
    everyone = {h.name for h in lab.hosts}
    bound = heal_bound(lab.config, lab.n)
    dead_time = lab.config.gossip_to_the_dead_time
    errors_before, crashes_before = len(lab.error_lines), len(lab.crashes)
    t0 = lab.partition(side_a, side_b)

    def split() -> float | None:
        a = lab.agreement({h.name for h in side_a}, side_a)
        b = lab.agreement({h.name for h in side_b}, side_b)
        return None if a is None or b is None else max(a, b)

    if seconds is None:
        limit = all_detection_bound(lab.config, lab.n) + 30.0
        split_at = float(lab.wait_for(split, limit, "partition: halves split"))
        lab.wait(max(0.0, split_at + dead_time + 1.0 - time.time()), "partition: dead time")
    else:
        lab.wait(seconds, "partition")
    split_at_opt = split()
    held = time.time() - t0
    t_heal = lab.heal()
    try:
        agreed: float | None = lab.wait_agreement(everyone, lab.running(), bound + 60.0,
                                                  "heal: views agree") - t_heal  # fmt: skip
    except TimeoutError:
        agreed = None
    http_ok = True
    with contextlib.suppress(OSError, ValueError):
        views = lab.http_views(lab.running())
        http_ok = all(v == everyone for v in views.values())
    crashes = lab.crashes[crashes_before:]
    errors = lab.error_lines[errors_before:]
    false = lab.false_deaths(t0)
    past_dead = split_at_opt is not None and t_heal - split_at_opt >= dead_time
    out.add(name, "halves split, held past gossip_to_the_dead_time",
            f"held {held:.0f}s, split after {_fmt(split_at_opt, t0)}", f"{dead_time:g}s dead time",
            past_dead)  # fmt: skip
    out.add(name, "heal: every view agrees", "never" if agreed is None else f"{agreed:.1f}s",
            f"<= {bound:.1f}s", agreed is not None and agreed <= bound)  # fmt: skip
    out.add(name, "views by /v1/members agree with the logs", str(http_ok), "True", http_ok)
    out.add(name, "false deaths, crashes, error lines",
            f"{len(false)}, {len(crashes)}, {len(errors)}", "0, 0, 0",
            not (false or crashes or errors))  # fmt: skip
    out.data["partition"] = {"start": t0, "heal": t_heal, "held": held, "agreed_after": agreed,
                             "bound": bound, "split_at": split_at_opt, "dead_time": dead_time,
                             "reconnect_interval": lab.config.reconnect_interval,
                             "false_deaths": [vars(e) for e in false], "errors": errors[:50],
                             "crashes": crashes}  # fmt: skip


def _fmt(t: float | None, since: float) -> str:
    return "never" if t is None else f"{t - since:.1f}s"


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """SIGTERM and SIGHUP raise SystemExit, so ``finally`` blocks (the lab's cleanup) run as
    they do for Ctrl-C's KeyboardInterrupt."""

    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    old = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
