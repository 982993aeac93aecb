"""Print dissected records as text lines or as JSON objects.

Field names are the Go struct field names, as they appear as msgpack keys on the wire, so
the output reads like the captures' documentation. Byte fields are hex; address fields are
shown as IPs when they are 4 or 16 bytes long; node names as text; a node's ``State`` by
memberlist's name (state.go: StateAlive, StateSuspect, StateDead, StateLeft as alive, suspect,
dead, left). dskit's KV pairs and ring instances use the Go names of dskit's protobufs
(kv/memberlist/kv.proto, ring/ring.proto) and an instance's state ring.proto's name (ACTIVE...).
"""

from __future__ import annotations

import ipaddress
import json
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import attrs

from trio_gossip.apps.dissect.reassembly import Address
from trio_gossip.apps.dissect.record import KvEntry, Record
from trio_gossip.wire.messages import NodeState

if TYPE_CHECKING:
    from trio_gossip.apps.dissect.dskit import InstanceHistory
    from trio_gossip.wire.dskit import Desc, InstanceDesc

_ADDRESS_FIELDS = frozenset({"addr", "source_addr", "target"})
# Python names that do not camel-case into their Go field name.
_GO_NAMES = {"from_node": "From", "states": "Nodes", "user_state": "UserState"}
_TEXT_HEX_LIMIT = 32  # longer byte fields are abbreviated in text output (JSON has them all)


def go_name(field: str) -> str:
    return _GO_NAMES.get(field) or "".join(part.capitalize() for part in field.split("_"))


def _text(value: str) -> str:
    # Go strings are bytes; ours carry invalid UTF-8 as surrogates, which cannot be printed.
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _address(value: bytes) -> str:
    if len(value) in (4, 16):
        return str(ipaddress.ip_address(value))
    return value.hex()


def node_state(value: int) -> str | int:
    """memberlist's name of a node state (alive, suspect, dead, left); other numbers as is."""
    if value in NodeState._value2member_map_:
        return NodeState(value).name.lower()
    return value


def fields(message: Any) -> dict[str, Any]:
    """A message's fields as JSON-ready values, keyed by Go name in wire (sorted) order."""
    out: dict[str, Any] = {}
    for f in attrs.fields(type(message)):
        value = getattr(message, f.name)
        if f.name == "state" and isinstance(value, int) and not isinstance(value, bool):
            out[go_name(f.name)] = node_state(value)
        elif f.name in _ADDRESS_FIELDS and isinstance(value, bytes):
            out[go_name(f.name)] = _address(value)
        elif isinstance(value, bytes):
            out[go_name(f.name)] = value.hex()
        elif isinstance(value, str):
            out[go_name(f.name)] = _text(value)
        elif isinstance(value, tuple):
            out[go_name(f.name)] = [fields(v) for v in value]
        else:
            out[go_name(f.name)] = value  # int, bool or None (Go nil)
    return dict(sorted(out.items()))


def endpoint(addr: Address) -> str:
    host, port = addr
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _state_name(state: int) -> str:
    from trio_gossip.apps.dissect.dskit import state_name  # noqa: PLC0415

    return state_name(state)


def instance_fields(inst: InstanceDesc) -> dict[str, Any]:
    """A ring.proto InstanceDesc as JSON, by Go field name; ``State`` by its name."""
    return {
        "Addr": _text(inst.addr),
        "Id": _text(inst.id),
        "ReadOnly": inst.read_only,
        "ReadOnlyUpdatedTimestamp": inst.read_only_updated_timestamp,
        "RegisteredTimestamp": inst.registered_timestamp,
        "State": _state_name(inst.state),
        "Timestamp": inst.timestamp,
        "Tokens": list(inst.tokens),
        "Versions": {str(k): v for k, v in inst.versions},
        "Zone": _text(inst.zone),
    }


def _ring_json(ring: Desc) -> dict[str, Any]:
    return {"Ingesters": {_text(k): instance_fields(v) for k, v in ring.instances.items()}}


def kv_fields(entry: KvEntry) -> dict[str, Any]:
    """A dskit KeyValuePair as JSON: kv.proto's Go names, ``Ring`` the decoded ring.Desc."""
    return {
        "Codec": _text(entry.codec),
        "Deleted": entry.deleted,
        "Error": entry.error,
        "Key": _text(entry.key),
        "Ring": None if entry.ring is None else _ring_json(entry.ring),
        "UpdateTimeMillis": entry.update_time_millis,
        "Value": entry.value.hex(),
    }


def to_json(record: Record) -> str:
    """One JSON object; every key is always present (null where it does not apply)."""
    obj = {
        "payload": record.payload,
        "frame": record.frame,
        "time": round(record.time, 6),
        "transport": record.transport,
        "src": endpoint(record.src),
        "dst": endpoint(record.dst),
        "direction": record.direction,
        "layering": record.layering,
        "path": list(record.path),
        "type": record.type_name,
        "fields": None if record.message is None else fields(record.message),
        "error": record.error,
        "note": record.note,
        "length": len(record.raw),
        "hex": record.raw.hex(),
        "sender": None if record.sender is None else _text(record.sender),
        "kv": None if record.kv is None else [kv_fields(e) for e in record.kv],
        "kv_error": record.kv_error,
    }
    return json.dumps(obj, sort_keys=True)


