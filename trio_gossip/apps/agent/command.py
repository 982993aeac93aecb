"""The ``agent`` and ``members`` subcommands: argument parsing and entry points.

Import-light on purpose (no Trio, no node) so the command line answers ``--help`` and bad flags
at once; the run functions import the rest.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from typing import TypeVar

from trio_gossip.apps.agent.options import (
    DEFAULT_GOSSIP_PORT,
    PROFILES,
    AgentOptions,
    parse_host_port,
    parse_join_target,
    parse_key,
)

T = TypeVar("T")


def _arg(parse: Callable[[str], T], what: str) -> Callable[[str], T]:
    """Turn a parser's ValueError into argparse's clean "argument --x: ..." error (exit 2)."""

    def convert(text: str) -> T:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = what
    return convert


def _tag(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ValueError(f"tag {text!r} is not KEY=VALUE")
    return key, value


def _bind(text: str) -> tuple[str, int]:
    return parse_host_port(text, DEFAULT_GOSSIP_PORT)


def _seconds(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{text!r} is not a finite number of seconds >= 0")
    return value


def _positive_seconds(text: str) -> float:
    value = _seconds(text)
    if value == 0:
        raise ValueError(f"{text!r} is not a number of seconds > 0")
    return value


def _cidrs(text: str) -> tuple[str, ...]:
    import ipaddress  # noqa: PLC0415 - only when the flag is given

    out = []
    for part in text.split(","):
        try:
            out.append(str(ipaddress.ip_network(part.strip(), strict=False)))
        except ValueError:
            raise ValueError(f"invalid cidr: {part!r}") from None
    return tuple(out)


def _count(text: str) -> int:
    if not text.isdigit():
        raise ValueError(f"{text!r} is not a whole number >= 0")
    return int(text)


def configure_agent(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", required=True, help="node name, unique in the cluster")
    parser.add_argument(
        "--bind",
        type=_arg(_bind, "HOST:PORT"),
        default=("0.0.0.0", 7946),
        metavar="HOST:PORT",
        help="gossip address, UDP and TCP (default 0.0.0.0:7946)",
    )
    parser.add_argument(
        "--advertise",
        type=_arg(parse_host_port, "HOST:PORT"),
        metavar="HOST:PORT",
        help="address peers should use, if not --bind",
    )
    parser.add_argument(
        "--join",
        action="append",
        default=[],
        metavar="HOST:PORT",
        type=_arg(parse_join_target, "HOST:PORT"),
        help="join the cluster through this member; repeatable",
    )
    parser.add_argument(
        "--encrypt",
        action="append",
        default=[],
        metavar="BASE64",
        type=_arg(parse_key, "key"),
        help="gossip key as from `serf keygen`; repeat for a keyring (the first one encrypts)",
    )
    parser.add_argument(
        "--keyring-file",
        metavar="PATH",
        help="gossip keys as a JSON list of base64 keys, primary first (Serf's format);"
        " kept out of argv, and written back when keys change through the endpoint",
    )
    parser.add_argument(
        "--tag",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        type=_arg(_tag, "KEY=VALUE"),
        help="node tag Serf shows; repeatable",
    )
    parser.add_argument(
        "--profile",
        choices=PROFILES,
        default="lan",
        help="timer preset, as memberlist's (default lan)",
    )
    parser.add_argument("--label", default="", help="memberlist label (needs label-aware peers)")
    parser.add_argument(
        "--http",
        type=_arg(parse_host_port, "HOST:PORT"),
        metavar="HOST:PORT",
        help="serve the JSON API, /metrics, /memberlist and /ring here"
        " (off by default; loopback only)",
    )
    parser.add_argument(
        "--http-token-file",
        metavar="PATH",
        help="changes through --http need 'Authorization: Bearer TOKEN', TOKEN the file's"
        " first line (or set TRIO_GOSSIP_HTTP_TOKEN)",
    )
    parser.add_argument(
        "--http-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a host name the endpoint answers to besides IP addresses and localhost;"
        " repeatable (other Host headers are refused)",
    )
    parser.add_argument(
        "--http-allow-remote", action="store_true", help="allow --http on a non-loopback address"
    )
    parser.add_argument(
        "--ring",
        metavar="NAME",
        help="register this node as an instance of the hash ring kept under KV key NAME"
        " (needs trio-gossip peers; serves /v1/ring with --http)",
    )
    parser.add_argument("--ring-zone", default="", metavar="ZONE", help="its ring zone")
    parser.add_argument(
        "--ring-forget",
        action="store_true",
        help="let the /ring page forget unhealthy instances (POST only; off by default)",
    )
    parser.add_argument(
        "--message-history-buffer-bytes",
        type=_arg(_count, "bytes"),
        default=0,
        metavar="N",
        help="keep the KV messages sent and received, N bytes each way, for the /memberlist"
        " page (dskit's -memberlist.message-history-buffer-bytes; default 0: off)",
    )
    join = parser.add_argument_group("join retries (dskit's memberlist settings)")
    join.add_argument(
        "--max-join-retries",
        type=_arg(_count, "count"),
        default=1,
        metavar="N",
        help="join attempts in all before giving up; 0 tries forever (default 1)",
    )
    join.add_argument(
        "--min-join-backoff",
        type=_arg(_seconds, "seconds"),
        default=1.0,
        metavar="SECONDS",
        help="wait after the first failed attempt, doubling (with jitter) each time (default 1)",
    )
    join.add_argument(
        "--max-join-backoff",
        type=_arg(_seconds, "seconds"),
        default=60.0,
        metavar="SECONDS",
        help="longest wait between attempts (default 60)",
    )
    join.add_argument(
        "--abort-if-join-fails",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="exit 1 when every attempt failed; with --no-abort-if-join-fails run alone"
        " (default: abort)",
    )
    join.add_argument(
        "--rejoin-interval",
        type=_arg(_seconds, "seconds"),
        default=0.0,
        metavar="SECONDS",
        help="join the --join addresses again this often, so split halves meet again"
        " (default 0: never)",
    )
    guards = parser.add_argument_group("guards and reconnect (memberlist's and Serf's settings)")
    guards.add_argument(
        "--cidrs-allowed",
        action="append",
        default=[],
        metavar="CIDR[,CIDR]",
        type=_arg(_cidrs, "CIDR list"),
        help="only hosts in these networks may gossip with this node or be members"
        " (memberlist's CIDRsAllowed); repeatable (default: everyone)",
    )
    guards.add_argument(
        "--require-node-names",
        action="store_true",
        help="--join addresses must name their node, NAME/HOST:PORT, and the node answering"
        " there must know that name (memberlist's RequireNodeNames)",
    )
    guards.add_argument(
        "--reconnect-interval",
        type=_arg(_seconds, "seconds"),
        default=30.0,
        metavar="SECONDS",
        help="this often, join a member that failed, with probability failed/alive, so a"
        " partition heals by itself (Serf's reconnect_interval; default 30, 0: never)",
    )
    guards.add_argument(
        "--reconnect-timeout",
        type=_arg(_positive_seconds, "seconds"),
        default=24 * 3600.0,
        metavar="SECONDS",
        help="how long a failed member is remembered for that (Serf's reconnect_timeout;"
        " default 86400)",
    )
    parser.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        default="info",
        help="stderr log level (default info)",
    )
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="stderr log lines as text, or one JSON object per line (time, level, logger,"
        " message and any extra fields; default text)",
    )


class FileFlagError(ValueError):
    """A file a flag names cannot be read or holds no valid content: the command line is fine,
    so the message stands alone, without argparse's usage block."""


