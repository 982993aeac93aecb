"""The replicated KV store's knobs, named and defaulted after dskit's ``-memberlist.*`` flags.

The membership knobs (gossip interval, fanout, push/pull interval, UDP budget) stay in the
node's `Config`; these are only what the store itself decides. Durations are float seconds.
"""

from __future__ import annotations

import attrs

from trio_gossip.core.kv.message import MAX_MESSAGE_BYTES
from trio_gossip.wire.errors import ConfigError

MAX_CLUSTER_LABEL_BYTES = 255


def _check(settings: KVSettings) -> None:
    for field in ("retransmit_factor", "broadcast_queue_limit", "max_concurrent_streams"):
        if getattr(settings, field) < 1:
            raise ConfigError(f"{field}: must be at least 1")
    for field in ("obsolete_entries_timeout", "notify_interval",
                  "broadcast_timeout_for_local_updates_on_shutdown"):  # fmt: skip
        if getattr(settings, field) < 0:
            raise ConfigError(f"{field}: must not be negative")
    if not settings.left_instances_timeout > 0:
        raise ConfigError("left_instances_timeout: must be positive (tombstones must expire)")
    if not settings.sweep_interval > 0:
        raise ConfigError("sweep_interval: must be positive")
    if not 64 <= settings.max_message_bytes <= MAX_MESSAGE_BYTES:
        raise ConfigError(f"max_message_bytes: must be within 64..{MAX_MESSAGE_BYTES}")
    if len(settings.cluster_label.encode()) > MAX_CLUSTER_LABEL_BYTES:
        raise ConfigError(f"cluster_label: longer than {MAX_CLUSTER_LABEL_BYTES} bytes")


@attrs.frozen(kw_only=True)
class KVSettings:
    """How one node's KV store gossips, collects garbage and talks to watchers."""

    # -memberlist.retransmit-factor: each change is sent factor * ceil(log10(N + 1)) times.
    retransmit_factor: int = 4
    # -memberlist.left-ingesters-timeout: how long tombstones (LEFT instances) live. It must
    # outlive every queued or in-flight copy and a push/pull round, or a stale copy
    # resurrects what was removed (cortex#4010).
    left_instances_timeout: float = 300.0
    # -memberlist.obsolete-entries-timeout: how long a deleted key is remembered.
    obsolete_entries_timeout: float = 30.0
    # How often tombstones and obsolete keys are swept even when no change arrives (dskit
    # collects tombstones only on change, so a quiet key kept them for ever).
    sweep_interval: float = 30.0
    # Largest encoded KV message or push/pull state we build or accept.
    max_message_bytes: int = MAX_MESSAGE_BYTES
    # -memberlist.notify-interval: 0 tells watchers at once; > 0 batches notifications.
    notify_interval: float = 0.0
    # -memberlist.cluster-label: every KV message carries it; others' messages are refused.
    cluster_label: str = ""
    # -memberlist.cluster-label-verification-disabled: accept any label (while rolling one out).
    cluster_label_verification_disabled: bool = False
    # -memberlist.broadcast-timeout-for-local-updates-on-shutdown (0: wait for ever).
    broadcast_timeout_for_local_updates_on_shutdown: float = 10.0
    # Queued broadcasts kept per queue; past it the most-sent ones are dropped (counted).
    broadcast_queue_limit: int = 4096
    # Streams open at once for changes too big for a gossip packet.
    max_concurrent_streams: int = 8

    def __attrs_post_init__(self) -> None:
        _check(self)

    @property
    def label_bytes(self) -> bytes:
        return self.cluster_label.encode()
