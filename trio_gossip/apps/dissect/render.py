"""Print dissected records as text lines or as JSON objects.

Field names are the Go struct field names, as they appear as msgpack keys on the wire, so
the output reads like the captures' documentation. Byte fields are hex; address fields are
shown as IPs when they are 4 or 16 bytes long; node names as text.
"""

from __future__ import annotations

import ipaddress
import json
from collections import Counter
from typing import Any

import attrs

from trio_gossip.apps.dissect.reassembly import Address
from trio_gossip.apps.dissect.record import Record
from trio_gossip.wire.messages import NodeState

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


def fields(message: Any) -> dict[str, Any]:
    """A message's fields as JSON-ready values, keyed by Go name in wire (sorted) order."""
    out: dict[str, Any] = {}
    for f in attrs.fields(type(message)):
        value = getattr(message, f.name)
        if f.name in _ADDRESS_FIELDS and isinstance(value, bytes):
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
    }
    return json.dumps(obj, sort_keys=True)


def _text_value(name: str, value: Any) -> str:
    if value is None:
        return "nil"  # Go's nil slice, distinct from an empty one
    if isinstance(value, bool):
        return "true" if value else "false"
    if name == "state" and value in NodeState._value2member_map_:
        return str(NodeState(value).name.lower())
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


def to_text(record: Record) -> str:
    """A header line (frame, time, transport, endpoints, layering) and indented field lines."""
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
    lines = [f"{head} {record.layering}{note}", f"    {_field_line(record.message)}"]
    for f in attrs.fields(type(record.message)):
        value = getattr(record.message, f.name)
        if isinstance(value, tuple):
            key = go_name(f.name)
            lines.extend(f"    {key}[{i}] {_field_line(v)}" for i, v in enumerate(value))
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
