"""What a configuration does not use is not imported: a node without keys never loads
cryptography (about 7 MiB of RSS), and the agent without --http loads no HTTP server, metrics
or templates. Each check runs in a fresh interpreter, as sys.modules here is shared."""

from __future__ import annotations

import ast
import json
import subprocess
import sys

HEAVY = ("cryptography", "hypercorn", "prometheus_client", "jinja2", "google", "scapy")

PROBE = """
import json, sys
import trio
from trio_gossip import Config, open_memberlist
from trio_gossip.apps.agent import runner  # noqa: F401  (what `trio-gossip agent` runs)

async def main():
    async with open_memberlist(Config.local(name="a", bind_addr="127.0.0.1", bind_port=0)):
        await trio.sleep(0.1)

trio.run(main)
ours = sorted(m for m in sys.modules if m.startswith("trio_gossip."))
before = sorted({m.split(".")[0] for m in sys.modules})
from trio_gossip.wire.crypto import Keyring, decrypt_payload, encrypt_payload
ring = Keyring([bytes(16)])
assert decrypt_payload(ring, encrypt_payload(1, ring, b"x", b""), b"") == b"x"
print(json.dumps({"before": before, "ours": ours,
                  "after": sorted({m.split(".")[0] for m in sys.modules})}))
"""


def test_a_node_without_keys_loads_no_crypto_nor_extras() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                          timeout=60, check=True)  # fmt: skip
    loaded = json.loads(done.stdout.splitlines()[-1])
    assert not set(HEAVY) & set(loaded["before"]), set(HEAVY) & set(loaded["before"])
    assert "cryptography" in loaded["after"]  # a key in use loads it
    # Nor the simulated network, the packet tracer (dissect) or the ring package: a node on
    # sockets without a ring has no use for them.
    unused = ("trio_gossip.transport.memory", "trio_gossip.wire.trace", "trio_gossip.core.ring")
    assert not [m for m in loaded["ours"] if m.startswith(unused)]


AGENT_PROBE = """
import sys
import trio
from trio_gossip.apps.cli import _chosen, build_parser
from trio_gossip.apps.agent.command import agent_options
from trio_gossip.apps.agent.log_setup import setup_logging
from trio_gossip.apps.agent.runner import open_agent

argv = ["agent", "--name", "a", "--bind", "127.0.0.1:0"]
opts = agent_options(build_parser(_chosen(argv)).parse_args(argv))
setup_logging("warning")

async def main():
    async with open_agent(opts) as agent:
        assert agent.node.num_members() == 1
        await trio.sleep(0.1)

trio.run(main)
print(sorted(sys.modules))  # repr, not json: the probe must not load json itself
"""


def test_an_agent_without_a_ring_or_http_loads_neither() -> None:
    """`trio-gossip agent` as the command line starts it (its options parsed, its logging
    set up, the agent run): the KV store, the endpoint and the other subcommands' options stay
    unloaded, and so do the JSON modules only they and JSON logs use."""
    done = subprocess.run([sys.executable, "-c", AGENT_PROBE], capture_output=True, text=True,
                          timeout=60, check=True)  # fmt: skip
    loaded = ast.literal_eval(done.stdout.splitlines()[-1])
    unused = (
        "trio_gossip.core.kv", "trio_gossip.core.engine.kv", "trio_gossip.apps.agent.http",
        "trio_gossip.apps.agent.endpoint", "trio_gossip.apps.agent.api",
        "trio_gossip.apps.agent.guard", "trio_gossip.apps.agent.keyring_file",
        "trio_gossip.apps.dissect", "trio_gossip.apps.demo_options", "json",
    )  # fmt: skip
    assert not [m for m in loaded if m.startswith(unused)]
    assert "trio_gossip.apps.agent.runner" in loaded  # the probe did run the agent
