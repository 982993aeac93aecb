"""``trio-gossip dissect``: its options, and the run that reads a capture and prints records.

Only argparse and the standard library at import: `configure_dissect` runs for every
``trio-gossip --help``, and scapy and the codec are slow to load.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from trio_gossip.apps.usage import UsageError

if TYPE_CHECKING:
    from trio_gossip.apps.dissect.pcap import Capture
    from trio_gossip.apps.dissect.record import Record

PROG = "trio-gossip dissect"
DEFAULT_PORT = 7946  # memberlist's (config.go DefaultLANConfig BindPort) and dskit's bind port
EXIT_OK = 0
EXIT_NO_TRAFFIC = 1
MAX_PORT = 65535

Ports = frozenset[int] | None  # None: every port


def parse_key(text: str) -> bytes:
    """An AES key as serf and memberlist write them: base64 of 16, 24 or 32 bytes."""
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise argparse.ArgumentTypeError(f"key is not valid base64: {exc}") from exc
    if len(key) not in (16, 24, 32):
        raise argparse.ArgumentTypeError(
            f"key must decode to 16, 24 or 32 bytes (AES-128/192/256), not {len(key)}"
        )
    return key


def _port(text: str) -> int:
    if not text.strip().isdigit() or not 1 <= int(text) <= MAX_PORT:
        raise argparse.ArgumentTypeError(f"{text.strip()!r} is not a port (1-{MAX_PORT})")
    return int(text)


def parse_ports(text: str) -> Ports:
    """``7946``, ``7946,7947``, ``7946-7948`` or ``all`` (None: no port filter)."""
    if text.strip().lower() in ("all", "any"):
        return None
    ports: set[int] = set()
    for part in text.split(","):
        low, dash, high = part.partition("-")
        if not dash:
            ports.add(_port(part))
            continue
        first, last = _port(low), _port(high)
        if first > last:
            raise argparse.ArgumentTypeError(f"port range {part.strip()!r} is empty")
        ports.update(range(first, last + 1))
    return frozenset(ports)


def merge_ports(given: Sequence[Ports] | None) -> Ports:
    """The ports of every ``--port`` together; memberlist's 7946 when none was given."""
    if not given:
        return frozenset({DEFAULT_PORT})
    if any(p is None for p in given):
        return None
    return frozenset().union(*(p for p in given if p is not None))


