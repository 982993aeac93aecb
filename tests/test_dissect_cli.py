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

from trio_gossip.apps.cli import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, SUBCOMMANDS, main

pytest.importorskip("scapy")

CAPTURED = Path(__file__).resolve().parents[1].parent / "shared" / "vectors/memberlist/captured"
KEY = (CAPTURED / "encrypt-key.txt").read_text().strip()
HEADER = re.compile(r"^#(\d+) (\d+\.\d{6}) (udp|tcp) (\S+) -> (\S+)( \([a-z>-]+\))? (.*)$")
JSON_KEYS = {
    "payload", "frame", "time", "transport", "src", "dst", "direction", "layering", "path",
    "type", "fields", "error", "note", "length", "hex", "sender", "kv", "kv_error",
}  # fmt: skip
# The shipped captures' nodes gossip on 7946, 7947 and 7948 (and 7949 for a late node).
EVERY_NODE = ("--port", "7946-7949")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def test_text_output(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "dissect", str(CAPTURED / "tcp-fallback.pcap"), *EVERY_NODE)
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
    status, out, _ = run(capsys, "dissect", str(CAPTURED / "cluster.pcap"), "--json", *EVERY_NODE)
    assert status == EXIT_OK
    objs = [json.loads(line) for line in out.splitlines()]
    assert len(objs) > 203  # more messages than datagrams: compounds hold several
    assert all(set(o) == JSON_KEYS for o in objs)
    # Not dskit traffic: no sender address, no KV pairs read from the Serf user messages.
    assert {(o["sender"], o["kv"], o["kv_error"]) for o in objs} == {(None, None, None)}
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
    # State by memberlist's name, as the text shows it, not a bare number.
    states = {n["State"] for o in push for n in o["fields"]["Nodes"]}
    assert states == {"alive"}
    assert push[0]["fields"]["Nodes"][0]["State"] == "alive"


def test_encrypted_with_keyring(capsys: pytest.CaptureFixture[str]) -> None:
    other = base64.b64encode(bytes(range(16))).decode()
    capture = str(CAPTURED / "encrypted.pcap")
    status, out, _ = run(
        capsys, "dissect", capture, "--key", other, "--key", KEY, "--json", *EVERY_NODE
    )
    assert status == EXIT_OK
    objs = [json.loads(line) for line in out.splitlines()]
    assert all(o["error"] is None for o in objs)
    assert sum(o["path"][0] == "encrypt" and o["transport"] == "udp" for o in objs) >= 227


def test_encrypted_without_key_reports_not_crashes(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "dissect", str(CAPTURED / "encrypted.pcap"), *EVERY_NODE)
    assert status == EXIT_OK
    assert out.count("undecodable") == 227 + 6
    assert "no key was given" in out
    assert "Traceback" not in out


def test_summary(capsys: pytest.CaptureFixture[str]) -> None:
    capture = str(CAPTURED / "tcp-fallback.pcap")
    status, out, err = run(capsys, "dissect", capture, "--summary", *EVERY_NODE)
    assert (status, err) == (EXIT_OK, "")
    # Only the summary: no per-message header lines, no field lines, nothing before the table.
    table = out.splitlines()
    assert table[0].split() == ["type", "tcp", "udp"]
    assert not [line for line in table if line.startswith(("#", " "))]
    assert "ping 8 29" in [" ".join(row.split()) for row in table]
    assert "dskit ring" not in out  # no dskit KV in a Serf capture
    _, full, _ = run(capsys, "dissect", capture, *EVERY_NODE)
    assert full.count("\n#") > 100
    assert table[0] not in full.splitlines()


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
        f"sys.exit(main(['dissect', {str(CAPTURED / 'cluster.pcap')!r}, '--summary',"
        " '--port', 'all']))\n"
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


# --- --port ----------------------------------------------------------------------------------


def _endpoints(out: str) -> list[tuple[int, int]]:
    """(source port, destination port) of every header line of text output."""
    ports = []
    for line in out.splitlines():
        m = HEADER.match(line)
        if m:
            ports.append((int(m[4].rsplit(":", 1)[1]), int(m[5].rsplit(":", 1)[1])))
    return ports


def test_default_port_is_memberlists(capsys: pytest.CaptureFixture[str]) -> None:
    capture = str(CAPTURED / "cluster.pcap")
    status, out, err = run(capsys, "dissect", capture)
    assert status == EXIT_OK
    ports = _endpoints(out)
    assert ports
    assert all(7946 in pair for pair in ports)
    # The b <-> c datagrams (7947 <-> 7948, 51) and b's to itself (2) are left out, and a note
    # on stderr says so.
    assert (7947, 7948) not in ports
    assert (7948, 7947) not in ports
    (note,) = err.splitlines()
    assert note.startswith("trio-gossip dissect: note: 53 UDP/TCP frames on other ports")
    assert "busiest: 7947 (53 frames), 7948 (51 frames)" in note
    assert "--port" in note
    _, everything, _ = run(capsys, "dissect", capture, "--port", "all")
    assert len(_endpoints(everything)) > len(ports)
    assert (7947, 7948) in _endpoints(everything)


@pytest.mark.parametrize(
    "ports",
    [("--port", "7947,7948"), ("--port", "7947", "--port", "7948"), ("--port", "7947-7948")],
)
def test_port_filter(capsys: pytest.CaptureFixture[str], ports: tuple[str, ...]) -> None:
    status, out, err = run(capsys, "dissect", str(CAPTURED / "cluster.pcap"), *ports)
    assert (status, err) == (EXIT_OK, "")  # ports given: no note
    pairs = _endpoints(out)
    assert all({7947, 7948} & set(pair) for pair in pairs)
    assert {(7947, 7948), (7948, 7947), (7946, 7947), (7948, 7946)} <= set(pairs)
    assert not [p for p in pairs if p == (7946, 7946)]  # a's own datagrams: not on 7947/7948


