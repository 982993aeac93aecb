"""The ``trio-gossip`` command line.

Each subcommand is a pair of functions: ``configure(parser)`` adds its arguments and
``run(args) -> exit status`` does the work. Both are listed once in `SUBCOMMANDS`; to add a
subcommand, write the pair and add a `Subcommand` entry. Heavy imports (scapy, trio, the
codec) belong inside ``run`` so that ``trio-gossip --help`` starts instantly.

Exit status: 0 success, 1 failure while running, 2 usage error (argparse's convention).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

import attrs

from trio_gossip.apps.usage import UsageError

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


@attrs.frozen
class Subcommand:
    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


# --- dissect (code in trio_gossip/apps/dissect/command.py) -----------------------------------


def _configure_dissect(parser: argparse.ArgumentParser) -> None:
    from trio_gossip.apps.dissect.command import configure_dissect  # noqa: PLC0415

    configure_dissect(parser)


def _run_dissect(args: argparse.Namespace) -> int:
    from trio_gossip.apps.dissect.command import run_dissect_command  # noqa: PLC0415

    return run_dissect_command(args)


# --- agent, members (code in trio_gossip/apps/agent/command.py) --------------------------------


def _configure_agent(parser: argparse.ArgumentParser) -> None:
    from trio_gossip.apps.agent.command import configure_agent  # noqa: PLC0415

    configure_agent(parser)


def _run_agent(args: argparse.Namespace) -> int:
    from trio_gossip.apps.agent.command import run_agent_command  # noqa: PLC0415

    return run_agent_command(args)


def _configure_members(parser: argparse.ArgumentParser) -> None:
    from trio_gossip.apps.agent.command import configure_members  # noqa: PLC0415

    configure_members(parser)


def _run_members(args: argparse.Namespace) -> int:
    from trio_gossip.apps.agent.command import run_members_command  # noqa: PLC0415

    return run_members_command(args)


# --- ring (code in trio_gossip/apps/agent/ring_command.py) ---


def _configure_ring(parser: argparse.ArgumentParser) -> None:
    from trio_gossip.apps.agent.ring_command import configure_ring  # noqa: PLC0415

    configure_ring(parser)


def _run_ring(args: argparse.Namespace) -> int:
    from trio_gossip.apps.agent.ring_command import run_ring_command  # noqa: PLC0415

    return run_ring_command(args)


# --- demo (code in trio_gossip/apps/demo_command.py and sim/demo.py) -----------------------------


def _configure_demo(parser: argparse.ArgumentParser) -> None:
    from trio_gossip.apps.demo_command import configure_demo  # noqa: PLC0415

    configure_demo(parser)


def _run_demo(args: argparse.Namespace) -> int:
    from trio_gossip.apps.demo_command import run_demo_command  # noqa: PLC0415

    return run_demo_command(args)


# --- registry ------------------------------------------------------------------------------

SUBCOMMANDS: tuple[Subcommand, ...] = (
    Subcommand(
        "demo",
        "watch a 50-node cluster form, lose a node and agree it died (simulated, in seconds)",
        _configure_demo,
        _run_demo,
    ),
    Subcommand(
        "dissect",
        "print the memberlist messages in a packet capture (dskit's KV and ring too)",
        _configure_dissect,
        _run_dissect,
    ),
    Subcommand(
        "agent",
        "run a node that Serf agents see as a member, until SIGINT or SIGTERM",
        _configure_agent,
        _run_agent,
    ),
    Subcommand(
        "members",
        "list the members an agent knows, through its --http endpoint",
        _configure_members,
        _run_members,
    ),
    Subcommand(
        "ring",
        "print the hash ring an agent sees (agent --ring), through its --http endpoint",
        _configure_ring,
        _run_ring,
    ),
)


def _version() -> str:
    """The installed distribution's version (pyproject's), without importing the package."""
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    try:
        return version("trio-gossip")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


class _PrintVersion(argparse.Action):
    """argparse's "version" action formats its text when the parser is built; this one reads
    the distribution's metadata only when asked, so an agent's start does not load it."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:  # fmt: skip
        print(f"{parser.prog} {_version()}")
        parser.exit()


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with ``only``, the arguments of that subcommand alone (the
    others keep their name and help): an agent then does not load the modules that define
    the other subcommands' options, memory it would hold for as long as it runs."""
    parser = argparse.ArgumentParser(
        prog="trio-gossip", description="memberlist-compatible gossip for Trio"
    )
    parser.add_argument("--version", action=_PrintVersion, nargs=0,
                        help="show the version and exit")  # fmt: skip
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in SUBCOMMANDS:
        p = sub.add_parser(command.name, help=command.help, description=command.help)
        if only is None or command.name == only:
            command.configure(p)
        p.set_defaults(run=command.run, parser=p)
    return parser


def _chosen(argv: Sequence[str]) -> str | None:
    """The subcommand ``argv`` names, if its first word that is not an option names one."""
    word = next((a for a in argv if not a.startswith("-")), None)
    return word if any(c.name == word for c in SUBCOMMANDS) else None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status instead of exiting."""
    args_given = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(_chosen(args_given))
    try:
        args = parser.parse_args(args_given)
    except SystemExit as exc:  # argparse exits on --help and on usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        status: int = args.run(args)
        sys.stdout.flush()
    except UsageError as exc:
        args.parser.print_usage(sys.stderr)
        print(f"{args.parser.prog}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly, and keep Python's exit-time flush
        # from failing on the same closed pipe.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILURE
    return status


if __name__ == "__main__":
    sys.exit(main())
