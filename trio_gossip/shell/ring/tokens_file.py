"""The tokens file: an instance's tokens kept across restarts, as dskit writes it.

JSON ``{"tokens": [...]}``, written to a temporary file and renamed over the old one, so a
crash mid-write leaves the old file, never half a file. The files are tiny, so plain
blocking I/O is fine even inside Trio.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from trio_gossip.core.ring.instance import normalize_tokens

log = logging.getLogger("trio_gossip.core.ring")


def load_tokens(path: str | os.PathLike[str]) -> tuple[int, ...]:
    """Sorted unique tokens from the file; () if it is missing or unreadable (logged)."""
    try:
        data = json.loads(Path(path).read_text())
        tokens = data["tokens"]
        if not isinstance(tokens, list) or not all(type(t) is int for t in tokens):
            raise ValueError("tokens is not a list of integers")
        return normalize_tokens(tokens)
    except FileNotFoundError:
        return ()
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring tokens file %s: %s", path, exc)
        return ()


def store_tokens(path: str | os.PathLike[str], tokens: tuple[int, ...]) -> None:
    target = Path(path)
    temp = target.with_name(f".{target.name}.tmp")
    temp.write_text(json.dumps({"tokens": list(tokens)}))
    os.replace(temp, target)
