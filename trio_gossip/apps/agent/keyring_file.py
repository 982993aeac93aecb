"""``--keyring-file``: gossip keys kept in a file, as Serf's ``-keyring-file``, not in argv.

The format is Serf's (serf/cmd/serf/command/agent/agent.go ``loadKeyringFile``): a JSON list of
base64 keys, the first one the primary. As Serf does (``writeKeyringFile``), the agent writes
the file back after each change made through the endpoint, so a restart keeps the rotation.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from pathlib import Path

from trio_gossip.apps.agent.options import parse_key
from trio_gossip.wire import Keyring


def load_keyring_file(path: str) -> tuple[bytes, ...]:
    """The keys in ``path``, primary first; ValueError naming the file and what is wrong."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ValueError(f"--keyring-file {path}: {exc.strerror or exc}") from None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"--keyring-file {path}: not JSON: {exc}") from None
    if not isinstance(value, list) or not value or not all(isinstance(k, str) for k in value):
        raise ValueError(f"--keyring-file {path}: expected a JSON list of base64 keys")
    keys: list[bytes] = []
    for i, text_key in enumerate(value):
        try:
            keys.append(parse_key(text_key))
        except ValueError as exc:
            raise ValueError(f"--keyring-file {path}: key {i}: {exc}") from None
    return tuple(dict.fromkeys(keys))


def write_keyring_file(path: str, keyring: Keyring) -> None:
    """Replace ``path`` with the keyring, primary first, readable by its owner only."""
    keys = [keyring.primary_key, *(k for k in keyring.keys if k != keyring.primary_key)]
    payload = json.dumps([base64.b64encode(k).decode() for k in keys], indent=2) + "\n"
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(payload)
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