def configure_dissect(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = (
        "Prints every memberlist message of every UDP datagram and reassembled TCP stream\n"
        "direction: frame, seconds since the first frame, transport, endpoints, layering\n"
        "(outer > inner) and fields by their Go names; a node's State by memberlist's name\n"
        "(alive, suspect, dead, left) in text and JSON alike. Payloads that do not decode are\n"
        "reported with the reason.\n"
        "\n"
        "dskit (Mimir, Loki, Pyroscope, Tempo): dskit's memberlist KV sends everything over\n"
        "its own TCP transport, a type byte then either the sender's address, one packet and\n"
        "its MD5, or a memberlist stream. Such connections are recognised by that framing\n"
        "(--dskit reads every TCP connection so, --no-dskit none), shown as dskitPacket or\n"
        "dskitStream layers, and their KV messages decoded: each KeyValuePair and, for the\n"
        "ringDesc codec, the ring's instances (id, state, zone, address, token count,\n"
        "heartbeat). With --summary, each instance's state changes over the capture.\n"
        "\n"
        "examples:\n"
        "  trio-gossip dissect gossip.pcap\n"
        "  trio-gossip dissect gossip.pcap --port 7946-7948 --summary\n"
        "  trio-gossip dissect mimir.pcapng --port all --json > messages.jsonl\n"
        "\n"
        "exit status: 0 done; 1 no memberlist traffic in the capture (nothing on the chosen\n"
        "ports, or nothing there decodes: the reason is one line on stderr); 2 bad arguments\n"
        "or a file that is not a capture."
    )
    parser.add_argument("capture", help="pcap or pcapng file to read")
    parser.add_argument(
        "--port",
        action="append",
        type=parse_ports,
        metavar="PORTS",
        help=(
            f"UDP/TCP port(s) that carry gossip: traffic with one of them at either end is"
            f" read, the rest left out. A port, a list (7946,7947), a range (7946-7948) or"
            f" 'all'; repeatable. Default: {DEFAULT_PORT}, memberlist's and dskit's"
        ),
    )
    parser.add_argument(
        "--key",
        action="append",
        type=parse_key,
        default=[],
        metavar="BASE64",
        help="gossip encryption key (as given to serf -encrypt); repeat for a keyring",
    )
    parser.add_argument(
        "--label", default="", help="memberlist label (GCM associated data, label header)"
    )
    parser.add_argument(
        "--dskit",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=(
            "read every TCP connection with dskit's framing and KV messages (default: only"
            " the connections that start like dskit's)"
        ),
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print one JSON object per message")
    output.add_argument(
        "--summary",
        action="store_true",
        help=(
            "print only a summary: a count of each message type and layer, and the dskit"
            " ring's instances with their state changes (no per-message lines)"
        ),
    )


def run_dissect_command(args: argparse.Namespace) -> int:
    # Imported here: scapy and the codec are slow to load and --help should not wait for them.
    from trio_gossip.apps.dissect.pcap import CaptureError  # noqa: PLC0415

    label = args.label.encode()
    if len(label) > 255:
        raise UsageError("--label is longer than 255 bytes")
    if args.dskit:
        from trio_gossip.apps.dissect.dskit import MISSING  # noqa: PLC0415

        if MISSING is not None:
            raise UsageError(f"--dskit: {MISSING}")
    try:
        return dissect(
            args.capture,
            keys=list(args.key),
            label=label,
            ports=merge_ports(args.port),
            port_given=bool(args.port),
            dskit_mode=args.dskit,
            as_json=args.json,
            summary=args.summary,
            out=sys.stdout,
            err=sys.stderr,
        )
    except CaptureError as exc:
        raise UsageError(str(exc)) from exc


def _describe_ports(ports: Ports) -> str:
    if ports is None:
        return "any port"
    listed = sorted(ports)
    if len(listed) > 1 and listed == list(range(listed[0], listed[-1] + 1)):
        return f"ports {listed[0]}-{listed[-1]}"
    shown = ",".join(map(str, listed[:8])) + (",..." if len(listed) > 8 else "")
    return f"port {shown}" if len(listed) == 1 else f"ports {shown}"


def _busiest(capture: Capture, count: int = 4) -> str:
    return ", ".join(f"{port} ({n} frames)" for port, n in capture.skipped_ports[:count])


def no_traffic_reason(capture: Capture, records: Sequence[Record], ports: Ports) -> str | None:
    """Why the capture holds no memberlist traffic on ``ports``, or None when it holds some."""
    if any(r.message is not None for r in records):
        return None
    where = _describe_ports(ports)
    if not records:
        reason = f"no UDP or TCP payload on {where} in its {capture.frames} frames"
        if capture.skipped_ports:
            reason += f"; payloads on other ports: {_busiest(capture)}; choose them with --port"
        return reason
    payloads = len({r.payload for r in records})
    reason = f"none of its {payloads} UDP/TCP payloads on {where} decodes as memberlist"
    errors = [r.error or "" for r in records]
    if all("encrypt" in e for e in errors):
        return reason + " (encrypted? give the cluster's --key)"
    if all("TLS" in e for e in errors):
        return reason + " (TLS-encrypted)"
    return reason + " (another protocol on that port? choose others with --port)"


def dissect(
    capture: str | Path,
    *,
    keys: list[bytes],
    label: bytes,
    ports: Ports = frozenset({DEFAULT_PORT}),
    port_given: bool = True,
    dskit_mode: bool | None = None,
    as_json: bool,
    summary: bool,
    out: TextIO,
    err: TextIO | None = None,
) -> int:
    """Print every memberlist message in ``capture``; raises CaptureError if unreadable.

    Returns EXIT_NO_TRAFFIC, with the reason on ``err``, when no message decodes on ``ports``.
    """
    from trio_gossip.apps.dissect import dskit  # noqa: PLC0415
    from trio_gossip.apps.dissect.decode import decode_capture  # noqa: PLC0415
    from trio_gossip.apps.dissect.pcap import read_capture  # noqa: PLC0415
    from trio_gossip.apps.dissect.record import count_types  # noqa: PLC0415
    from trio_gossip.apps.dissect.render import ring_table, to_json, to_text  # noqa: PLC0415
    from trio_gossip.apps.dissect.render import summary as summary_table  # noqa: PLC0415
    from trio_gossip.wire import Keyring  # noqa: PLC0415

    err = sys.stderr if err is None else err
    cap = read_capture(capture, ports)
    keyring = Keyring(keys) if keys else None
    records = decode_capture(cap, keyring=keyring, label=label, dskit_mode=dskit_mode)
    if summary and records:
        counts = count_types(records)
        for record in records:
            if record.message is None:
                counts[record.transport, "(undecodable)"] += 1
            if record.kv_error is not None:
                counts[record.transport, "(kv undecodable)"] += 1
        print(summary_table(counts), file=out)
        history = dskit.ring_history(records)
        if history:
            print(file=out)
            print(ring_table(history), file=out)
    elif not summary:
        render = to_json if as_json else to_text
        for record in records:
            print(render(record), file=out)
    out.flush()
    reason = no_traffic_reason(cap, records, ports)
    if reason is not None:
        print(f"{PROG}: no memberlist traffic in {capture}: {reason}", file=err)
        return EXIT_NO_TRAFFIC
    if not port_given and cap.skipped_frames:
        print(
            f"{PROG}: note: {cap.skipped_frames} UDP/TCP frames on other ports were left out"
            f" (busiest: {_busiest(cap, 3)}); --port chooses the ports, --port all keeps all",
            file=err,
        )
    return EXIT_OK
