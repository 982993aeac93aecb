"""The agent's start-up failures end in one line naming what is wrong (no traceback, no
nested reprs), in a real process: a port in use, an address we cannot bind, unreadable
secret files."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

AGENT = [sys.executable, "-m", "trio_gossip", "agent", "--name", "a", "--log-level", "warning"]
TIMEOUT = 60.0


def run_agent(*argv: str) -> subprocess.CompletedProcess[str]:
    argv = [*AGENT, *argv]
    return subprocess.run(argv, check=False, capture_output=True, text=True, timeout=TIMEOUT)


def assert_clean(stderr: str) -> None:
    assert "Traceback" not in stderr
    assert "Errno" not in stderr
    assert "Error(" not in stderr  # no exception reprs


def test_an_http_port_in_use_names_the_address() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_agent("--bind", "127.0.0.1:0", "--http", f"127.0.0.1:{port}")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"trio-gossip agent: cannot start: --http 127.0.0.1:{port}: address already in use"
    ]


def test_a_gossip_port_in_use_names_the_address() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        result = run_agent("--bind", f"127.0.0.1:{port}")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"trio-gossip agent: cannot start: cannot bind 127.0.0.1:{port}: Address already in use"
    ]


def test_an_address_not_on_this_machine_says_so() -> None:
    result = run_agent("--bind", "192.0.2.1:0")  # TEST-NET-1: on no interface here
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("trio-gossip agent: cannot start: cannot bind 192.0.2.1:0: ")
    assert_clean(result.stderr)


def test_an_unresolvable_bind_is_a_usage_error() -> None:
    result = run_agent("--bind", "no-such-host.invalid:7946")
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1].startswith(
        "trio-gossip agent: error: argument --bind: 'no-such-host.invalid:7946': cannot resolve"
    )
    assert_clean(result.stderr)


def test_an_unreadable_keyring_file_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "keyring.json"
    result = run_agent("--bind", "127.0.0.1:0", "--keyring-file", str(missing))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"trio-gossip agent: error: --keyring-file {missing}: No such file or directory"
    ]
    assert_clean(result.stderr)


def test_a_keyring_file_that_is_not_json_says_so(tmp_path: Path) -> None:
    bad = tmp_path / "keyring.json"
    bad.write_text("not json")
    result = run_agent("--bind", "127.0.0.1:0", "--keyring-file", str(bad))
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith(f"trio-gossip agent: error: --keyring-file {bad}: not JSON: ")
    assert_clean(result.stderr)


def test_an_unreadable_token_file_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "token"
    argv = ["--bind", "127.0.0.1:0", "--http", "127.0.0.1:0", "--http-token-file", str(missing)]
    result = run_agent(*argv)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"trio-gossip agent: error: --http-token-file {missing}: No such file or directory"
    ]
    assert_clean(result.stderr)