def agent_options(args: argparse.Namespace) -> AgentOptions:
    """Cross-checks argparse cannot do, and the files the flags name; ValueError says what is
    wrong."""
    from trio_gossip.apps.agent.control_token import read_token  # noqa: PLC0415
    from trio_gossip.core.join_policy import JoinPolicy  # noqa: PLC0415

    keys = tuple(dict.fromkeys(args.encrypt))
    keyring_file = getattr(args, "keyring_file", None)
    if keyring_file is not None:
        # Only with the flag: its JSON reader is memory an agent would hold for nothing.
        from trio_gossip.apps.agent.keyring_file import load_keyring_file  # noqa: PLC0415

        if keys:
            raise ValueError("--keyring-file and --encrypt exclude each other: put the key in"
                             " the file")  # fmt: skip
        try:
            keys = load_keyring_file(keyring_file)
        except ValueError as exc:
            raise FileFlagError(str(exc)) from None
    try:
        http_token = read_token(getattr(args, "http_token_file", None))
    except ValueError as exc:
        raise FileFlagError(str(exc)) from None
    return AgentOptions(
        name=args.name,
        bind=args.bind,
        advertise=args.advertise,
        join=tuple(args.join),
        keys=keys,
        keyring_file=keyring_file,
        http_token=http_token,
        http_hosts=tuple(getattr(args, "http_host", ())),
        ring_forget=getattr(args, "ring_forget", False),
        message_history_buffer_bytes=getattr(args, "message_history_buffer_bytes", 0),
        tags=tuple(dict(args.tag).items()),
        profile=args.profile,
        label=args.label,
        http=args.http,
        http_allow_remote=args.http_allow_remote,
        log_level=args.log_level,
        ring=args.ring,
        ring_zone=args.ring_zone,
        cidrs_allowed=tuple(c for group in getattr(args, "cidrs_allowed", ()) for c in group),
        require_node_names=getattr(args, "require_node_names", False),
        reconnect_interval=getattr(args, "reconnect_interval", 30.0),
        reconnect_timeout=getattr(args, "reconnect_timeout", 24 * 3600.0),
        join_policy=JoinPolicy(
            min_backoff=args.min_join_backoff,
            max_backoff=args.max_join_backoff,
            max_retries=args.max_join_retries,
            abort_if_join_fails=args.abort_if_join_fails,
            rejoin_interval=args.rejoin_interval,
        ),
    )


