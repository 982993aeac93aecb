"""nftables in a test network namespace: one output-hook chain that rules are added to."""

from __future__ import annotations

import subprocess

from .procs import in_netns

CHAIN = "out"


def nft(ns: str, *args: str) -> str:
    """Run ``nft args`` inside namespace ``ns``; its stdout (raises if nft fails)."""
    done = subprocess.run(in_netns(ns, ["nft", *args]), check=True, capture_output=True, text=True)
    return done.stdout


def add_output_chain(ns: str, table: str) -> None:
    """An inet ``table`` with an accept-all chain on the output hook, so that rules added to it
    see (and may drop) every packet the namespace sends."""
    nft(ns, "add", "table", "inet", table)
    hook = "{ type filter hook output priority 0; policy accept; }"
    nft(ns, "add", "chain", "inet", table, CHAIN, hook)


def add_output_rule(ns: str, table: str, *rule: str) -> None:
    nft(ns, "add", "rule", "inet", table, CHAIN, *rule)


def flush_output_chain(ns: str, table: str) -> None:
    nft(ns, "flush", "chain", "inet", table, CHAIN)
