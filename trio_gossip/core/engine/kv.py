"""The KV store on the engine: local CAS and deletes, changes from the network, push/pull
states, tombstone sweeps, and the KV's share of each gossip round.

The rules are dskit's with its weak spots fixed (dskit kv/memberlist/memberlist_client.go,
``CAS``, ``mergeBytesValueForKey`` and ``broadcastNewValue``; ring/model.go, ``Merge``):

- a change is merged with the value's own CRDT merge; only the *change* it reports is queued,
  never the message that caused it, so stale parts die out (cortex#4419);
- tombstones older than ``wall - left_instances_timeout`` are dropped from the result and the
  change after every merge, and a change left empty is not forwarded (cortex#4420); the
  horizon also goes into the merge, so a stale copy of something whose tombstone was
  collected is ignored instead of resurrected;
- our own changes go to the ``KV_OWN`` lane of the node's one transmit queue, forwarded ones
  to ``KV_FORWARDED``, and anything too big for a gossip packet to ``KV_STREAM``;
- a key deletion is sticky: it wins over any value and is forgotten after
  ``obsolete_entries_timeout``; a deletion notice for a key we do not hold is ignored;
- a CAS runs the caller's function here, in the writer, on the current value: nothing can
  change the key in between, so a CAS never conflicts and needs no lock or retry.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import attrs

from trio_gossip.core.engine.effects import Answer, KeyChanged, SendStream, SetTimer
from trio_gossip.core.engine.events import KVCas, KVDelete, KVSweep
from trio_gossip.core.engine.queue import KV_FORWARDED, KV_OWN, KV_STREAM
from trio_gossip.core.engine.step import Step
from trio_gossip.core.kv.entry import Entry
from trio_gossip.core.kv.format import message_format
from trio_gossip.core.kv.label import add_label
from trio_gossip.core.kv.message import KeyValuePair
from trio_gossip.core.kv.replica import (
    EXCHANGE_MAGIC,
    KeyDeletedError,
    KVContext,
    Replica,
    decode_exchange,
    encode_exchange,
    encode_replica,
    unlabel,
)
from trio_gossip.core.membership.codec import COMPOUND_OVERHEAD
from trio_gossip.core.membership.member import Member
from trio_gossip.wire.errors import DecodeError, GossipError

log = logging.getLogger("trio_gossip.kv")

def _ctx(step: Step) -> KVContext:
    kv = step.ctx.kv
    assert kv is not None, "the node runs no KV store"
    return kv


def _replica(step: Step) -> Replica:
    assert step.kv is not None
    return step.kv


# ---- commands ----------------------------------------------------------------------------


def on_cas(step: Step, cmd: KVCas) -> None:
    step.count_kv(cas_attempts=1)
    try:
        value = _cas(step, cmd)
    except Exception as exc:  # the caller's function or value failed: theirs to handle
        step.count_kv(cas_failures=1)
        step.emit(Answer(cmd.token, error=exc))
        return
    step.count_kv(cas_successes=1)
    step.emit(Answer(cmd.token, value))


def _cas(step: Step, cmd: KVCas) -> Any:
    kv = _ctx(step)
    entry = _replica(step).entries.get(cmd.key)
    if entry is not None and entry.deleted:
        raise KeyDeletedError(f"key {cmd.key!r} is deleted")
    codec = _codec_for(kv, cmd.key, entry.codec if entry else None, cmd.codec)
    out = cmd.fn(None if entry is None else entry.view())
    if out is None:
        return None if entry is None else entry.view()
    horizon = step.wall - kv.settings.left_instances_timeout
    if entry is None:
        value = change = out
    else:
        result = entry.value.merge(out, local_cas=True, horizon=horizon)
        if result.change is None:
            return entry.view()
        value, change = result.value, result.change
    _store(step, cmd.key, codec, value, change, horizon=horizon, sent_at=None)
    stored = _replica(step).entries.get(cmd.key)
    return None if stored is None else stored.view()


def _codec_for(kv: KVContext, key: str, current: str | None, wanted: str | None) -> str:
    if current is not None:
        if wanted is not None and wanted != current:
            raise GossipError(f"key {key!r} holds codec {current!r}, not {wanted!r}")
        return current
    if wanted is not None:
        if wanted not in kv.codecs:
            raise GossipError(f"codec {wanted!r} is not registered")
        return wanted
    if len(kv.codecs.codecs) != 1:
        raise GossipError(f"new key {key!r}: say which codec (several are registered)")
    return next(iter(kv.codecs.codecs))


def on_delete(step: Step, cmd: KVDelete) -> None:
    entry = _replica(step).entries.get(cmd.key)
    if entry is None or entry.deleted:
        step.emit(Answer(cmd.token, False))
        return
    _mark_deleted(step, cmd.key, entry, local=True)
    step.emit(Answer(cmd.token, True))


def on_sweep(step: Step, _: KVSweep) -> None:
    """Drop expired tombstones of every key and forget deletions past their timeout.

    dskit collects tombstones only when a key changes; a quiet key would keep them (and hand
    them to every push/pull) for ever. Readers never see tombstones, so nothing is notified,
    and the entry version stays: a CAS read before the sweep is still valid.
    """
    settings = _ctx(step).settings
    step.emit(SetTimer(KVSweep(), step.now + settings.sweep_interval))
    replica = _replica(step)
    horizon = step.wall - settings.left_instances_timeout
    entries = replica.entries.mutate()
    removed_total = 0
    for key, entry in replica.entries.items():
        if entry.deleted:
            if step.wall - entry.updated_at >= settings.obsolete_entries_timeout:
                del entries[key]
            continue
        value, removed = entry.value.remove_tombstones(horizon)
        if removed:
            removed_total += removed
            entries[key] = Entry(entry.codec, value, entry.version, updated_at=entry.updated_at)
    step.count_kv(tombstones_removed=removed_total)
    step.kv = _evolve(replica, entries=entries.finish())


def start(step: Step) -> None:
    """At the node's start: the sweep timer, and the first state exchange (peer filter)."""
    kv = _ctx(step)
    step.emit(SetTimer(KVSweep(), step.now + kv.settings.sweep_interval))
    step.kv = _evolve(_replica(step), next_exchange=step.now + step.ctx.config.push_pull_interval)