EXIT_USAGE = 2


def usage_error(args: argparse.Namespace, message: str) -> int:
    """Report a bad argument the way argparse does (usage line, message, exit status 2)."""
    parser: argparse.ArgumentParser | None = getattr(args, "parser", None)
    prog = parser.prog if parser is not None else "trio-gossip"
    if parser is not None:
        parser.print_usage(sys.stderr)
    print(f"{prog}: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def run_agent_command(args: argparse.Namespace) -> int:
    from trio_gossip.apps.agent.tags import encode_tags  # noqa: PLC0415

    try:
        opts = agent_options(args)
        # Encoding the tags checks Serf's 512-byte metadata limit before anything starts.
        encode_tags(dict(opts.tags))
    except FileFlagError as exc:
        print(f"trio-gossip agent: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ValueError as exc:
        return usage_error(args, str(exc))

    import trio  # noqa: PLC0415

    from trio_gossip.apps.agent.log_setup import setup_logging  # noqa: PLC0415
    from trio_gossip.apps.agent.runner import run_agent  # noqa: PLC0415

    setup_logging(opts.log_level, getattr(args, "log_format", "text"))
    try:
        status: int = trio.run(run_agent, opts)
    except (OSError, BaseExceptionGroup) as exc:
        error = _os_error(exc)
        if error is None:
            raise
        # A port in use or an address we cannot bind: say so, no traceback.
        # strerror alone: str(OSError) would lead with "[Errno 98]".
        print(f"trio-gossip agent: cannot start: {error.strerror or error}", file=sys.stderr)
        return 1
    return status


def _os_error(exc: BaseException) -> OSError | None:
    """The OSError behind ``exc`` when that is all there is (Trio wraps task errors)."""
    if isinstance(exc, OSError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        matched, rest = exc.split(OSError)
        if matched is not None and rest is None:
            leaf: BaseException = matched
            while isinstance(leaf, BaseExceptionGroup):
                leaf = leaf.exceptions[0]
            return leaf if isinstance(leaf, OSError) else None
    return None


def configure_members(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--http",
        type=_arg(parse_host_port, "HOST:PORT"),
        required=True,
        metavar="HOST:PORT",
        help="the agent's --http address",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run_members_command(args: argparse.Namespace) -> int:
    from trio_gossip.apps.agent.members import EndpointError, print_members  # noqa: PLC0415

    try:
        print_members(args.http, as_json=args.json, out=sys.stdout)
    except EndpointError as exc:
        print(f"trio-gossip members: {exc}", file=sys.stderr)
        return 1
    return 0