def _text_value(name: str, value: Any) -> str:
    if value is None:
        return "nil"  # Go's nil slice, distinct from an empty one
    if isinstance(value, bool):
        return "true" if value else "false"
    if name == "state" and isinstance(value, int) and not isinstance(value, bool):
        return str(node_state(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(_text(value), ensure_ascii=False)
    if isinstance(value, tuple):
        return f"[{len(value)}]"
    if name in _ADDRESS_FIELDS and len(value) in (4, 16):
        return _address(value)
    if not value:
        return '""'
    if len(value) > _TEXT_HEX_LIMIT:
        return f"<{len(value)}B {value[:_TEXT_HEX_LIMIT].hex()}…>"
    return str(value.hex())


def _field_line(message: Any) -> str:
    pairs = sorted(
        (go_name(f.name), _text_value(f.name, getattr(message, f.name)))
        for f in attrs.fields(type(message))
    )
    return " ".join(f"{k}={v}" for k, v in pairs)


def unix_time(seconds: int) -> str:
    """A dskit timestamp (Unix seconds) as UTC ISO 8601; 0 is dskit's "never"."""
    if seconds == 0:
        return "0"
    try:
        return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return str(seconds)


def instance_line(name: str, inst: InstanceDesc, wall_time: float | None) -> str:
    """One ring instance: id, state, zone, address, token count, heartbeat and its age."""
    age = ""
    if wall_time is not None and inst.timestamp:
        age = f" (age {wall_time - inst.timestamp:.1f}s)"
    parts = [
        json.dumps(_text(name), ensure_ascii=False),
        _state_name(inst.state),
        f"zone={json.dumps(_text(inst.zone), ensure_ascii=False)}",
        f"addr={_text(inst.addr)}",
        f"tokens={len(inst.tokens)}",
        f"heartbeat={unix_time(inst.timestamp)}{age}",
        f"registered={unix_time(inst.registered_timestamp)}",
    ]
    if inst.id and inst.id != name:
        parts.append(f"id={json.dumps(_text(inst.id), ensure_ascii=False)}")
    if inst.read_only or inst.read_only_updated_timestamp:
        parts.append(f"read_only={'true' if inst.read_only else 'false'}")
        parts.append(f"read_only_updated={unix_time(inst.read_only_updated_timestamp)}")
    if inst.versions:
        parts.append("versions=" + ",".join(f"{k}:{v}" for k, v in inst.versions))
    return " ".join(parts)


def _kv_lines(record: Record) -> list[str]:
    lines = []
    for i, entry in enumerate(record.kv or ()):
        head = (
            f"    kv[{i}] Codec={entry.codec} Deleted={'true' if entry.deleted else 'false'}"
            f" Key={_text_value('key', entry.key)} UpdateTimeMillis={entry.update_time_millis}"
            f" Value={_text_value('value', entry.value)}"
        )
        if entry.error is not None:
            lines.append(f"{head} undecodable: {entry.error}")
            continue
        if entry.ring is None:
            lines.append(head)
            continue
        count = len(entry.ring.instances)
        lines.append(f"{head} ring: {count} instance{'' if count == 1 else 's'}")
        lines.extend(
            f"      {instance_line(name, inst, record.wall_time)}"
            for name, inst in entry.ring.instances.items()
        )
    if record.kv_error is not None:
        lines.append(f"    kv undecodable: {record.kv_error}")
    return lines


def to_text(record: Record) -> str:
    """A header line (frame, time, transport, endpoints, layering) and indented field lines.

    A dskit packet's header ends with the address its sender advertised; KV pairs and their
    ring instances follow the message's fields.
    """
    direction = f" ({record.direction})" if record.direction else ""
    head = (
        f"#{record.frame} {record.time:.6f} {record.transport} "
        f"{endpoint(record.src)} -> {endpoint(record.dst)}{direction}"
    )
    if record.message is None:
        where = f" {record.layering}" if record.path else ""
        text = f"{head}{where} undecodable: {record.error}"
        if record.raw:
            more = "…" if len(record.raw) > _TEXT_HEX_LIMIT else ""
            snippet = record.raw[:_TEXT_HEX_LIMIT].hex() + more
            text += f"\n    {len(record.raw)} bytes: {snippet}"
        return text
    note = f"  [{record.note}]" if record.note else ""
    sender = f" [from {_text(record.sender)}]" if record.sender is not None else ""
    lines = [f"{head} {record.layering}{sender}{note}", f"    {_field_line(record.message)}"]
    for f in attrs.fields(type(record.message)):
        value = getattr(record.message, f.name)
        if isinstance(value, tuple):
            key = go_name(f.name)
            lines.extend(f"    {key}[{i}] {_field_line(v)}" for i, v in enumerate(value))
    lines.extend(_kv_lines(record))
    return "\n".join(lines)


def summary(counts: Counter[tuple[str, str]]) -> str:
    """A table of how often each layer or message type was seen, per transport."""
    names = sorted({name for _, name in counts})
    transports = sorted({t for t, _ in counts})
    lines = ["type".ljust(20) + "".join(t.rjust(8) for t in transports)]
    for name in names:
        row = "".join(str(counts.get((t, name), 0)).rjust(8) for t in transports)
        lines.append(name.ljust(20) + row)
    return "\n".join(lines)


def ring_table(history: Sequence[InstanceHistory]) -> str:
    """dskit's ring instances as the capture showed them, with each change of state."""
    head = ("key", "instance", "zone", "state", "tokens", "heartbeats", "last heartbeat")
    rows = [
        (
            h.key,
            h.instance,
            h.zone,
            h.state,
            str(h.tokens),
            str(len(h.heartbeats)),
            unix_time(h.heartbeat),
            " -> ".join(f"{state} #{frame}" for frame, state in h.changes),
        )
        for h in history
    ]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = ["dskit ring instances (state changes by frame):"]
    for row in [(*head, "history"), *rows]:
        cells = [c.ljust(w) for c, w in zip(row, widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)
