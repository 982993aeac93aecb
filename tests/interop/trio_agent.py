"""``trio-gossip agent`` processes for the interop tests, read through their HTTP endpoint."""

from __future__ import annotations

import base64
import json
import os
import socket
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .procs import Process, in_netns, netns_socket, wait_until

REPO = Path(__file__).resolve().parents[2]
_MAIN = "import sys; from trio_gossip.apps.cli import main; sys.exit(main())"


def http_get(address: tuple[str, int], path: str, netns: str | None = None) -> Any:
    """One HTTP/1.0 GET (in ``netns`` when given); the JSON of a 200 answer, else ValueError."""
    with netns_socket(netns, socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(5.0)
        sock.connect(address)
        sock.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split()[1]) if head else 0
    if status != 200:
        raise ValueError(f"GET {path}: HTTP {status}: {body[:300]!r}")
    return json.loads(body)


def http_post(address: tuple[str, int], path: str, body: object, netns: str | None = None) -> Any:
    """One HTTP/1.0 POST of ``body`` as JSON (in ``netns`` when given); the JSON of a 200
    answer, else ValueError."""
    payload = json.dumps(body).encode()
    with netns_socket(netns, socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(5.0)
        sock.connect(address)
        head = (f"POST {path} HTTP/1.0\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(payload)}\r\n\r\n")  # fmt: skip
        sock.sendall(head.encode() + payload)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head_bytes, _, answer = data.partition(b"\r\n\r\n")
    status = int(head_bytes.split()[1]) if head_bytes else 0
    if status != 200:
        raise ValueError(f"POST {path}: HTTP {status}: {answer[:300]!r}")
    return json.loads(answer)


class TrioAgent:
    """A ``trio-gossip agent`` child process with ``--http`` on loopback."""

    def __init__(
        self,
        name: str,
        bind: tuple[str, int],
        http: tuple[str, int],
        log_dir: Path,
        *,
        join: Sequence[str] = (),
        keys: Sequence[bytes] = (),
        tags: Mapping[str, str] | None = None,
        netns: str | None = None,
        profile: str = "lan",
    ) -> None:
        self.name = name
        self.bind = bind
        self.http = http
        self.netns = netns
        argv = [
            sys.executable,
            "-c",
            _MAIN,
            "agent",
            "--name",
            name,
            "--bind",
            f"{bind[0]}:{bind[1]}",
            "--http",
            f"{http[0]}:{http[1]}",
            "--profile",
            profile,
            "--log-level",
            "debug",
        ]
        for address in join:
            argv += ["--join", address]
        for key in keys:
            argv += ["--encrypt", base64.b64encode(key).decode()]
        for k, v in (tags or {}).items():
            argv += ["--tag", f"{k}={v}"]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        self.process = Process(name, in_netns(netns, argv), log_dir / f"trio-{name}.log", env)

    @property
    def gossip_address(self) -> str:
        return f"{self.bind[0]}:{self.bind[1]}"

    def get(self, path: str) -> Any:
        return http_get(self.http, path, self.netns)

    def wait_ready(self, timeout: float = 20.0) -> None:
        def up() -> bool:
            if not self.process.alive():
                raise AssertionError(f"agent {self.name} exited:\n{self.process.log()}")
            return bool(self.get("/v1/health"))

        wait_until(up, timeout, what=f"agent {self.name} HTTP")

    def members(self) -> dict[str, dict[str, Any]]:
        return {m["name"]: m for m in self.get("/v1/members")}

    def statuses(self) -> dict[str, str]:
        return {name: m["state"] for name, m in self.members().items()}

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self.get("/v1/stats")
        return result

    def key(self, op: str, key: bytes) -> dict[str, Any]:
        # A change: POST with a JSON body (the endpoint refuses GET for anything that changes).
        body = {"key": base64.b64encode(key).decode()}
        result: dict[str, Any] = http_post(self.http, f"/v1/keys/{op}", body, self.netns)
        return result

    def close(self) -> None:
        self.process.kill()
