"""``trio-gossip members``: ask an agent's HTTP endpoint for its members and print them."""

from __future__ import annotations

import http.client
import json
from typing import Any, TextIO

from trio_gossip.apps.agent.options import Address

TIMEOUT = 5.0


class EndpointError(Exception):
    """The agent could not be reached or gave an answer we cannot use."""


def fetch_json(address: Address, path: str, *, method: str = "GET") -> Any:
    """One request to an agent's endpoint; the decoded JSON of a 200 answer."""
    host, port = address
    conn = http.client.HTTPConnection(host, port, timeout=TIMEOUT)
    try:
        conn.request(method, path)
        response = conn.getresponse()
        body = response.read()
    except (OSError, http.client.HTTPException) as exc:
        raise EndpointError(f"cannot reach the agent at {host}:{port}: {exc}") from None
    finally:
        conn.close()
    try:
        decoded = json.loads(body)
    except ValueError:
        raise EndpointError(f"{path}: the answer is not JSON") from None
    if response.status != 200:
        message = decoded.get("error") if isinstance(decoded, dict) else None
        raise EndpointError(f"{path}: HTTP {response.status}: {message or body[:200]!r}")
    return decoded


def format_table(members: list[dict[str, Any]]) -> str:
    """Rows like ``serf members``: name, address, state, tags."""
    rows = [
        (
            str(m.get("name", "")),
            f"{m.get('addr', '')}:{m.get('port', '')}",
            str(m.get("state", "")),
            ",".join(f"{k}={v}" for k, v in sorted(dict(m.get("tags") or {}).items())),
        )
        for m in members
    ]
    if not rows:
        return ""
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [
        "  ".join(
            [*(cell.ljust(w) for cell, w in zip(row[:3], widths, strict=True)), row[3]]
        ).rstrip()
        for row in rows
    ]
    return "\n".join(lines) + "\n"


def print_members(address: Address, *, as_json: bool, out: TextIO) -> None:
    members = fetch_json(address, "/v1/members")
    if not isinstance(members, list):
        raise EndpointError("/v1/members: expected a JSON list")
    if as_json:
        out.write(json.dumps(members, indent=2, sort_keys=True) + "\n")
    else:
        out.write(format_table(members))
