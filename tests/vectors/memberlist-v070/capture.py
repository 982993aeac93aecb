"""Regenerate vectors.json: real traffic of Go memberlist v0.7.0, decoded by a reference decoder.

    python3 tests/vectors/memberlist-v070/capture.py        (needs Go; builds the peer)

It runs the Go test peer (tests/peers/memberlist) in five configurations with its capture on
(a wrapper around memberlist's NetTransport that records every datagram and both directions
of every stream as they are on the wire), drives some traffic (joins, gossip, user messages
both kinds, a metadata update, a node that stops answering, a leave; a TCP ping and a bad
stream sent by hand so that Go's ack and error replies are recorded too), and keeps the first
example of each distinct shape (layers and message types) of what Go sent.

Each kept example is decoded here by a small reference decoder written from memberlist's
source (net.go, util.go, security.go, label.go) with nothing but msgpack, zlib and
cryptography, independent of trio_gossip.wire, which tests/test_interop_go_vectors.py checks
against these decodings field by field.
"""

from __future__ import annotations

import base64
import json
import socket
import struct
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

import msgpack
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

HERE = Path(__file__).resolve().parent
if str(HERE.parents[1]) not in sys.path:
    sys.path.insert(0, str(HERE.parents[1]))  # tests/, for interop.go_peer

from interop.go_peer import GoOptions, GoPeer, Timing, read_capture  # noqa: E402

# Fixed test keys (they only ever protect loopback test traffic).
KEY_32 = bytes(range(32))
KEY_16 = bytes(range(100, 116))
LABEL = "v070-label"

TYPE_NAMES = {
    0: "ping",
    1: "indirectPing",
    2: "ack",
    3: "suspect",
    4: "alive",
    5: "dead",
    6: "pushPull",
    7: "compound",
    8: "user",
    9: "compress",
    10: "encrypt",
    11: "nack",
    12: "hasCrc",
    13: "err",
    244: "hasLabel",
}
BYTES_FIELDS = {"Addr", "Meta", "Vsn", "Payload", "Target", "SourceAddr"}


# ---- reference decoder ------------------------------------------------------------------------


def lzw_decode(data: bytes) -> bytes:
    """Go's compress/lzw reader, LSB order, 8-bit literals (memberlist's settings)."""
    clear, eof = 256, 257
    table: list[bytes] = [bytes((i,)) for i in range(256)] + [b"", b""]
    width, bits, nbits, pos = 9, 0, 0, 0
    prev: bytes | None = None
    out = bytearray()
    while True:
        while nbits < width:
            if pos >= len(data):
                raise ValueError("LZW stream ends without an EOF code")
            bits |= data[pos] << nbits
            pos += 1
            nbits += 8
        code = bits & ((1 << width) - 1)
        bits >>= width
        nbits -= width
        if code == clear:
            table, width, prev = table[:258], 9, None
            continue
        if code == eof:
            return bytes(out)
        if code < len(table) and code not in (clear, eof):
            entry = table[code]
            if prev is not None:
                table.append(prev + entry[:1])
        elif code == len(table) and prev is not None:
            entry = prev + prev[:1]
            table.append(entry)
        else:
            raise ValueError(f"bad LZW code {code}")
        out += entry
        prev = entry
        if len(table) >= 1 << width:
            if width < 12:
                width += 1
            else:
                prev = None  # table full: nothing more is added until a clear code


def msgpack_forms(data: bytes) -> tuple[dict[str, Any], dict[str, str], int]:
    """A msgpack map of scalars (what memberlist's structs encode to) as (values, the format
    byte of each value in hex, bytes consumed)."""
    unpacker = msgpack.Unpacker(raw=True)
    unpacker.feed(data)
    values = unpacker.unpack()
    end = unpacker.tell()
    forms: dict[str, str] = {}
    pos = 1 if data[0] & 0xF0 == 0x80 else 3  # fixmap or map16 header
    for _ in range(len(values)):
        key_len = data[pos] & 0x1F
        key = data[pos + 1 : pos + 1 + key_len].decode()
        pos += 1 + key_len
        forms[key] = f"{data[pos]:02x}"
        sub = msgpack.Unpacker(raw=True)
        sub.feed(data[pos:])
        sub.skip()
        pos += sub.tell()
    return {k.decode(): v for k, v in values.items()}, forms, end


