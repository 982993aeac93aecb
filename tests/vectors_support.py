"""The shared memberlist vectors (shared/vectors/memberlist), found relative to the repo root.

One place for the path and the loaders so the wire tests read the vectors the same way.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

# The repo's parent folder holds shared/, both on this machine and in CI.
VECTORS = Path(__file__).resolve().parents[1].parent / "shared" / "vectors" / "memberlist"
CAPTURED = VECTORS / "captured" / "vectors"


def synthetic_vectors() -> list[dict[str, Any]]:
    """synthetic.json in file order."""
    vectors: list[dict[str, Any]] = json.loads((VECTORS / "synthetic.json").read_text())
    return vectors


def capture_key() -> bytes:
    """The AES key the encrypted capture was made with."""
    return base64.b64decode((VECTORS / "captured" / "encrypt-key.txt").read_text().strip())


def captured_metas() -> list[dict[str, Any]]:
    """Every captured vector's metadata, sorted by file name."""
    return [json.loads(path.read_text()) for path in sorted(CAPTURED.glob("*.json"))]


def captured_names() -> list[str]:
    return sorted(path.stem for path in CAPTURED.glob("*.json"))


def load_captured(name: str) -> tuple[dict[str, Any], bytes]:
    """One captured vector: its metadata and the message bytes."""
    meta: dict[str, Any] = json.loads((CAPTURED / f"{name}.json").read_text())
    return meta, bytes.fromhex((CAPTURED / f"{name}.hex").read_text().strip())
