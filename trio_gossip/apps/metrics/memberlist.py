"""A node's metrics under memberlist's own names, and trio_gossip's for what it adds.

memberlist reports through go-metrics (memberlist/state.go, net.go, awareness.go); Prometheus
shows ``memberlist.health.score`` as ``memberlist_health_score`` and so on. Every value here
comes from the node's `Statistics` and its membership snapshot at scrape time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from prometheus_client.metrics_core import Metric

from trio_gossip.apps.metrics.family import family, labelled
from trio_gossip.shell.memberlist import Memberlist
from trio_gossip.wire.messages import NodeState

# memberlist/state.go sets memberlist.node.instances with a node_state label of these words.
NODE_STATES = {
    NodeState.ALIVE: "alive",
    NodeState.SUSPECT: "suspect",
    NodeState.DEAD: "dead",
    NodeState.LEFT: "left",
}

# (Statistics field, metric name, help): counters under memberlist's names.
MEMBERLIST_COUNTERS = (
    ("alive_verdicts", "memberlist_msg_alive", "Alive messages that changed a member"),
    ("suspicions", "memberlist_msg_suspect", "Suspicions started about a member"),
    ("dead_verdicts", "memberlist_msg_dead", "Members marked dead or left"),
    ("bytes_sent", "memberlist_udp_sent", "Bytes sent in UDP packets"),
    ("bytes_received", "memberlist_udp_received", "Bytes received in UDP packets"),
    ("push_pulls", "memberlist_pushPullNode_count", "Push/pull exchanges we started"),
    ("probes", "memberlist_probeNode_count", "Probes of a member"),
)

# Counters memberlist does not name (trio_gossip_*).
OWN_COUNTERS = (
    ("packets_sent", "Packets sent"),
    ("packets_received", "Packets received"),
    ("bad_packets", "Packets dropped: failed to decode or decrypt (label, key, CRC, framing)"),
    ("bad_streams", "Streams refused, or whose user state was refused"),
    ("dropped_messages", "Incoming messages dropped: the hand-off queue was full"),
    ("send_errors", "Sends the transport refused"),
    ("failed_probes", "Probes that ended in a suspicion"),
    ("indirect_probes", "Indirect ping requests sent"),
    ("indirect_relays", "Indirect ping requests served for others"),
    ("tcp_fallback_pings", "TCP fallback pings tried"),
    ("refutations", "Suspicions of ourselves refuted"),
    ("conflicts", "Name conflicts seen"),
    ("push_pulls_received", "Push/pull exchanges others started"),
    ("push_pulls_refused", "Push/pull exchanges refused over the concurrency limit"),
    ("user_messages_received", "User messages received"),
    ("broadcasts_queued", "Broadcasts queued for gossip"),
    ("events_dropped", "Member events a slow reader missed"),
    ("reconnects_attempted", "Joins of a failed member started (Serf's reconnect)"),
    ("reconnects", "Joins of a failed member that reached it"),
    ("cidr_refusals", "Datagrams, streams and alives from outside cidrs_allowed, dropped"),
    ("join_attempts", "Addresses a join tried a push/pull with"),
    ("suspect_checks", "Push/pulls with a suspect whose suspicion was due (check_before_dead)"),
    ("suspect_checks_answered", "... that the suspect answered: no dead verdict yet"),
    ("catch_ups", "Push/pulls after a burst of joins gossip brought (catch_up_push_pull)"),
    ("broadcasts_known", "Queued alive messages a catch-up showed a peer knew: no longer sent"),
    ("join_failures", "Join push/pulls that failed"),
)


class MemberlistCollector:
    """Collects one node's metrics at scrape time."""

    def __init__(self, node: Memberlist) -> None:
        self.node = node

    def collect(self) -> Iterator[Metric]:
        node = self.node
        stats = node.statistics()
        yield family("memberlist_health_score", "Local health (awareness): 0 is healthy",
                     "gauge", stats.health_score)  # fmt: skip
        yield family("memberlist_queue_broadcasts", "Broadcasts waiting in the transmit queue",
                     "gauge", stats.queued_broadcasts)  # fmt: skip
        states = Counter(NODE_STATES.get(m.state, str(m.state))
                         for m in node.snapshot.membership.members.values())  # fmt: skip
        yield labelled(
            "memberlist_node_instances", "Members this node knows, by state", "gauge",
            (({"node_state": s}, states.get(s, 0)) for s in NODE_STATES.values()),
        )  # fmt: skip
        for field, name, doc in MEMBERLIST_COUNTERS:
            yield family(name, doc, "counter", getattr(stats, field))
        transport = node.transport_statistics()
        if transport is not None:
            yield family("memberlist_tcp_accept", "Streams accepted", "counter",
                         transport.streams_accepted)  # fmt: skip
            yield family("memberlist_tcp_connect", "Streams opened", "counter",
                         transport.streams_opened)  # fmt: skip
        yield family("memberlist_client_cluster_members_count",
                     "Number of members in memberlist cluster", "gauge",
                     node.num_members())  # fmt: skip
        yield family("memberlist_client_cluster_node_health_score",
                     "Health score of this cluster. Lower value is better. 0 = healthy",
                     "gauge", stats.health_score)  # fmt: skip
        for field, doc in OWN_COUNTERS:
            yield family(f"trio_gossip_{field}_total", doc, "counter", getattr(stats, field))
        for direction, counts in (("sent", stats.sent_by_type),
                                  ("received", stats.received_by_type)):  # fmt: skip
            yield labelled(
                f"trio_gossip_messages_{direction}_total",
                f"memberlist messages {direction} by type (compound parts one by one)", "counter",
                (({"type": kind}, n) for kind, n in sorted(counts.items())),
            )  # fmt: skip
        yield labelled(
            "trio_gossip_bad_input_total",
            "Datagrams and streams refused, by reason (decode errors, wrong label or key, ...)",
            "counter", (({"reason": reason}, n)
                        for reason, n in sorted(stats.bad_input_reasons.items())),
        )  # fmt: skip
