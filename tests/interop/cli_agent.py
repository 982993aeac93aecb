"""``trio-gossip agent`` child processes (``python -m trio_gossip agent``) read through ``--http``.

The agent is the Serf-flavoured node: its delegate protocol range is Serf's [2, 5] (current 5),
so Go peers it meets must advertise an overlapping range (``GoOptions.delegate_version``).
"""

from __future__ import annotations

import base64
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .procs import Process, free_port, in_netns, wait_until
from .trio_agent import REPO, http_get

SERF_DELEGATE_VERSION = (2, 5, 5)


class CliAgent:
    def __init__(
        self,
        name: str,
        host: str,
        log_dir: Path,
        *,
        join: Sequence[str] = (),
        keys: Sequence[bytes] = (),
        label: str = "",
        profile: str = "local",
        netns: str | None = None,
    ) -> None:
        self.name = name
        self.netns = netns
        self.bind = (host, free_port(host, netns=netns))
        self.http = (host, free_port(host, netns=netns))
        argv = [sys.executable, "-m", "trio_gossip", "agent", "--name", name]
        argv += ["--bind", f"{host}:{self.bind[1]}", "--http", f"{host}:{self.http[1]}"]
        argv += ["--profile", profile, "--log-level", "debug"]
        for address in join:
            argv += ["--join", address]
        for key in keys:
            argv += ["--encrypt", base64.b64encode(key).decode()]
        if label:
            argv += ["--label", label]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        self.process = Process(name, in_netns(netns, argv), log_dir / f"agent-{name}.log", env)

    @property
    def address(self) -> str:
        return f"{self.bind[0]}:{self.bind[1]}"

    def get(self, path: str) -> Any:
        return http_get(self.http, path, self.netns)

    def wait_ready(self, timeout: float = 20.0) -> CliAgent:
        def up() -> bool:
            if not self.process.alive():
                raise AssertionError(f"agent {self.name} exited:\n{self.process.log()}")
            return bool(self.get("/v1/health"))

        wait_until(up, timeout, what=f"agent {self.name} HTTP")
        return self

    def members(self) -> dict[str, dict[str, Any]]:
        return {m["name"]: m for m in self.get("/v1/members")}

    def states(self) -> dict[str, str]:
        """name -> state in memberlist's words (the agent says ``failed`` for dead)."""
        words = {"failed": "dead"}
        return {name: words.get(m["state"], m["state"]) for name, m in self.members().items()}

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self.get("/v1/stats")
        return result

    def kill(self) -> None:
        self.process.kill()

    def stop(self) -> None:
        self.process.stop()
