"""The options of ``trio-gossip ring --dskit``, apart from the command so that building the
CLI's parser (``trio-gossip --help``) imports neither Trio nor protobuf."""

from __future__ import annotations

import argparse

JOIN_TIMEOUT = 10.0
# dskit ring/ring.go Config.HeartbeatTimeout's default (-ring.heartbeat-timeout=1m); the ring
# page (core/dskit/ring_page.py HEARTBEAT_TIMEOUT) uses the same, which a test checks.
HEARTBEAT_TIMEOUT = 60.0


def configure_dskit(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("dskit mode (--dskit)")
    group.add_argument("--dskit", action="store_true",
                       help="join a dskit memberlist cluster instead of asking an agent")
    group.add_argument("--join", metavar="HOST:PORT",
                       help="a member of the dskit cluster (its memberlist port, often 7946)")
    group.add_argument("--label", default="", metavar="L",
                       help="the cluster label (-memberlist.cluster-label)")
    group.add_argument("--bind", default=None, metavar="IP",
                       help="address to listen on (default: the one that routes to --join)")
    group.add_argument("--watch", action="store_true", help="redraw the ring on every change")
    group.add_argument("--timeout", type=float, default=JOIN_TIMEOUT, metavar="S",
                       help=f"give up joining or waiting for the ring after S seconds "
                            f"(default {JOIN_TIMEOUT:g})")
    group.add_argument("--heartbeat-timeout", type=float, default=HEARTBEAT_TIMEOUT,
                       metavar="S", help="an instance is unhealthy past S seconds without a "
                                         "heartbeat (-ring.heartbeat-timeout, default 60)")
    group.add_argument("--tls-cert", metavar="FILE", help="TLS certificate (enables TLS)")
    group.add_argument("--tls-key", metavar="FILE", help="TLS private key")
    group.add_argument("--tls-ca", metavar="FILE", help="CA to verify the cluster's certificates")
    group.add_argument("--tls-server-name", metavar="NAME", help="name to verify (default: IP)")
    group.add_argument("--tls-insecure-skip-verify", action="store_true",
                       help="do not verify the cluster's certificates")  # fmt: skip
