"""``trio-gossip ring --dskit --join HOST:PORT``: join a grafana/dskit memberlist cluster (Mimir,
Loki, Pyroscope) as a member that registers no instance, print the ring it holds, and leave.

The node speaks dskit's wire mode: its TCP-only transport (TLS optional, dskit's settings), the
KeyValuePair protobuf KV messages and the ``ringDesc`` codec. ``--watch`` redraws the ring on
every change until SIGINT or SIGTERM; ``--json`` prints the page model (one line per redraw
with ``--watch``). The node leaves the cluster gracefully on the way out.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
import time
from typing import IO, Any

import trio

from trio_gossip.core.dskit.ring_page import ring_page
from trio_gossip.core.ring.view import render_table

CLEAR = "\x1b[H\x1b[2J"


def run_dskit_ring(args: argparse.Namespace, out: IO[str] | None = None) -> int:
    """Exit status: 0 once the ring was printed (or the watch ended), 1 on failure."""
    from trio_gossip.apps.agent.options import parse_host_port  # noqa: PLC0415
    from trio_gossip.apps.usage import UsageError  # noqa: PLC0415

    if not args.join:
        raise UsageError("--dskit needs --join HOST:PORT")
    try:
        join = parse_host_port(args.join)
    except ValueError as exc:
        raise UsageError(f"--join: {exc}") from None
    if bool(args.tls_cert) != bool(args.tls_key):
        raise UsageError("--tls-cert and --tls-key go together")
    if not args.timeout > 0:
        raise UsageError("--timeout must be positive")
    try:
        return trio.run(_observe, args, join, out or sys.stdout)
    except _ObserverError as exc:
        print(f"trio-gossip ring: {exc}", file=sys.stderr)
        return 1


class _ObserverError(Exception):
    pass


def _route_to(host: str) -> str:
    """The local address the kernel would use to reach ``host`` (nothing is sent)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        probe.connect((host, 9))
        return str(probe.getsockname()[0])


async def _observe(args: argparse.Namespace, join: tuple[str, int], out: IO[str]) -> int:
    from trio_gossip import Config, open_memberlist  # noqa: PLC0415
    from trio_gossip.core.dskit.kv_format import DSKIT_FORMAT  # noqa: PLC0415
    from trio_gossip.core.dskit.ring_value import DskitRingCodec  # noqa: PLC0415
    from trio_gossip.shell.kv.store import KVStore  # noqa: PLC0415
    from trio_gossip.transport.base import TransportError  # noqa: PLC0415
    from trio_gossip.transport.dskit import create_dskit_transport  # noqa: PLC0415
    from trio_gossip.transport.dskit_tls import DskitTLS  # noqa: PLC0415
    from trio_gossip.wire.errors import ConfigError, GossipError  # noqa: PLC0415

    try:
        tls = None
        if args.tls_cert:
            tls = DskitTLS.from_files(
                cert_path=args.tls_cert, key_path=args.tls_key, ca_path=args.tls_ca,
                server_name=args.tls_server_name,
                insecure_skip_verify=args.tls_insecure_skip_verify,
            )  # fmt: skip
        bind = args.bind or _route_to(join[0])
        transport = await create_dskit_transport(bind, 0, tls=tls)
    except (ConfigError, TransportError, OSError) as exc:
        raise _ObserverError(str(exc)) from None
    config = Config.lan(
        name=f"trio-gossip-ring-{os.urandom(4).hex()}", bind_addr=bind,
        bind_port=transport.local_address[1], label=args.label,
    )  # fmt: skip
    store = KVStore([DskitRingCodec()], message_format=DSKIT_FORMAT)
    key = args.key or "ring"
    try:
        async with open_memberlist(config, transport=transport, kv=store) as node:
            try:
                with trio.fail_after(args.timeout):
                    await node.join([join])
            except (GossipError, trio.TooSlowError) as exc:
                raise _ObserverError(f"cannot join {args.join}: {exc or 'timed out'}") from None
            await _show(args, store, key, out)
    finally:
        await transport.aclose()
    return 0


async def _show(args: argparse.Namespace, store: Any, key: str, out: IO[str]) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:

            async def stop_on_signal() -> None:
                async for _ in signals:
                    nursery.cancel_scope.cancel()

            nursery.start_soon(stop_on_signal)
            with store.watch_key(key) as watch:
                with trio.move_on_after(args.timeout) as waited:
                    value = await watch.__anext__()
                    while value is None:
                        value = await watch.__anext__()
                if waited.cancelled_caught:
                    raise _ObserverError(f"no ring under key {key!r} after {args.timeout:g} s")
                _draw(args, value, out)
                if args.watch:
                    async for value in watch:
                        if value is not None:
                            _draw(args, value, out)
            nursery.cancel_scope.cancel()


def _draw(args: argparse.Namespace, value: Any, out: IO[str]) -> None:
    page = ring_page(value.desc, time.time(), heartbeat_timeout=args.heartbeat_timeout,
                     tokens=args.tokens)  # fmt: skip
    if args.json:
        text = json.dumps(page, sort_keys=True, indent=None if args.watch else 2)
    else:
        text = render_table(page)
        if args.watch:
            text = (CLEAR if out.isatty() else "\n") + text
    out.write(text + "\n")
    out.flush()
