"""examples/kubernetes/ holds together as far as this machine can tell without a cluster: the
manifests parse, every flag they and the Containerfile pass to ``trio-gossip agent`` is one
the agent's parser has, the join address is dskit's ``dns+`` form (tests/test_discovery_dns.py
resolves it), secrets arrive as files, and the probe and scrape paths are served."""

from __future__ import annotations

import http.client
import json
import re
from pathlib import Path
from typing import Any

import pytest
import trio
import yaml

from trio_gossip.apps.agent.options import AgentOptions
from trio_gossip.apps.agent.runner import open_agent
from trio_gossip.apps.cli import build_parser
from trio_gossip.shell.node.discovery import DNS_A, PREFIXES
from trio_gossip.transport.memory import MemoryNetwork

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "kubernetes"
ENV_SAMPLES = {"POD_NAME": "trio-gossip-0", "POD_IP": "10.1.2.3"}


def documents() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(EXAMPLE.glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    return docs


def one(kind: str) -> dict[str, Any]:
    [doc] = [d for d in documents() if d["kind"] == kind]
    return doc


def agent_container() -> dict[str, Any]:
    [container] = one("StatefulSet")["spec"]["template"]["spec"]["containers"]
    return container


def containerfile_instruction(name: str) -> list[str]:
    """The exec (JSON) form of a Containerfile instruction."""
    text = (EXAMPLE / "Containerfile").read_text()
    [line] = [ln for ln in text.splitlines() if ln.startswith(f"{name} ")]
    value: list[str] = json.loads(line[len(name) + 1 :])
    return value


def agent_flags() -> set[str]:
    parser = build_parser()
    argv = parser.parse_args(["agent", "--name", "x"])
    agent_parser = argv.parser
    return {o for a in agent_parser._actions for o in a.option_strings}


def expand(arg: str) -> str:
    """Kubernetes' $(VAR) expansion in args, with sample values."""
    return re.sub(r"\$\((\w+)\)", lambda m: ENV_SAMPLES[m.group(1)], arg)


def check_argv(args: list[str]) -> None:
    known = agent_flags()
    for arg in args:
        if arg.startswith("-"):
            flag = arg.partition("=")[0]
            assert flag in known, f"{flag} is not a flag of trio-gossip agent"  # no abbreviations
    build_parser().parse_args(["agent", *map(expand, args)])  # values parse too


def test_the_manifests_parse_as_a_headless_service_and_a_statefulset() -> None:
    kinds = sorted(d["kind"] for d in documents())
    assert kinds == ["Service", "StatefulSet"]
    service = one("Service")
    assert service["spec"]["clusterIP"] == "None"
    assert one("StatefulSet")["spec"]["serviceName"] == service["metadata"]["name"]


def test_the_containerfile_runs_the_agent_with_the_extras() -> None:
    assert containerfile_instruction("ENTRYPOINT") == ["trio-gossip", "agent"]
    check_argv(containerfile_instruction("CMD"))
    text = (EXAMPLE / "Containerfile").read_text()
    assert re.search(r"pip install .*\[[^]]*http[^]]*\]", text)
    assert re.search(r"pip install .*\[[^]]*metrics[^]]*\]", text)


def test_every_flag_of_the_statefulset_is_an_agent_flag() -> None:
    container = agent_container()
    assert "command" not in container  # the image's entrypoint: trio-gossip agent
    check_argv(container["args"])


def test_the_join_address_is_dns_plus_the_headless_service() -> None:
    args = agent_container()["args"]
    [join] = [a.partition("=")[2] for a in args if a.startswith("--join=")]
    assert next(p for p in PREFIXES if join.startswith(p)) == DNS_A
    service = one("Service")
    host, _, port = join[len(DNS_A) :].rpartition(":")
    assert host.startswith(f"{service['metadata']['name']}.")
    gossip = {p["port"] for p in service["spec"]["ports"] if p["name"].startswith("gossip")}
    assert gossip == {int(port)}


def test_secrets_are_files_from_a_secret_never_argv() -> None:
    spec = one("StatefulSet")["spec"]["template"]["spec"]
    assert any("secret" in v for v in spec["volumes"])
    args = agent_container()["args"]
    assert any(a.startswith("--keyring-file=") for a in args)
    assert any(a.startswith("--http-token-file=") for a in args)
    assert not any(a.startswith("--encrypt") for a in args)


def http_get(address: tuple[str, int], path: str) -> int:
    conn = http.client.HTTPConnection(*address, timeout=10)
    try:
        conn.request("GET", path)  # no token: probes and scrapes carry none
        return conn.getresponse().status
    finally:
        conn.close()


@pytest.mark.parametrize("kind", ["readinessProbe", "livenessProbe"])
async def test_the_probe_and_scrape_paths_are_served(kind: str) -> None:
    container = agent_container()
    annotations = one("StatefulSet")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    http_port = {p["name"]: p["containerPort"] for p in container["ports"]}["http"]
    assert annotations["prometheus.io/port"] == str(http_port)
    paths = [container[kind]["httpGet"]["path"], annotations["prometheus.io/path"]]
    opts = AgentOptions(name="a", http=("127.0.0.1", 0), http_token="secret")
    with trio.fail_after(30):
        async with open_agent(opts, transport=MemoryNetwork(seed=1).add_node()) as agent:
            assert agent.http_address is not None
            address = agent.http_address
            for path in paths:
                status = await trio.to_thread.run_sync(http_get, address, path)
                assert status == 200, path
