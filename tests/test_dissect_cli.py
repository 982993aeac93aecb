"""``trio-gossip dissect`` end to end through ``main([...])``, and its usage errors."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from trio_gossip.apps.cli import EXIT_OK, EXIT_USAGE, SUBCOMMANDS, main

pytest.importorskip("scapy")

CAPTURED = Path(__file__).resolve().parents[1].parent / "shared" / "vectors/memberlist/captured"
KEY = (CAPTURED / "encrypt-key.txt").read_text().strip()
HEADER = re.compile(r"^#(\d+) (\d+\.\d{6}) (udp|tcp) (\S+) -> (\S+)( \([a-z>-]+\))? (.*)$")
JSON_KEYS = {
    "payload", "frame", "time", "transport", "src", "dst", "direction", "layering", "path",
    "type", "fields", "error", "note", "length", "hex",
}  # fmt: skip


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def test_text_output(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "dissect", str(CAPTURED / "tcp-fallback.pcap"))
    assert (status, err) == (EXIT_OK, "")
    lines = out.splitlines()
    headers = [HEADER.match(line) for line in lines if line.startswith("#")]
    assert all(headers)
    assert all(line.startswith("    ") for line in lines if not line.startswith("#"))
    ping = lines.index(
        "#55 3.006604 tcp 127.0.0.1:51208 -> 127.0.0.1:7946 (client->server) compress > ping"
    )
    assert lines[ping + 1] == (
        '    Node="a" SeqNo=3 SourceAddr=127.0.0.3 SourceNode="c" SourcePort=7948'
    )
    ack = lines.index(
        "#58 3.006881 tcp 127.0.0.1:7946 -> 127.0.0.1:51208 (server->client) compress > ack"
    )
    assert lines[ack + 1] == "    Payload=nil SeqNo=3"
    assert "undecodable" not in out


def test_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "dissect", str(CAPTURED / "cluster.pcap"), "--json")
    assert status == EXIT_OK
    objs = [json.loads(line) for line in out.splitlines()]
    assert len(objs) > 203  # more messages than datagrams: compounds hold several
    assert all(set(o) == JSON_KEYS for o in objs)
    (suspect,) = [o for o in objs if o["frame"] == 165 and o["type"] == "suspect"]
    assert suspect == suspect | {
        "transport": "udp",
        "src": "127.0.0.1:7946",
        "dst": "127.0.0.3:7948",
        "direction": None,
        "layering": "hasCrc > compound[1] > suspect",
        "path": ["hasCrc", "compound[1]", "suspect"],
        "fields": {"From": "a", "Incarnation": 1, "Node": "c"},
        "error": None,
        "time": 12.486745,  # as in vectors/suspect-1.json
    }
    (alive,) = [o for o in objs if o["frame"] == 21 and o["path"][-2] == "compound[0]"]
    assert alive["fields"]["Addr"] == "127.0.0.3"
    assert alive["fields"]["Vsn"] == "010502020505"
    assert alive["fields"]["Meta"] == "ff82a4726f6c65a56361636865a26463a26c6f"
    push = [o for o in objs if o["type"] == "pushPull"]
    assert push[0]["fields"]["Nodes"][0]["Name"] == "b"
    assert push[0]["direction"] == "client->server"


def test_encrypted_with_keyring(capsys: pytest.CaptureFixture[str]) -> None:
    other = base64.b64encode(bytes(range(16))).decode()
    capture = str(CAPTURED / "encrypted.pcap")
    status, out, _ = run(capsys, "dissect", capture, "--key", other, "--key", KEY, "--json")
    assert status == EXIT_OK
    objs = [json.loads(line) for line in out.splitlines()]
    assert all(o["error"] is None for o in objs)
    assert sum(o["path"][0] == "encrypt" and o["transport"] == "udp" for o in objs) >= 227


def test_encrypted_without_key_reports_not_crashes(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "dissect", str(CAPTURED / "encrypted.pcap"))
    assert status == EXIT_OK
    assert out.count("undecodable") == 227 + 6
    assert "no key was given" in out
    assert "Traceback" not in out


def test_summary(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "dissect", str(CAPTURED / "tcp-fallback.pcap"), "--summary")
    assert status == EXIT_OK
    table = out.split("\n\n")[-1].splitlines()
    assert table[0].split() == ["type", "tcp", "udp"]
    assert "ping 8 29" in [" ".join(row.split()) for row in table]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["dissect", "{cap}", "--key", "not base64!"], "not valid base64"),
        (["dissect", "{cap}", "--key", base64.b64encode(b"short").decode()], "16, 24 or 32"),
        (["dissect", "{missing}"], "cannot read"),
        (["dissect", "{cap}", "--label", "x" * 256], "longer than 255"),
        (["dissect", "{cap}", "--json", "--summary"], "not allowed with"),
        (["dissect"], "required"),
        (["frobnicate"], "invalid choice"),
        ([], "required"),
    ],
)
def test_usage_errors(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str], message: str
) -> None:
    cap, missing = str(CAPTURED / "cluster.pcap"), str(tmp_path / "missing.pcap")
    status, out, err = run(capsys, *(a.format(cap=cap, missing=missing) for a in args))
    assert status == EXIT_USAGE
    assert out == ""
    assert message in err
    assert "Traceback" not in err


def test_not_a_capture_is_a_usage_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    junk = tmp_path / "junk.pcap"
    junk.write_text("hello")
    status, _, err = run(capsys, "dissect", str(junk))
    assert status == EXIT_USAGE
    assert "trio-gossip dissect: error: cannot read" in err


def test_help_lists_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "--help")
    assert status == EXIT_OK
    for command in SUBCOMMANDS:
        assert command.name in out


def test_fresh_process_is_light_and_reads_captures() -> None:
    # A new interpreter: --help must not load scapy or trio, and reading a capture must
    # register scapy's link layers itself (no test module has imported scapy.all there).
    code = (
        "import sys\n"
        "from trio_gossip.apps.cli import main\n"
        "assert main(['--help']) == 0\n"
        "assert 'scapy' not in sys.modules and 'trio' not in sys.modules, 'heavy import'\n"
        f"sys.exit(main(['dissect', {str(CAPTURED / 'cluster.pcap')!r}, '--summary']))\n"
    )
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    rows = {" ".join(row.split()) for row in done.stdout.splitlines()}
    assert {"ping 0 52", "pushPull 4 0"} <= rows
