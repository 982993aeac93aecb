"""Regenerate the dskit captures: real traffic of grafana/dskit's memberlist KV, by tcpdump.

    python3 tests/vectors/dskit/capture.py     (needs Go, tcpdump, and root or user namespaces)

It re-runs itself in a new network namespace (``unshare -n``, or ``unshare -rn`` where only user
namespaces are allowed), so nothing but its own traffic is on the loopback interface it records.
There it starts ``tcpdump -i lo`` and the dskit test peer (tests/peers/dskit, ``serve``): three
dskit nodes on 127.0.0.1 ports 7946-7948 (dskit's default bind port and the next two), each with
dskit's memberlist KV over dskit's TCP transport and a ring.BasicLifecycler that registers
``instance-<i>`` with four tokens on the ring key ``ring``. After two push/pull rounds it makes
instance-2 LEAVING, then has it leave (a LEFT tombstone); the recording stops before the nodes
do. One capture per compression algorithm of grafana's memberlist fork: LZW (dskit's default)
and snappy.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PEER = HERE.parents[1] / "peers" / "bin" / "dskit"
BUILD = HERE.parents[1] / "peers" / "build.sh"
INSIDE = "TRIO_GOSSIP_DSKIT_CAPTURE_NETNS"
BASE_PORT = 7946
RUNS = {"dskit-lzw.pcap": "lzw", "dskit-snappy.pcap": "snappy"}


class Peer:
    """The dskit peer's ``serve`` mode and its JSON-lines control channel (see serve.go)."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [str(PEER), "serve", *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.ready = self.read()

    def read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit("the dskit peer exited")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def command(self, **cmd: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        answer = self.read()
        if "error" in answer:
            raise SystemExit(f"dskit peer: {answer}")
        return answer


def record(out: Path, compression: str) -> None:
    """One run inside the namespace: tcpdump on lo around three dskit nodes.

    Beside the capture, ``<name>.json`` keeps what the Go side said over its control channel
    (stdin/stdout, not the network): the nodes, and the ring node 0 held before instance-2
    changed state and at the end of the recording.
    """
    dump = subprocess.Popen(
        ["tcpdump", "-i", "lo", "-U", "-Z", "root", "-w", str(out), "tcp"],
        stderr=subprocess.PIPE,
    )
    time.sleep(1.0)  # tcpdump is listening once it has opened the interface
    peer = Peer(
        "-nodes", "3",
        "-base-port", str(BASE_PORT),
        "-tokens", "4",
        "-heartbeat-period", "1s",
        "-gossip-interval", "200ms",
        "-pushpull-interval", "1s",
        "-compression", compression,
    )  # fmt: skip
    truth: dict[str, Any] = {"compression": compression, "nodes": peer.ready["nodes"]}
    try:
        time.sleep(2.2)  # joins, heartbeats and two push/pull rounds: every node has the ring
        truth["ring_before"] = peer.command(cmd="ring", node=0)
        peer.command(cmd="state", node=2, state="LEAVING")
        time.sleep(1.2)
        peer.command(cmd="leave", node=2)  # the lifecycler unregisters: a LEFT tombstone
        time.sleep(1.2)
        truth["ring_end"] = peer.command(cmd="ring", node=0)
    finally:
        # Stopping dskit's KV takes seconds of leave timeouts and adds nothing: not recorded.
        dump.send_signal(signal.SIGINT)
        _, err = dump.communicate(timeout=30)
        sys.stderr.write(err.decode())
        try:
            peer.command(cmd="quit")
            peer.proc.wait(timeout=30)
        finally:
            if peer.proc.poll() is None:
                peer.proc.kill()
                peer.proc.wait()
    out.with_suffix(".json").write_text(json.dumps(truth, indent=1, sort_keys=True) + "\n")


def main() -> None:
    if os.environ.get(INSIDE) == "1":
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        for name, compression in RUNS.items():
            record(HERE / name, compression)
        return
    for tool in ("tcpdump", "unshare", "ip"):
        if shutil.which(tool) is None:
            raise SystemExit(f"capture.py needs {tool} on PATH")
    subprocess.run(["bash", str(BUILD), "dskit"], check=True)
    env = {**os.environ, INSIDE: "1"}
    namespace = ["unshare", "-n"] if os.geteuid() == 0 else ["unshare", "-rn"]
    subprocess.run([*namespace, sys.executable, __file__], check=True, env=env)


if __name__ == "__main__":
    main()
