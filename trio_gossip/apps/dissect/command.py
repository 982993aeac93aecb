"""``trio-gossip dissect``: read a capture, decode every payload, print the records."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from trio_gossip.apps.dissect.decode import decode_capture
from trio_gossip.apps.dissect.pcap import read_capture
from trio_gossip.apps.dissect.record import count_types
from trio_gossip.apps.dissect.render import summary as summary_table
from trio_gossip.apps.dissect.render import to_json, to_text
from trio_gossip.wire import Keyring


def dissect(
    capture: str | Path,
    *,
    keys: list[bytes],
    label: bytes,
    as_json: bool,
    summary: bool,
    out: TextIO,
) -> int:
    """Print every memberlist message in ``capture``; raises CaptureError if unreadable."""
    cap = read_capture(capture)
    keyring = Keyring(keys) if keys else None
    records = decode_capture(cap, keyring=keyring, label=label)
    render = to_json if as_json else to_text
    for record in records:
        print(render(record), file=out)
    if summary:
        counts = count_types(records)
        for record in records:
            if record.message is None:
                counts[record.transport, "(undecodable)"] += 1
        print(file=out)
        print(summary_table(counts), file=out)
    return 0
