"""``trio-gossip agent`` / ``members`` argument handling: bad flags fail early with exit 2."""

from __future__ import annotations

import socket

import pytest

from trio_gossip.apps.agent.options import (
    AgentOptions,
    parse_host_port,
    parse_join_target,
    parse_key,
)
from trio_gossip.apps.cli import main

KEY = "5K9OtfP7efFrNKe5WCQvXvnaXJ5cWP0SvXiwe0kkjM4="  # what `serf keygen` prints (32 bytes)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["agent"], "--name"),
        (["agent", "--name", "a", "--bind", "no-such-host.invalid:7946"], "cannot resolve"),
        (["agent", "--name", "a", "--bind", "127.0.0.1:70000"], "0..65535"),
        (["agent", "--name", "a", "--bind", "::1:7946"], "[ADDR]:PORT"),
        (["agent", "--name", "a", "--join", "127.0.0.1:x"], "1..65535"),
        (["agent", "--name", "a", "--encrypt", "not base64!"], "base64"),
        (["agent", "--name", "a", "--encrypt", "AAAA"], "16, 24 or 32"),
        (["agent", "--name", "a", "--tag", "novalue"], "KEY=VALUE"),
        (["agent", "--name", "a", "--profile", "fast"], "invalid choice"),
        (["agent", "--name", "a", "--http", "192.0.2.1:8080"], "--http-allow-remote"),
        (["agent", "--name", "a", "--tag", "k=" + "v" * 600], "512"),
        (["agent", "--name", "a", "--label", "x" * 300], "255"),
        (["agent", "--name", "a", "--message-history-buffer-bytes", "-5"], "whole number"),
        (["members"], "--http"),
    ],
)
def test_bad_flags_exit_2_with_a_message(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "usage:" in err
    assert message in err


def test_members_without_an_agent_fails_with_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["members", "--http", "127.0.0.1:1"]) == 1
    assert "cannot reach the agent" in capsys.readouterr().err


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "agent" in out
    assert "members" in out


def test_host_port_forms() -> None:
    assert parse_host_port("127.0.0.1:7946") == ("127.0.0.1", 7946)
    assert parse_host_port("[::1]:0") == ("::1", 0)
    assert parse_host_port("10.0.0.1", 7946) == ("10.0.0.1", 7946)
    assert parse_host_port("[::1]", 7946) == ("::1", 7946)
    with pytest.raises(ValueError, match=r"\[ADDR\]:PORT"):
        parse_host_port("::1", 7946)  # ambiguous: "::1:7946" is an IPv6 address too
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_host_port("10.0.0.1")
    with pytest.raises(ValueError, match="IPV6"):
        parse_host_port("[::1")
    # Host names are resolved once, to an address the socket can bind (IPv4 first).
    assert parse_host_port("localhost:7946") == ("127.0.0.1", 7946)
    assert parse_host_port("localhost", 8080) == ("127.0.0.1", 8080)
    with pytest.raises(ValueError, match=r"cannot resolve 'no-such-host\.invalid'"):
        parse_host_port("no-such-host.invalid:7946")
    with pytest.raises(ValueError, match="not an IPv6 address"):
        parse_host_port("[localhost]:7946")


def test_join_targets_allow_names_and_default_ports() -> None:
    for text in ("127.0.0.1", "127.0.0.1:7946", "serf-a:7946", "[::1]:7946", "::1"):
        assert parse_join_target(text) == text
    for bad in ("", "host:", ":7946", "[::1]:", "[::1]x"):
        with pytest.raises(ValueError, match=r"join address|IPV6|no host"):
            parse_join_target(bad)


def test_keys_and_options() -> None:
    assert len(parse_key(KEY)) == 32
    opts = AgentOptions(name="a", http=("::1", 80), keys=(parse_key(KEY),))
    assert opts.bind == ("0.0.0.0", 7946)
    assert AgentOptions(name="a", http=("192.0.2.1", 80), http_allow_remote=True).http
    with pytest.raises(ValueError, match="loopback"):
        AgentOptions(name="a", http=("192.0.2.1", 80))
    with pytest.raises(ValueError, match="profile"):
        AgentOptions(name="a", profile="fast")


def test_an_address_in_use_fails_cleanly_with_1(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        port = udp.getsockname()[1]
        assert main(["agent", "--name", "a", "--bind", f"127.0.0.1:{port}"]) == 1
    assert "cannot start" in capsys.readouterr().err


def test_an_http_port_in_use_fails_cleanly_with_1(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
        tcp.bind(("127.0.0.1", 0))
        tcp.listen()
        port = tcp.getsockname()[1]
        argv = ["agent", "--name", "a", "--bind", "127.0.0.1:0", "--http", f"127.0.0.1:{port}"]
        assert main(argv) == 1
    assert "cannot start" in capsys.readouterr().err
