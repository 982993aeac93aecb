"""The ``agent`` and ``members`` subcommands: argument parsing and entry points.

Import-light on purpose (no Trio, no node) so the command line answers ``--help`` and bad flags
at once; the run functions import the rest.
"""

from __future__ import annotations

import argparse
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
        help="serve /v1/members, /v1/stats, /v1/health and /v1/keys here"
        " (off by default; loopback only)",
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
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        default="info",
        help="stderr log level (default info)",
    )


def agent_options(args: argparse.Namespace) -> AgentOptions:
    """Cross-checks argparse cannot do; ValueError says what is wrong."""
    return AgentOptions(
        name=args.name,
        bind=args.bind,
        advertise=args.advertise,
        join=tuple(args.join),
        keys=tuple(dict.fromkeys(args.encrypt)),
        tags=tuple(dict(args.tag).items()),
        profile=args.profile,
        label=args.label,
        http=args.http,
        http_allow_remote=args.http_allow_remote,
        log_level=args.log_level,
        ring=args.ring,
        ring_zone=args.ring_zone,
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
    except ValueError as exc:
        return usage_error(args, str(exc))

    import trio  # noqa: PLC0415

    from trio_gossip.apps.agent.runner import run_agent, setup_logging  # noqa: PLC0415

    setup_logging(opts.log_level)
    try:
        status: int = trio.run(run_agent, opts)
    except (OSError, BaseExceptionGroup) as exc:
        error = _os_error(exc)
        if error is None:
            raise
        # A port in use or an address we cannot bind: say so, no traceback.
        print(f"trio-gossip agent: cannot start: {error}", file=sys.stderr)
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
