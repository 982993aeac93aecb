"""dskit's dns+ / dnssrv+ / dnssrvnoa+ join addresses against a real DNS server (dnsmasq,
started by the test on loopback), with A and SRV records that change between lookups.

Real time, every wait bounded by fail_after: dnsmasq and the nodes use real sockets.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from trio_gossip.core.config import Config
from trio_gossip.shell.memberlist import open_memberlist
from trio_gossip.shell.node.discovery import DiscoveryError, resolve_join_address
from trio_gossip.wire.errors import JoinError

pytest.importorskip("dns.asyncresolver")

if shutil.which("dnsmasq") is None:
    if os.environ.get("TRIO_GOSSIP_REQUIRE_INTEROP"):
        raise RuntimeError("dnsmasq is required (apt-get install dnsmasq-base)")
    pytest.skip("needs dnsmasq (apt-get install dnsmasq-base)", allow_module_level=True)

DOMAIN = "gossip.test"
SRV = f"_memberlist._tcp.{DOMAIN}"


def _free_port() -> int:
    # dnsmasq answers on UDP and TCP on the same port: find one free for both.
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = int(u.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind(("127.0.0.1", port))
                except OSError:
                    continue
        return port


class Dnsmasq:
    """One dnsmasq on 127.0.0.1:port that knows only the records given to ``serve``."""

    def __init__(self, workdir: Path) -> None:
        self.port = _free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def servers(self) -> tuple[tuple[str, int]]:
        return (("127.0.0.1", self.port),)

    def serve(self, hosts: dict[str, list[str]], srv: list[tuple[str, int]]) -> None:
        """(Re)start with these A records and SRV records (target, port) under SRV."""
        self.stop()
        hosts_file = self.workdir / "hosts"
        hosts_file.write_text(
            "".join(f"{ip} {name}\n" for name, ips in hosts.items() for ip in ips)
        )
        argv = ["dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv",
                "--no-hosts", f"--addn-hosts={hosts_file}", f"--port={self.port}",
                "--listen-address=127.0.0.1", "--bind-interfaces", "--pid-file",
                "--cache-size=0", "--log-facility=-", f"--local=/{DOMAIN}/"]  # fmt: skip
        if os.geteuid() == 0:
            argv.append("--user=root")  # else it drops to nobody, who cannot read the file
        argv += [f"--srv-host={SRV},{target},{port}" for target, port in srv]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # ready once it answers on TCP
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            if self.proc.poll() is not None:
                raise RuntimeError(f"dnsmasq exited: {self.proc.stderr.read()!r}")  # type: ignore[union-attr]
            time.sleep(0.02)
        raise RuntimeError("dnsmasq did not start within 5 s")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(5)
            self.proc = None


@pytest.fixture
def dnsmasq(tmp_path: Path) -> Iterator[Dnsmasq]:
    server = Dnsmasq(tmp_path)
    try:
        yield server
    finally:
        server.stop()


async def test_dns_a_gives_every_address_and_is_looked_up_again(dnsmasq: Dnsmasq) -> None:
    dnsmasq.serve({f"seed.{DOMAIN}": ["127.0.0.11", "127.0.0.12"]}, [])
    spec = f"dns+seed.{DOMAIN}:7100"
    with trio.fail_after(10):
        found = await resolve_join_address(spec, 7946, dns_servers=dnsmasq.servers)
        assert sorted(found) == [("127.0.0.11", 7100), ("127.0.0.12", 7100)]
        dnsmasq.serve({f"seed.{DOMAIN}": ["127.0.0.13"]}, [])
        assert await resolve_join_address(spec, 7946, dns_servers=dnsmasq.servers) == [
            ("127.0.0.13", 7100)
        ]
        with pytest.raises(DiscoveryError, match="found no address"):
            await resolve_join_address(f"dns+gone.{DOMAIN}:1", 7946, dns_servers=dnsmasq.servers)
    with pytest.raises(ValueError, match="HOST:PORT"):
        await resolve_join_address(f"dns+seed.{DOMAIN}", 7946, dns_servers=dnsmasq.servers)


async def test_dnssrv_resolves_targets_and_dnssrvnoa_does_not(dnsmasq: Dnsmasq) -> None:
    dnsmasq.serve(
        {f"a.{DOMAIN}": ["127.0.0.21"], f"b.{DOMAIN}": ["127.0.0.22"]},
        [(f"a.{DOMAIN}", 7001), (f"b.{DOMAIN}", 7002)],
    )
    servers = dnsmasq.servers
    with trio.fail_after(10):
        found = await resolve_join_address(f"dnssrv+{SRV}", 7946, dns_servers=servers)
        assert sorted(found) == [("127.0.0.21", 7001), ("127.0.0.22", 7002)]
        # The records change: the next lookup sees it (nothing cached).
        dnsmasq.serve({f"b.{DOMAIN}": ["127.0.0.23"]}, [(f"b.{DOMAIN}", 7003)])
        assert await resolve_join_address(f"dnssrv+{SRV}", 7946, dns_servers=servers) == [
            ("127.0.0.23", 7003)
        ]
        # dnssrvnoa+: the target names go to the system resolver, not to the DNS server's A
        # records ("localhost" is in every /etc/hosts; dnsmasq here has no A record for it).
        dnsmasq.serve({}, [("localhost", 7004)])
        found = await resolve_join_address(f"dnssrvnoa+{SRV}", 7946, dns_servers=servers)
        assert ("127.0.0.1", 7004) in found
        # while dnssrv+ asks the DNS server for the target's A record, which it cannot give.
        with pytest.raises(DiscoveryError, match="A lookup of 'localhost' failed"):
            await resolve_join_address(f"dnssrv+{SRV}", 7946, dns_servers=servers)


async def test_nodes_join_through_srv_records_that_move(dnsmasq: Dnsmasq) -> None:
    """Real UDP/TCP nodes join with ``dnssrv+``; when the record moves to another node, the
    next join follows it (the address is resolved on each attempt)."""
    servers = dnsmasq.servers

    def config(name: str) -> Config:
        return Config.local(name=name, bind_addr="127.0.0.1", bind_port=0, dns_servers=servers)

    with trio.fail_after(20):
        async with (
            open_memberlist(config("a")) as a,
            open_memberlist(config("b")) as b,
            open_memberlist(config("c")) as c,
            open_memberlist(config("d")) as d,
        ):
            dnsmasq.serve({f"a.{DOMAIN}": ["127.0.0.1"]}, [(f"a.{DOMAIN}", a.local_member.port)])
            assert await c.join(f"dnssrv+{SRV}") == 1
            dnsmasq.serve({f"b.{DOMAIN}": ["127.0.0.1"]}, [(f"b.{DOMAIN}", b.local_member.port)])
            assert await d.join([f"dnssrv+{SRV}"]) == 1
            assert {m.name for m in a.members()} == {"a", "c"}
            assert {m.name for m in b.members()} == {"b", "d"}
            dnsmasq.serve({}, [])
            with pytest.raises(JoinError, match="found no address"):
                await d.join(f"dnssrv+{SRV}")
