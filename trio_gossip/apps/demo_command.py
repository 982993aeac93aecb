"""The ``trio-gossip demo`` arguments. Light on imports: ``trio-gossip --help`` builds every
subcommand's parser, so Trio and the node are only imported once the demo runs."""

from __future__ import annotations

import argparse

from trio_gossip.apps.demo_options import DemoOptions
from trio_gossip.apps.usage import UsageError


def configure_demo(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--nodes", type=int, default=50, help="cluster size (default 50)")
    parser.add_argument("--seed", type=int, default=1, help="simulation seed (default 1)")
    parser.add_argument("--loss", type=float, default=0.0,
                        help="packet loss on every simulated link, 0..0.5 (default 0)")  # fmt: skip
    parser.add_argument("--real", action="store_true",
                        help="real UDP + TCP sockets on 127.0.0.1, in real time")  # fmt: skip
    parser.add_argument("--ring", action="store_true",
                        help="the hash-ring story instead: every node registers an instance in a"
                        " replicated ring (trio_gossip/apps/sim/ring_demo.py)")  # fmt: skip


def demo_options(args: argparse.Namespace) -> DemoOptions:
    """The options, checked; ValueError with a message for the user."""
    if not 3 <= args.nodes <= 2000:
        raise ValueError("--nodes must be within 3..2000")
    if not 0.0 <= args.loss <= 0.5:
        raise ValueError("--loss must be within 0..0.5")
    if args.real and args.loss:
        raise ValueError("--loss only applies to the simulated network, not with --real")
    return DemoOptions(nodes=args.nodes, seed=args.seed, loss=args.loss, real=args.real)


def run_demo_command(args: argparse.Namespace) -> int:
    from trio_gossip.apps.sim.demo import run  # noqa: PLC0415

    try:
        options = demo_options(args)
        if getattr(args, "ring", False) and options.real:
            raise ValueError("--ring runs on the simulated network only, not with --real")
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    if getattr(args, "ring", False):
        from trio_gossip.apps.sim.ring_demo import run_ring_demo  # noqa: PLC0415

        return run_ring_demo(options.nodes, options.seed, options.loss)
    return run(options)