# ---- from the network ----------------------------------------------------------------------


def on_message(step: Step, payload: bytes, sender: str | None = None) -> None:
    """A KV user message: a change, or (with a peer filter) a state exchange."""
    if payload[:2] == EXCHANGE_MAGIC:
        _on_exchange(step, payload)
        return
    replica = _replica(step)
    step.count_kv(received_broadcasts=1, received_broadcasts_bytes=len(payload))
    if payload in replica.seen:  # the same change from another forwarder: a no-op to merge
        step.count_kv(received_broadcasts_duplicate=1)
        return
    kv = _ctx(step)
    try:
        pair = message_format(kv).decode_pair(unlabel(kv.settings, payload),
                                              max_size=kv.settings.max_message_bytes)  # fmt: skip
        value = _decode_value(kv, pair)
    except DecodeError as exc:
        step.count_kv(received_broadcasts_invalid=1)
        log.debug("kv: bad message: %s", exc)
        return
    step.kv = _replica(step).remember(payload)
    _remote(step, pair, value)


def on_state(step: Step, data: bytes) -> None:
    """A peer's whole KV state (its part of a push/pull, or a state exchange)."""
    kv = _ctx(step)
    try:
        pairs = message_format(kv).decode_state(unlabel(kv.settings, data),
                                                max_size=kv.settings.max_message_bytes)  # fmt: skip
    except DecodeError as exc:
        step.count_kv(received_broadcasts_invalid=1)
        log.debug("kv: bad push/pull state: %s", exc)
        return
    step.count_kv(state_pushes=1, state_pushes_bytes=len(data))
    for pair in pairs:
        try:
            value = _decode_value(kv, pair)
        except DecodeError as exc:
            step.count_kv(received_broadcasts_invalid=1)
            log.debug("kv: bad value for %r in a push/pull state: %s", pair.key, exc)
            continue
        _remote(step, pair, value)


