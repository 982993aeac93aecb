"""Processes, addresses and polling shared by the Serf and trio_gossip agent helpers."""

from __future__ import annotations

import contextlib
import ctypes
import os
import random
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

T = TypeVar("T")

REQUIRE_ENV = "TRIO_GOSSIP_REQUIRE_INTEROP"
INSTALL_HINT = "install it with `apt-get install serf` (Debian/Ubuntu)"


def require(tool: str, hint: str = INSTALL_HINT) -> str:
    """The tool's path; skip (or fail when TRIO_GOSSIP_REQUIRE_INTEROP=1) if it is missing."""
    path = shutil.which(tool)
    if path is None:
        message = f"{tool} not found on PATH: {hint}"
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{message} ({REQUIRE_ENV}=1)")
        pytest.skip(message)
    return path


def wait_until(
    check: Callable[[], T | None],
    timeout: float,
    *,
    interval: float = 0.05,
    what: str = "condition",
) -> T:
    """Poll ``check`` until it returns something truthy; AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = check()
        except (OSError, ValueError) as exc:  # not up yet, connection refused, bad JSON
            value, last = None, exc
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {timeout:.1f}s waiting for {what}; last: {last!r}"
            )
        last = value if value is not None else last
        time.sleep(interval)


def loopback_block() -> str:
    """A random 127.x.y prefix so concurrent test runs on one machine do not collide."""
    return f"127.{random.randrange(1, 255)}.{random.randrange(1, 255)}"


def free_port(host: str, *, netns: str | None = None) -> int:
    """A port free for both UDP and TCP on ``host`` (gossip binds both)."""
    for _ in range(100):
        with (
            netns_socket(netns, socket.AF_INET, socket.SOCK_STREAM) as tcp,
            netns_socket(netns, socket.AF_INET, socket.SOCK_DGRAM) as udp,
        ):
            tcp.bind((host, 0))
            port = int(tcp.getsockname()[1])
            try:
                udp.bind((host, port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port on {host}")


# ---- network namespaces -----------------------------------------------------------------------

_CLONE_NEWNET = 0x40000000


@contextlib.contextmanager
def netns_socket(netns: str | None, family: int, kind: int) -> Iterator[socket.socket]:
    """A socket created inside namespace ``netns`` (None: ours); usable from any thread.

    setns() switches only the calling thread, so a short-lived thread enters the namespace,
    makes the socket, and ends; the socket stays in that namespace.
    """
    if netns is None:
        sock = socket.socket(family, kind)
    else:
        made: list[socket.socket | BaseException] = []

        def enter() -> None:
            try:
                libc = ctypes.CDLL(None, use_errno=True)
                fd = os.open(f"/var/run/netns/{netns}", os.O_RDONLY)
                try:
                    if libc.setns(fd, _CLONE_NEWNET) != 0:
                        raise OSError(ctypes.get_errno(), "setns failed")
                finally:
                    os.close(fd)
                made.append(socket.socket(family, kind))
            except BaseException as exc:
                made.append(exc)

        thread = threading.Thread(target=enter)
        thread.start()
        thread.join()
        if isinstance(made[0], BaseException):
            raise made[0]
        sock = made[0]
    with sock:
        yield sock


@contextlib.contextmanager
def network_namespace() -> Iterator[str]:
    """A fresh namespace with its loopback up; deleted (with anything left in it) after."""
    require("ip", "install iproute2")
    name = f"tgtest{os.getpid()}x{random.randrange(1 << 20)}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)


def in_netns(netns: str | None, argv: list[str]) -> list[str]:
    return ["ip", "netns", "exec", netns, *argv] if netns else argv


# ---- processes ----------------------------------------------------------------------------------


class Process:
    """One child process with its output in a log file; stopped by its own pid only."""

    def __init__(
        self, name: str, argv: list[str], log_path: Path, env: dict[str, str] | None = None
    ) -> None:
        self.name = name
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(
            argv, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def signal(self, sig: signal.Signals) -> None:
        if self.alive():
            self.proc.send_signal(sig)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        self.proc.wait()

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout)

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM, then SIGKILL if it is still there after ``timeout``."""
        if self.alive():
            self.signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")


class ProcessGroup:
    """Everything a test started; ``close`` stops all of it (call it in a finally)."""

    def __init__(self) -> None:
        self.processes: list[Process] = []

    def add(self, process: Process) -> Process:
        self.processes.append(process)
        return process

    def close(self) -> None:
        for process in reversed(self.processes):
            process.signal(signal.SIGKILL)
        for process in self.processes:
            process.stop(timeout=5.0)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process from /proc, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0