def jsonable(fields: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if isinstance(value, bytes):
            out[key] = value.hex() if key in BYTES_FIELDS else value.decode()
        else:
            out[key] = value
    return out


def decrypt(keys: list[bytes], data: bytes, aad: bytes) -> tuple[bytes, dict[str, Any]]:
    """security.go decryptPayload: version byte, 12-byte nonce, AES-GCM; any key may fit."""
    version, nonce, sealed = data[0], data[1:13], data[13:]
    for key in keys:
        try:
            plain = AESGCM(key).decrypt(nonce, sealed, aad or None)
        except Exception:
            continue
        if version == 0:
            plain = plain[: -plain[-1]]
        return plain, {
            "version": version,
            "nonce": nonce.hex(),
            "aad": aad.hex(),
            "key": key.hex(),
            "plaintext": plain.hex(),
        }
    raise ValueError("no key decrypts this payload")


def message(data: bytes) -> dict[str, Any]:
    """One packet message, with compound and compress layers opened (net.go handleCommand)."""
    kind = data[0]
    node: dict[str, Any] = {"layer": TYPE_NAMES.get(kind, str(kind)), "hex": data.hex()}
    if kind == 7:  # compound: count, u16 lengths, parts (util.go decodeCompoundMessage)
        count = data[1]
        lengths = struct.unpack(f">{count}H", data[2 : 2 + 2 * count])
        offset, parts = 2 + 2 * count, []
        for length in lengths:
            parts.append(message(data[offset : offset + length]))
            offset += length
        node["parts"] = parts
    elif kind == 9:  # compress: msgpack {Algo, Buf} (util.go decompressPayload)
        fields, forms, _ = msgpack_forms(data[1:])
        payload = lzw_decode(fields["Buf"])
        node.update(algo=fields["Algo"], payload=payload.hex(), inner=message(payload))
    elif kind == 8:
        node["fields"] = {"Payload": data[1:].hex()}
    else:
        fields, forms, _ = msgpack_forms(data[1:])
        node.update(fields=jsonable(fields), forms=forms)
    return node


def packet(data: bytes, keys: list[bytes]) -> dict[str, Any]:
    """A whole datagram (net.go ingestPacket): label, decryption, CRC, then the message."""
    if data[0] == 244:
        label = data[2 : 2 + data[1]]
        return {
            "layer": "hasLabel",
            "label": label.decode(),
            "hex": data.hex(),
            "inner": _unlabelled(data[2 + data[1] :], keys, label),
        }
    return _unlabelled(data, keys, b"")


def _unlabelled(data: bytes, keys: list[bytes], label: bytes) -> dict[str, Any]:
    if keys:
        plain, info = decrypt(keys, data, label)
        return {"layer": "encrypted", "hex": data.hex(), **info, "inner": _plain(plain)}
    return _plain(data)


def _plain(data: bytes) -> dict[str, Any]:
    if len(data) >= 5 and data[0] == 12:
        crc = int.from_bytes(data[1:5], "big")
        assert crc == zlib.crc32(data[5:]), "CRC mismatch"
        return {"layer": "hasCrc", "crc": crc, "hex": data.hex(), "inner": message(data[5:])}
    return message(data)


def stream(data: bytes, keys: list[bytes], *, dialer: bool, label: bytes = b"") -> dict[str, Any]:
    """One direction of a stream (net.go readStream and friends): the dialer's label header,
    the encryption frame, compression, then ping, ack, err, user or push/pull. The listener
    writes no label header, but its cluster ``label`` is still the frame's associated data."""
    if dialer and data and data[0] == 244:
        label = data[2 : 2 + data[1]]
        inner = _stream_frame(data[2 + data[1] :], keys, label)
        return {"layer": "hasLabel", "label": label.decode(), "hex": data.hex(), "inner": inner}
    return _stream_frame(data, keys, label)


def _stream_frame(data: bytes, keys: list[bytes], label: bytes) -> dict[str, Any]:
    if data[0] == 10:
        size = int.from_bytes(data[1:5], "big")
        plain, info = decrypt(keys, data[5 : 5 + size], data[:5] + label)
        return {"layer": "encrypt", "hex": data.hex(), **info, "inner": _stream_body(plain)}
    return _stream_body(data)


def _stream_body(data: bytes) -> dict[str, Any]:
    kind = data[0]
    node: dict[str, Any] = {"layer": TYPE_NAMES.get(kind, str(kind)), "hex": data.hex()}
    if kind == 9:
        fields, _, _ = msgpack_forms(data[1:])
        payload = lzw_decode(fields["Buf"])
        node.update(algo=fields["Algo"], payload=payload.hex(), inner=_stream_body(payload))
        return node
    header, forms, used = msgpack_forms(data[1:])
    rest = data[1 + used :]
    node.update(fields=jsonable(header), forms=forms)
    if kind == 6:  # pushPullHeader, Nodes x pushNodeState, then UserStateLen raw bytes
        states = []
        for _ in range(header["Nodes"]):
            state, state_forms, used = msgpack_forms(rest)
            states.append({"fields": jsonable(state), "forms": state_forms})
            rest = rest[used:]
        node["states"] = states
        node["user_state"] = rest[: header["UserStateLen"]].hex()
    elif kind == 8:  # userMsgHeader, then UserMsgLen raw bytes
        node["user_msg"] = rest[: header["UserMsgLen"]].hex()
    return node


def shape(node: dict[str, Any]) -> str:
    """Layers and message types, e.g. 'hasCrc>compress>compound(alive,alive)'."""
    layer = node["layer"]
    if "parts" in node:
        return f"{layer}({','.join(shape(p) for p in node['parts'])})"
    if "inner" in node:
        return f"{layer}>{shape(node['inner'])}"
    if layer == "pushPull":
        return f"pushPull(join={node['fields']['Join']})"
    return str(layer)


# ---- driving the Go peer --------------------------------------------------------------------


def raw_stream(address: str, data: bytes) -> bytes:
    """Send ``data`` on a fresh TCP connection, half-close it, read the whole reply."""
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    return reply


def ping_stream(node: str, label: str = "") -> bytes:
    body = b"\x00" + msgpack.packb({"Node": node, "SeqNo": 4242}, use_bin_type=False)
    if label:
        body = bytes((244, len(label))) + label.encode() + body
    return body


NODES: dict[str, dict[str, list[Any]]] = {}  # run -> node -> [addr, port]


def run(name: str, tmp: Path, options: dict[str, Any], keys: list[bytes]) -> list[dict]:
    capture = tmp / f"{name}.jsonl"
    timing = Timing(profile="local", probe_interval=0.5, push_pull_interval=1.0)
    go = GoPeer(GoOptions(timing=timing, capture=capture, **options), tmp)
    try:
        names = go.names
        if len(names) == 3:
            time.sleep(1.5)
            go.send("go-0", "go-1", b"best effort from go-0", reliable=False)
            go.send("go-1", "go-2", b"r" * 200, reliable=True)
            go.update_meta("go-2", b"meta-2-updated")
            raw_stream(go.address("go-0"), ping_stream("go-0", options.get("label", "")))
            time.sleep(1.0)
            go.shutdown("go-2")
            time.sleep(4.0)
            go.leave("go-1")
            time.sleep(1.0)
        elif len(names) == 2:
            time.sleep(1.5)
            go.send("go-0", "go-1", b"best effort", reliable=False)
            go.send("go-1", "go-0", b"reliable" * 20, reliable=True)
            raw_stream(go.address("go-0"), ping_stream("go-0", options.get("label", "")))
            if keys:  # a plaintext stream to an encrypted node: Go answers with errMsg
                raw_stream(go.address("go-1"), ping_stream("go-1", options.get("label", "")))
            time.sleep(1.5)
        NODES[name] = {n: list(a) for n, a in go.nodes.items()}
    finally:
        go.close()
    return select(name, read_capture(capture), keys, options.get("label", "").encode())


def select(name: str, records: list[dict], keys: list[bytes], label: bytes) -> list[dict]:
    """The first example of each distinct shape Go produced, decoded."""
    seen: set[str] = set()
    vectors = []
    for r in records:
        candidates = []
        if r["kind"] == "packet" and r["dir"] == "out":
            candidates.append(("packet", bytes.fromhex(r["hex"]), True, r))
        elif r["kind"] == "stream":
            # What this node wrote is Go's output; what it read is Go's too when the other
            # end was a Go node (not one of our hand-made requests, which never come first).
            candidates.append(("stream", bytes.fromhex(r["sent"]), r["dialer"], r))
            if r["dialer"]:
                candidates.append(("stream", bytes.fromhex(r["received"]), False, r))
        for kind, data, dialer, rec in candidates:
            if not data:
                continue
            try:
                if kind == "packet":
                    decoded = packet(data, keys)
                else:
                    decoded = stream(data, keys, dialer=dialer, label=label)
            except Exception:
                continue  # e.g. the reply to a hand-made request we could not read
            key = f"{kind}:{shape(decoded)}"
            if key in seen:
                continue
            seen.add(key)
            vectors.append(
                {
                    "name": f"{name}-{len(vectors) + 1}",
                    "run": name,
                    "kind": kind,
                    "role": ("dialer" if dialer else "listener") if kind == "stream" else None,
                    "node": rec["node"],
                    "shape": shape(decoded),
                    "hex": data.hex(),
                    "decoded": decoded,
                }
            )
    return vectors


def biggest_push_pull(tmp: Path) -> list[dict]:
    """A push/pull of more than 127 node states: Go v2 writes Nodes as a signed int16."""
    capture = tmp / "big.jsonl"
    go = GoPeer(
        GoOptions(
            count=130, quiet=True, capture=capture, capture_nodes=1, timing=Timing(profile="lan")
        ),
        tmp,
    )
    NODES["big"] = {n: list(a) for n, a in go.nodes.items() if n in ("go-0", "go-1")}
    go.close()
    streams = [r for r in read_capture(capture) if r["kind"] == "stream"]
    best = max(streams, key=lambda r: len(r["sent"]))
    decoded = stream(bytes.fromhex(best["sent"]), [], dialer=False)
    return [
        {
            "name": "big-1",
            "run": "big",
            "kind": "stream",
            "role": "listener",
            "node": best["node"],
            "shape": shape(decoded),
            "hex": best["sent"],
            "decoded": decoded,
        }
    ]


def main() -> None:
    b64 = base64.b64encode
    runs = {
        "plain": ({"count": 3, "meta": "meta-{i}", "user_state": "u" * 200}, []),
        "label": ({"count": 2, "label": LABEL}, []),
        "encrypted": ({"count": 2, "keys": [b64(KEY_32).decode()]}, [KEY_32]),
        "label-encrypted": ({"count": 2, "label": LABEL, "keys": [b64(KEY_16).decode()]}, [KEY_16]),
    }
    vectors: list[dict] = []
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        for name, (options, keys) in runs.items():
            vectors += run(name, tmp, options, keys)
        vectors += biggest_push_pull(tmp)
    out = {
        "memberlist": "v0.7.0",
        "codec": "github.com/hashicorp/go-msgpack/v2 v2.1.5",
        "keys": {"encrypted": KEY_32.hex(), "label-encrypted": KEY_16.hex()},
        "label": LABEL,
        "nodes": NODES,
        "vectors": vectors,
    }
    (HERE / "vectors.json").write_text(json.dumps(out, indent=1) + "\n")
    print(f"{len(vectors)} vectors written")
    for v in vectors:
        print(f"  {v['name']:20} {v['kind']:6} {v['shape'][:90]}")


if __name__ == "__main__":
    main()