def _on_exchange(step: Step, message: bytes) -> None:
    try:
        sender, wants_reply, state = decode_exchange(message)
    except DecodeError as exc:
        step.count_kv(received_broadcasts_invalid=1)
        log.debug("kv: %s", exc)
        return
    on_state(step, state)
    if wants_reply:
        peer = step.membership.members.get(sender)
        if peer is not None and peer.is_live:
            _send_state(step, peer, reply=False)


def _decode_value(kv: KVContext, pair: KeyValuePair) -> Any:
    if pair.value or not pair.deleted:
        return kv.codecs.decode(pair.codec, pair.value)
    if pair.codec not in kv.codecs:
        raise DecodeError(f"unknown codec id {pair.codec!r}")
    return None


def _remote(step: Step, pair: KeyValuePair, value: Any) -> None:
    entry = _replica(step).entries.get(pair.key)
    if entry is not None and entry.codec != pair.codec:
        step.count_kv(received_broadcasts_invalid=1)
        log.debug("kv: %r arrived with codec %r, ours is %r", pair.key, pair.codec, entry.codec)
        return
    if entry is not None and entry.deleted:
        return  # a deleted key takes nothing more until it is forgotten
    if pair.deleted:
        if entry is not None:
            _mark_deleted(step, pair.key, entry, local=False)
        return
    if value is None:
        return
    horizon = step.wall - _ctx(step).settings.left_instances_timeout
    try:
        if entry is None:
            merged = change = value
        else:
            result = entry.value.merge(value, horizon=horizon)
            if result.change is None:
                return
            merged, change = result.value, result.change
        _store(step, pair.key, pair.codec, merged, change, horizon=horizon,
               sent_at=pair.updated_at)
    except Exception:  # a value that decoded but will not merge: count it, carry on
        step.count_kv(received_broadcasts_invalid=1)
        log.warning("kv: change of %r could not be merged", pair.key, exc_info=True)


# ---- storing and queueing ------------------------------------------------------------------


def _store(step: Step, key: str, codec: str, value: Any, change: Any, *, horizon: float,
           sent_at: float | None) -> None:  # fmt: skip
    """Keep ``value``, tell watchers, and queue ``change``: as our own news (``sent_at``
    None) or as forwarded news keeping the originator's stamp, so every node forwards the
    very same bytes and receivers drop repeats before decoding them."""
    value, removed = value.remove_tombstones(horizon)
    change, _ = change.remove_tombstones(horizon)
    step.count_kv(tombstones_removed=removed)
    content = change.merge_content()
    replica = _replica(step)
    if not content and key in replica.entries:
        return  # only expired tombstones: nothing to keep or forward (cortex#4420)
    version = replica.version + 1
    entry = Entry(codec, value, version, updated_at=step.wall)
    step.kv = _evolve(replica, entries=replica.entries.set(key, entry), version=version)
    step.count_kv(changes_applied=1)
    step.emit(KeyChanged(key))
    if content:
        encoded = _ctx(step).codecs[codec].encode(change)
        stamp = step.wall if sent_at is None else sent_at
        _queue(step, KeyValuePair(key, codec, encoded, False, stamp), content,
               local=sent_at is None)  # fmt: skip


def _mark_deleted(step: Step, key: str, entry: Entry, *, local: bool) -> None:
    replica = _replica(step)
    version = replica.version + 1
    deleted = Entry(entry.codec, entry.value, version, True, step.wall)
    step.kv = _evolve(replica, entries=replica.entries.set(key, deleted), version=version)
    step.count_kv(changes_applied=1)
    step.emit(KeyChanged(key))
    _queue(step, KeyValuePair(key, entry.codec, b"", True, step.wall), None, local=local)


