"""The shipped Serf captures dissect completely and match the README's table and the vectors."""

from __future__ import annotations

import base64
import json
import re
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

from trio_gossip.apps.dissect.decode import decode_capture
from trio_gossip.apps.dissect.pcap import read_capture
from trio_gossip.apps.dissect.record import Record, count_types
from trio_gossip.wire import Keyring
from trio_gossip.wire.stream import REMOTE_ENCRYPTED

pytest.importorskip("scapy")

VECTORS = Path(__file__).resolve().parents[1].parent / "shared" / "vectors" / "memberlist"
CAPTURED = VECTORS / "captured"
CAPTURES = ("cluster", "encrypted", "tcp-fallback")
CONTAINERS = frozenset({"compound", "compress", "hasCrc", "encrypt", "hasLabel"})


def key() -> Keyring:
    return Keyring([base64.b64decode((CAPTURED / "encrypt-key.txt").read_text().strip())])


@cache
def dissect(name: str, with_key: bool = True) -> tuple[Record, ...]:
    keyring = key() if with_key and name == "encrypted" else None
    cap = read_capture(CAPTURED / f"{name}.pcap")
    return tuple(decode_capture(cap, keyring=keyring, label=b""))


def readme_table() -> dict[str, Counter[tuple[str, str]]]:
    """The README's "Message types seen in the captures" as {capture: {(transport, type): n}}."""
    text = (VECTORS / "README.md").read_text()
    section = text.split("## Message types seen in the captures", 1)[1].split("\n## ", 1)[0]
    table: dict[str, Counter[tuple[str, str]]] = {c: Counter() for c in CAPTURES}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 5 or not re.fullmatch(r"\d+|–", cells[0]):
            continue
        # "encrypt (stream frame)" and "encrypted UDP datagram (...)" are both our "encrypt".
        name = "encrypt" if cells[1].startswith("encrypt") else cells[1]
        for capture, cell in zip(CAPTURES, cells[2:], strict=True):
            for transport, count in re.findall(r"(udp|tcp) (\d+)", cell.replace("*", "")):
                table[capture][transport, name] += int(count)
    return table


def test_readme_table_parses() -> None:
    table = readme_table()
    assert table["cluster"]["udp", "ping"] == 52
    assert table["encrypted"]["udp", "encrypt"] == 227
    assert table["encrypted"]["tcp", "encrypt"] == 6
    assert table["tcp-fallback"]["tcp", "ping"] == 8


@pytest.mark.parametrize("name", CAPTURES)
def test_every_payload_decodes(name: str) -> None:
    records = dissect(name)
    assert records
    bad = [(r.frame, r.layering, r.error) for r in records if r.error is not None]
    assert bad == []
    assert all(r.note is None for r in records)
    assert [r.frame for r in records] == sorted(r.frame for r in records)


@pytest.mark.parametrize("name", CAPTURES)
def test_type_counts_match_readme(name: str) -> None:
    assert count_types(dissect(name)) == readme_table()[name]


def test_encrypted_capture_has_both_error_replies() -> None:
    errs = [r for r in dissect("encrypted") if r.path[-1] == "err"]
    assert [(r.layering, r.direction) for r in errs] == [
        ("compress > err", "server->client"),  # d, without a key, answering a's join
        ("encrypt > compress > err", "server->client"),  # a answering d's plaintext join
    ]


def test_encrypted_capture_without_key() -> None:
    records = dissect("encrypted", with_key=False)
    udp = [r for r in records if r.transport == "udp"]
    # One record per datagram, every one of them undecodable; no crash on the way.
    assert len(udp) == len({r.payload for r in udp}) == 227
    assert all(r.message is None and r.error for r in udp)
    tcp = [r for r in records if r.transport == "tcp"]
    encrypted = [r for r in tcp if r.path == ("encrypt",)]
    assert len(encrypted) == 6
    assert all(r.message is None and r.error == REMOTE_ENCRYPTED for r in encrypted)
    # Node d had no key: its join and its error reply are plaintext and still read.
    plain = sorted(r.layering for r in tcp if r.message is not None)
    assert plain == ["compress > err", "compress > pushPull"]


def _vector_value(value: object) -> object:
    if isinstance(value, dict):
        return value.get("ip", value.get("hex"))
    return value


@pytest.mark.parametrize(
    "vector", sorted(p.stem for p in (CAPTURED / "vectors").glob("*.json")), ids=str
)
def test_captured_vector_is_found(vector: str) -> None:
    from trio_gossip.apps.dissect.render import fields  # noqa: PLC0415

    meta = json.loads((CAPTURED / "vectors" / f"{vector}.json").read_text())
    records = dissect(meta["capture"].removesuffix(".pcap"))
    path = tuple(
        "encrypt" if p == "encryptedPacket" else p
        for p in meta["layering_outer_to_inner"].split(" > ")
    )
    at_frame = [r for r in records if r.frame == meta["pcap_frame"]]
    assert {r.transport for r in at_frame} == {meta["transport"]}
    assert {round(r.time, 6) for r in at_frame} == {meta["time_s_since_capture_start"]}
    if path[-1] in CONTAINERS:
        # The container is on the path of the messages inside it.
        prefix = " > ".join(path)
        assert any(re.sub(r"\[\d+\]", "", r.layering).startswith(prefix) for r in at_frame)
        return
    (record,) = [r for r in at_frame if r.path == path]
    assert record.raw.hex() == (CAPTURED / "vectors" / f"{vector}.hex").read_text().strip()
    assert record.message is not None
    ours = fields(record.message)
    shared = set(ours) & set(meta["fields"])
    assert shared or path[-1] in ("pushPull", "user")
    for name in shared:
        assert ours[name] == _vector_value(meta["fields"][name]), name
