"""The endpoint's control token, read at start whether or not ``--http`` is given (the command
line is checked before anything runs); the endpoint's modules stay unloaded without it."""

from __future__ import annotations

import os
from pathlib import Path

TOKEN_ENV = "TRIO_GOSSIP_HTTP_TOKEN"


def read_token(path: str | None, environ: dict[str, str] | None = None) -> str | None:
    """The control token: the first line of ``path`` (``--http-token-file``) or else the
    ``TRIO_GOSSIP_HTTP_TOKEN`` variable; None when neither is set. ValueError when the file
    cannot be read or holds no token."""
    if path is not None:
        try:
            text = Path(path).read_text().strip()
        except OSError as exc:
            raise ValueError(f"--http-token-file {path}: {exc.strerror or exc}") from None
        if not text:
            raise ValueError(f"--http-token-file {path}: the file is empty")
        return text.splitlines()[0].strip()
    value = (os.environ if environ is None else environ).get(TOKEN_ENV, "").strip()
    return value or None