def _queue(step: Step, pair: KeyValuePair, content: frozenset[str] | None, *, local: bool
           ) -> None:  # fmt: skip
    kv = _ctx(step)
    try:
        payload = message_format(kv).encode_pair(pair, max_size=kv.settings.max_message_bytes)
    except ValueError as exc:
        step.count_kv(broadcasts_dropped=1)
        log.warning("kv: change of %r not sent: %s", pair.key, exc)
        return
    payload = add_label(payload, kv.settings.label_bytes)
    lane = KV_OWN if local else KV_FORWARDED
    if len(payload) > kv.packet_budget:
        lane = KV_STREAM  # sent over streams, never dropped for size
    queue, superseded = step.queue.push_kv(payload, key=pair.key, content=content,
                                           version=_replica(step).version, lane=lane)  # fmt: skip
    queue, dropped = queue.prune(kv.settings.broadcast_queue_limit, lane=lane)
    step.queue = queue
    step.count_kv(broadcasts_superseded=superseded, broadcasts_dropped=len(dropped))
    step.count(broadcasts_queued=1)
    step.wake_gossip()


def _evolve(replica: Replica, **changes: Any) -> Replica:
    return attrs.evolve(replica, **changes)


# ---- the gossip round ----------------------------------------------------------------------


def gossip_round(step: Step) -> None:
    """The KV's part of a gossip tick: changes too big for a packet over streams; with a peer
    filter also greetings to new KV peers, the periodic state exchange, and the changes."""
    kv = _ctx(step)
    streams = step.queue.lane_len(KV_STREAM)
    if kv.peer_filter is None and not streams:
        return  # the changes rode the gossip packets; nothing else to do (no member scan)
    peers = kv_peers(step)
    if not peers:
        if kv.peer_filter is not None:
            _greet(step, peers)
        return
    fanout = max(1, step.ctx.config.gossip_nodes)
    rng = step.ctx.rng
    if kv.peer_filter is not None:
        _greet(step, peers)
        for peer in rng.sample(peers, min(fanout, len(peers))):
            parts = step.take_kv(COMPOUND_OVERHEAD, step.ctx.codec.gossip_budget)
            if not parts:
                break
            step.send_bare(peer.address, parts, pmax=peer.pmax)
    if streams:
        for peer in rng.sample(peers, min(fanout, len(peers))):
            taken = step.queue.take(0, sys.maxsize, step.kv_transmit_limit(), lane=KV_STREAM)
            step.queue = taken.queue
            for message in taken.messages:
                step.emit(SendStream(peer, message))


def _greet(step: Step, peers: list[Member]) -> None:
    """Our state to each new KV peer, asking for theirs back (as a join push/pull does), and
    to one random KV peer every push/pull interval (anti-entropy)."""
    replica = _replica(step)
    names = frozenset(p.name for p in peers)
    for peer in peers:
        if peer.name not in replica.peers:
            _send_state(step, peer, reply=True)
    interval = step.ctx.config.push_pull_interval
    next_exchange = replica.next_exchange
    if peers and interval > 0 and step.now >= next_exchange:
        next_exchange = step.now + interval
        _send_state(step, step.ctx.rng.choice(peers), reply=True)
    if names != replica.peers or next_exchange != replica.next_exchange:
        step.kv = _evolve(_replica(step), peers=names, next_exchange=next_exchange)


def _send_state(step: Step, peer: Member, *, reply: bool) -> None:
    try:
        state = encode_replica(_replica(step), _ctx(step))
    except ValueError as exc:
        log.warning("kv: state for %s not sent: %s", peer.name, exc)
        return
    step.emit(SendStream(peer, encode_exchange(step.ctx.config.name, state, reply=reply)))


def kv_peers(step: Step) -> list[Member]:
    """Live members other than us that run the KV."""
    accept = _ctx(step).peer_filter
    local = step.membership.local_name
    return [m for m in step.membership.live_members()
            if m.name != local and (accept is None or accept(m))]  # fmt: skip
