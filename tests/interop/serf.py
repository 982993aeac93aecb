"""Real Serf agents for the interop tests, and a small client for Serf's RPC protocol.

The RPC (msgpack over TCP: a request header ``{Command, Seq}`` and body, answered by
``{Seq, Error}`` and a body) is what ``serf members`` uses; speaking it directly lets a test
poll several agents every 50 ms without starting a process per poll.
"""

from __future__ import annotations

import base64
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgpack

from .procs import Process, in_netns, netns_socket, require, wait_until

RPC_TIMEOUT = 15.0
# Commands whose answer has a body after the header.
_WITH_BODY = {"members", "join", "stats", "install-key", "use-key", "remove-key", "list-keys"}


class SerfRPCError(Exception):
    pass


def _text(value: object) -> object:
    """go-msgpack sends strings as raw bytes; make the readable ones str (Addr stays bytes)."""
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError:
            return value
    if isinstance(value, list):
        return [_text(v) for v in value]
    if isinstance(value, dict):
        return {_text(k): _text(v) for k, v in value.items()}
    return value


class SerfRPC:
    """One connection to an agent's RPC address (inside ``netns`` when given)."""

    def __init__(self, address: tuple[str, int], netns: str | None = None) -> None:
        self._ctx = netns_socket(netns, socket.AF_INET, socket.SOCK_STREAM)
        self._sock = self._ctx.__enter__()
        try:
            self._sock.settimeout(RPC_TIMEOUT)
            self._sock.connect(address)
        except BaseException:
            self._ctx.__exit__(None, None, None)
            raise
        self._unpacker = msgpack.Unpacker(raw=True)
        self._seq = 0
        self.call("handshake", {"Version": 1})

    def close(self) -> None:
        self._ctx.__exit__(None, None, None)

    def __enter__(self) -> SerfRPC:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read(self) -> Any:
        while True:
            try:
                return self._unpacker.unpack()
            except msgpack.OutOfData:
                data = self._sock.recv(65536)
                if not data:
                    raise ConnectionError("serf closed the RPC connection") from None
                self._unpacker.feed(data)

    def call(self, command: str, body: Mapping[str, Any] | None = None) -> Any:
        self._seq += 1
        out = msgpack.packb({"Command": command, "Seq": self._seq})
        if body is not None:
            out += msgpack.packb(dict(body))
        self._sock.sendall(out)
        header = _text(self._read())
        if not isinstance(header, dict) or header.get("Seq") != self._seq:
            raise SerfRPCError(f"{command}: unexpected answer header {header!r}")
        result = _text(self._read()) if command in _WITH_BODY else None
        if header.get("Error"):
            raise SerfRPCError(f"{command}: {header['Error']}")
        return result

    def members(self) -> dict[str, dict[str, Any]]:
        """Name -> member (Status, Tags, Port, Addr, Protocol*/Delegate*)."""
        return {m["Name"]: m for m in self.call("members")["Members"]}

    def join(self, *addresses: str) -> int:
        return int(self.call("join", {"Existing": list(addresses), "Replay": False})["Num"])

    def event(self, name: str, payload: bytes, coalesce: bool = False) -> None:
        self.call("event", {"Name": name, "Payload": payload, "Coalesce": coalesce})

    def stats(self) -> dict[str, dict[str, str]]:
        result: dict[str, dict[str, str]] = self.call("stats")
        return result

    def key(self, op: str, key: bytes | None = None) -> dict[str, Any]:
        """install-key / use-key / remove-key / list-keys; the cluster-wide answer."""
        body = None if key is None else {"Key": base64.b64encode(key).decode()}
        return dict(self.call(op, body))

    def leave(self) -> None:
        self.call("leave")


class SerfAgent:
    """``serf agent`` on loopback (or in a namespace), with its RPC client."""

    def __init__(
        self,
        name: str,
        bind: tuple[str, int],
        rpc: tuple[str, int],
        log_dir: Path,
        *,
        tags: Mapping[str, str] | None = None,
        key: bytes | None = None,
        netns: str | None = None,
        extra: list[str] | None = None,
    ) -> None:
        self.name = name
        self.bind = bind
        self.rpc_address = rpc
        self.netns = netns
        argv = [
            require("serf"),
            "agent",
            f"-node={name}",
            f"-bind={bind[0]}:{bind[1]}",
            f"-rpc-addr={rpc[0]}:{rpc[1]}",
            "-log-level=debug",
        ]
        for k, v in (tags or {}).items():
            argv.append(f"-tag={k}={v}")
        if key is not None:
            argv.append(f"-encrypt={base64.b64encode(key).decode()}")
        argv += extra or []
        self.process = Process(name, in_netns(netns, argv), log_dir / f"serf-{name}.log")
        self._rpc: SerfRPC | None = None

    @property
    def gossip_address(self) -> str:
        return f"{self.bind[0]}:{self.bind[1]}"

    def rpc(self) -> SerfRPC:
        if self._rpc is None:
            self._rpc = SerfRPC(self.rpc_address, self.netns)
        return self._rpc

    def wait_ready(self, timeout: float = 10.0) -> None:
        def up() -> bool:
            if not self.process.alive():
                raise AssertionError(f"serf {self.name} exited:\n{self.process.log()}")
            return bool(self.rpc().members())

        wait_until(up, timeout, what=f"serf {self.name} RPC")

    def statuses(self) -> dict[str, str]:
        """Name -> Serf status (alive, leaving, left, failed) as this agent sees it."""
        try:
            return {name: m["Status"] for name, m in self.rpc().members().items()}
        except (OSError, ConnectionError):
            self.drop_rpc()
            raise

    def drop_rpc(self) -> None:
        if self._rpc is not None:
            self._rpc.close()
            self._rpc = None

    def close(self) -> None:
        self.drop_rpc()
        self.process.kill()
