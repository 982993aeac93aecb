"""``trio-gossip ring --http HOST:PORT``: print the ring an agent sees, as dskit's ring page.
(``--dskit --join HOST:PORT`` reads a dskit cluster's ring instead: apps/agent/dskit_ring.py.)

The agent (``trio-gossip agent --ring NAME --http HOST:PORT``) serves the ring as JSON at
``/v1/ring``; this command fetches it and prints the table (or the JSON with ``--json``).
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.parse


def _host_port(text: str) -> tuple[str, int]:
    from trio_gossip.apps.agent.options import parse_host_port  # noqa: PLC0415

    try:
        return parse_host_port(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def configure_ring(parser: argparse.ArgumentParser) -> None:
    from trio_gossip.apps.agent.dskit_ring_options import configure_dskit  # noqa: PLC0415

    parser.add_argument("--http", type=_host_port, default=None, metavar="HOST:PORT",
                        help="the agent's --http address")  # fmt: skip
    parser.add_argument("--key", default=None, metavar="KEY",
                        help="the ring's KV key (default: the agent's --ring; "
                             "with --dskit: ring)")  # fmt: skip
    parser.add_argument("--tokens", action="store_true", help="include every token (JSON)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    configure_dskit(parser)


def run_ring_command(args: argparse.Namespace) -> int:
    from trio_gossip.apps.agent.members import EndpointError, fetch_json  # noqa: PLC0415
    from trio_gossip.apps.usage import UsageError  # noqa: PLC0415

    if args.dskit:
        if args.http is not None:
            raise UsageError("--http and --dskit are two different sources; give one")
        from trio_gossip.apps.agent.dskit_ring import run_dskit_ring  # noqa: PLC0415

        return run_dskit_ring(args)
    if args.http is None:
        raise UsageError("give --http HOST:PORT (an agent) or --dskit --join HOST:PORT")

    query = {k: v for k, v in (("key", args.key), ("tokens", "1" if args.tokens else None)) if v}
    path = "/v1/ring" + ("?" + urllib.parse.urlencode(query) if query else "")
    try:
        page = fetch_json(args.http, path)
    except EndpointError as exc:
        print(f"trio-gossip ring: {exc}", file=sys.stderr)
        return 1
    if not isinstance(page, dict) or not isinstance(page.get("shards"), list):
        print("trio-gossip ring: /v1/ring: not a ring page", file=sys.stderr)
        return 1
    if args.json:
        sys.stdout.write(json.dumps(page, indent=2, sort_keys=True) + "\n")
    else:
        # Here, not at the top: the CLI builds this subcommand's parser for every command,
        # and an agent without a ring should not load the ring package.
        from trio_gossip.core.ring.view import render_table  # noqa: PLC0415

        sys.stdout.write(render_table(page) + "\n")
    return 0