def test_port_all_equals_every_port(capsys: pytest.CaptureFixture[str]) -> None:
    capture = str(CAPTURED / "tcp-fallback.pcap")
    _, listed, _ = run(capsys, "dissect", capture, "--port", "7946,7947,7948", "--json")
    _, every, _ = run(capsys, "dissect", capture, "--port", "all", "--json")
    _, some, _ = run(capsys, "dissect", capture, "--port", "7946", "--json")
    assert listed == every
    assert len(some.splitlines()) < len(every.splitlines())


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "'0' is not a port"),
        ("70000", "'70000' is not a port"),
        ("gossip", "'gossip' is not a port"),
        ("7948-7946", "port range '7948-7946' is empty"),
        ("7946,", "'' is not a port"),
    ],
)
def test_bad_ports(capsys: pytest.CaptureFixture[str], value: str, message: str) -> None:
    status, out, err = run(capsys, "dissect", str(CAPTURED / "cluster.pcap"), "--port", value)
    assert (status, out) == (EXIT_USAGE, "")
    assert message in err


# --- no memberlist traffic: exit status 1 and one line on stderr -------------------------------


def test_wrong_port_exits_nonzero(capsys: pytest.CaptureFixture[str]) -> None:
    capture = str(CAPTURED / "cluster.pcap")
    status, out, err = run(capsys, "dissect", capture, "--port", "53")
    assert status == EXIT_FAILURE
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith(f"trio-gossip dissect: no memberlist traffic in {capture}: ")
    assert "no UDP or TCP payload on port 53 in its 235 frames" in err
    # It names the ports that did carry payloads, so the user can pick them.
    assert "payloads on other ports: 7946 (" in err
    assert "7947 (" in err
    assert "--port" in err
    summary_status, summary_out, _ = run(capsys, "dissect", capture, "--port", "53", "--summary")
    assert (summary_status, summary_out) == (EXIT_FAILURE, "")


def _pcap(tmp_path: Path, packets: list[object]) -> str:
    scapy_all = pytest.importorskip("scapy.all")
    path = tmp_path / "other.pcap"
    scapy_all.wrpcap(str(path), packets)
    return str(path)


# A pcap file header (magic, version 2.4, zone, sigfigs, snap length, Ethernet) and no frame.
EMPTY_PCAP = bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000")


def test_wrong_file_exits_nonzero(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # Not gossip: a DNS query and an HTTP request, sent to port 7946. The query starts with
    # a zero byte, like an encrypted datagram, but the HTTP stream does not: no --key hint.
    scapy_all = pytest.importorskip("scapy.all")
    ether = scapy_all.Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    ip = scapy_all.IP(src="10.0.0.1", dst="10.0.0.2")
    dns = bytes(scapy_all.DNS(rd=1, qd=scapy_all.DNSQR(qname="example.org")))
    http = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    packets = [
        ether / ip / scapy_all.UDP(sport=5353, dport=7946) / dns,
        ether / ip / scapy_all.TCP(sport=40000, dport=7946, flags="S", seq=1),
        ether / ip / scapy_all.TCP(sport=40000, dport=7946, flags="PA", seq=2) / http,
    ]
    capture = _pcap(tmp_path, packets)
    status, out, err = run(capsys, "dissect", capture)
    assert status == EXIT_FAILURE
    assert out.count("undecodable") == 2  # what was there is still shown, with the reasons
    (line,) = err.splitlines()
    assert line == (
        f"trio-gossip dissect: no memberlist traffic in {capture}: none of its 2 UDP/TCP"
        " payloads on port 7946 decodes as memberlist (another protocol on that port?"
        " choose others with --port)"
    )


def test_empty_capture_exits_nonzero(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "empty.pcap"
    path.write_bytes(EMPTY_PCAP)
    capture = str(path)
    status, out, err = run(capsys, "dissect", capture, "--port", "all")
    assert (status, out) == (EXIT_FAILURE, "")
    assert err == (
        f"trio-gossip dissect: no memberlist traffic in {capture}: no UDP or TCP payload on any"
        " port in its 0 frames\n"
    )


def test_encrypted_only_suggests_a_key(capsys: pytest.CaptureFixture[str]) -> None:
    # Between b and c every datagram is encrypted: nothing decodes without the key.
    capture = str(CAPTURED / "encrypted.pcap")
    status, out, err = run(capsys, "dissect", capture, "--port", "7947-7948")
    assert status == EXIT_FAILURE
    assert "no key was given" in out
    assert err.count("\n") == 1
    assert "decodes as memberlist (encrypted? give the cluster's --key)" in err
    status, _, err = run(capsys, "dissect", capture, "--port", "7947-7948", "--key", KEY)
    assert (status, err) == (EXIT_OK, "")


def test_help_describes_the_options(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "dissect", "--help")
    assert status == EXIT_OK
    text = " ".join(out.split())
    for words in (
        "--port PORTS",
        "a range (7946-7948) or 'all'; repeatable. Default: 7946",
        "--summary print only a summary",
        "(no per-message lines)",
        "--dskit, --no-dskit",
        "(alive, suspect, dead, left) in text and JSON alike",
        "exit status: 0 done; 1 no memberlist traffic in the capture",
        "2 bad arguments",
    ):
        assert words in text, words
