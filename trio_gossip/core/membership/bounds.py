"""The textbook numbers a simulation is measured against (pure arithmetic over a Config)."""

from __future__ import annotations

import math

from trio_gossip.core.config import Config
from trio_gossip.core.membership.schedule import push_pull_scale
from trio_gossip.core.membership.suspicion import suspicion_timeout


def epidemic_rounds(n: int, fanout: int) -> float:
    """Push rumour spreading with fanout f reaches all n nodes in about
    log_{f+1}(n) + ln(n)/f rounds (B. Pittel, "On spreading a rumor", SIAM J. Appl. Math.
    47(1), 1987)."""
    if n <= 1:
        return 0.0
    return math.log(n) / math.log(fanout + 1) + math.log(n) / fanout


def epidemic_time(config: Config, n: int) -> float:
    """``epidemic_rounds`` in seconds: one round per gossip_interval to gossip_nodes peers."""
    return epidemic_rounds(n, config.gossip_nodes) * config.gossip_interval


def suspicion_window(config: Config, n: int) -> tuple[float, float]:
    """(min, max) suspicion timeout for a cluster of n known nodes (memberlist suspicion.go,
    suspicionTimeout)."""
    low = suspicion_timeout(config.suspicion_mult, n, config.probe_interval)
    return low, config.suspicion_max_timeout_mult * low


def detection_formula(config: Config, n: int, *, confirmed: bool = True) -> float:
    """Kill to first dead verdict by the formula: a probe interval until someone probes the
    node, the probe timeout, then the suspicion timeout (its minimum once confirmed by
    k = suspicion_mult - 2 others, its maximum otherwise)."""
    low, high = suspicion_window(config, n)
    return config.probe_interval + config.probe_timeout + (low if confirmed else high)


def anti_entropy_time(config: Config, n: int) -> float:
    """By when every node has done at least one periodic push/pull: its random start stagger
    (up to one interval) plus the interval scaled for n nodes (memberlist util.go,
    pushPullScale). Gossip misses a node now and then (a broadcast is sent a fixed number
    of times); this repairs it."""
    return config.push_pull_interval + push_pull_scale(config.push_pull_interval, n)


def join_timeout(config: Config, n: int) -> float:
    """A generous limit for n nodes to converge after joining: gossip, then two rounds of
    anti-entropy for whatever gossip missed."""
    return 10 * epidemic_time(config, n) + 2 * anti_entropy_time(config, n)
