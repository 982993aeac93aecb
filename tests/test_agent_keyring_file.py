"""``--keyring-file``: Serf's JSON keyring file, read at start and written back on changes."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
import trio.testing

from trio_gossip.apps.agent.command import agent_options
from trio_gossip.apps.agent.endpoint import endpoint
from trio_gossip.apps.agent.http import Request
from trio_gossip.apps.agent.keyring_file import load_keyring_file
from trio_gossip.apps.agent.options import AgentOptions
from trio_gossip.apps.agent.runner import open_agent
from trio_gossip.apps.cli import build_parser
from trio_gossip.transport.memory import MemoryNetwork

K1 = bytes(range(32))
K2 = bytes(range(100, 116))


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def test_load_names_the_file_and_the_fault(tmp_path: Path) -> None:
    path = tmp_path / "keyring"
    path.write_text(json.dumps([b64(K1), b64(K2)]))
    assert load_keyring_file(str(path)) == (K1, K2)
    for text, words in (("{}", "JSON list"), ("[]", "JSON list"), ("nope", "not JSON"),
                        (json.dumps(["abc"]), "key 0")):  # fmt: skip
        path.write_text(text)
        with pytest.raises(ValueError, match=words) as info:
            load_keyring_file(str(path))
        assert str(path) in str(info.value)
    with pytest.raises(ValueError, match="--keyring-file"):
        load_keyring_file(str(tmp_path / "missing"))


def test_the_cli_reads_keys_from_the_file_not_argv(tmp_path: Path) -> None:
    path = tmp_path / "keyring"
    path.write_text(json.dumps([b64(K2), b64(K1)]))
    parser = build_parser()
    args = parser.parse_args(["agent", "--name", "a", "--keyring-file", str(path)])
    assert agent_options(args).keys == (K2, K1)
    args = parser.parse_args(["agent", "--name", "a", "--keyring-file", str(path),
                              "--encrypt", b64(K1)])  # fmt: skip
    with pytest.raises(ValueError, match="exclude each other"):
        agent_options(args)


async def test_a_key_change_through_the_endpoint_is_written_back(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    path = tmp_path / "keyring"
    path.write_text(json.dumps([b64(K1)]))
    opts = AgentOptions(name="a", keys=load_keyring_file(str(path)), keyring_file=str(path))
    async with open_agent(opts, transport=MemoryNetwork(seed=1).add_node()) as agent:
        handle = endpoint(opts, agent)
        for op, key in (("install", K2), ("use", K2)):
            body = json.dumps({"key": b64(key)}).encode()
            request = Request("POST", f"/v1/keys/{op}", {},
                              {"content-type": "application/json"}, body)  # fmt: skip
            assert (await handle(request)).status == 200
        assert json.loads(path.read_text()) == [b64(K2), b64(K1)]
        assert os.stat(path).st_mode & 0o777 == 0o600
        # GET changes nothing.
        got = await handle(Request("GET", "/v1/keys/remove", {"key": b64(K1)}))
        assert got.status == 405
        assert json.loads(path.read_text()) == [b64(K2), b64(K1)]
