"""Wire codec benchmark: decodes and encodes per second, single process.

Run from the repository root: ``python benchmarks/bench_wire.py [--quick] [--results DIR]``.
Writes benchmarks/results/wire.json, wire.md and wire.png (ops/s per case, decode and encode)
and prints the markdown table. About 20 s; --quick times each call for a tenth of the time.
Goals (brief): >= 200,000 ping decodes/s and >= 2,000 decodes/s of a 100-node push/pull stream;
>= 5,000 decodes and encodes/s of the compressed one (the C LZW codec, trio_gossip.wire._lzw).
The push/pull rows decode one buffer and encode one value over and over, so the codec's entry
memos answer for every entry after the first run; the "no entry memos" row empties them first.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from report import plot_bars, progress

from trio_gossip.wire import (
    Alive,
    Dead,
    Keyring,
    PacketMessage,
    Ping,
    PushNodeState,
    PushPull,
    StreamDecoder,
    Suspect,
    User,
    decode_message,
    decode_packet,
    encode_message,
    encode_packet,
    encode_stream,
    lzw,
)
from trio_gossip.wire import codec as wire_codec

RESULTS = Path(__file__).resolve().parent / "results"
VSN = bytes.fromhex("010502020505")  # what serf 0.9.4 advertises
META = bytes.fromhex("ff82a4726f6c65a3776562a26463a26c6f")  # serf tags {role: web, dc: lo}
KEYRING = Keyring([bytes(range(32))])


def per_call(fn: Callable[[], object], *, min_seconds: float = 0.3) -> float:
    """CPU seconds per call of ``fn``: best of 3 runs of at least ``min_seconds`` each.

    CPU time (not wall time) so that other processes on a shared machine do not distort it:
    ops/s below are what one core sustains.
    """
    clock = time.process_time
    count = 1
    while True:  # calibrate
        start = clock()
        for _ in range(count):
            fn()
        if clock() - start > min_seconds / 4:
            break
        count *= 4
    best = float("inf")
    for _ in range(3):
        start = clock()
        for _ in range(count):
            fn()
        best = min(best, (clock() - start) / count)
    return best


def node_state(i: int) -> PushNodeState:
    return PushNodeState(
        f"node-{i:03d}", bytes((10, 0, i >> 8, i & 255)), 7946, META, i + 1, 0, VSN
    )


def push_pull(nodes: int) -> PushPull:
    # serf's user state: 0x02 + a msgpack map holding a 512-slot event buffer, mostly nil
    user_state = b"\x02\x86" + b"\xc0" * 600
    return PushPull(False, tuple(node_state(i) for i in range(nodes)), user_state)


def broadcasts() -> list[PacketMessage]:
    out: list[PacketMessage] = []
    for i in range(10):
        name = f"node-{i:03d}"
        if i % 4 == 0:
            out.append(Alive(i + 1, name, bytes((10, 0, 0, i)), 7946, META, VSN))
        elif i % 4 == 1:
            out.append(Suspect(i, name, "node-000"))
        elif i % 4 == 2:
            out.append(Dead(i, name, "node-000"))
        else:
            out.append(
                User(b"\x01\x82\xa5LTime\x05\xa4Node" + bytes((0xA0 + len(name),)) + name.encode())
            )
    return out


def stream_decoder(data: bytes, keyring: Keyring | None = None) -> Callable[[], object]:
    def run() -> object:
        message = StreamDecoder(keyring=keyring).feed(data)
        assert message is not None
        return message

    return run


def first_copy(decode: Callable[[], object]) -> object:
    """Time decoding as of bytes never seen: the codec keeps repeated gossip decoded, and
    a benchmark that decodes one packet over and over would time only that memo."""
    wire_codec._gossip_memo.clear()
    return decode()


def without_state_memos(run: Callable[[], object]) -> Callable[[], object]:
    """``run`` with the push/pull entry memos emptied first (decoded entries are kept under their
    raw fields, encoded ones by value and by identity), as when every entry of the table is new
    to this node."""

    def cold() -> object:
        wire_codec._decoded_states.clear()
        wire_codec._state_memo.clear()
        wire_codec._state_by_id.clear()
        return run()

    return cold


def cases() -> list[tuple[str, int, Callable[[], object], Callable[[], object]]]:
    """(name, messages per operation, decode, encode)."""
    ping = Ping(42, "node-b", b"\x7f\x00\x00\x01", 7946, "node-a")
    ping_bytes = encode_message(ping)
    alive = Alive(7, "node-042", b"\x0a\x00\x00\x2a", 7946, META, VSN)
    alive_bytes = encode_packet([alive])
    gossip = broadcasts()
    compound = encode_packet(gossip, compress=True, crc=True)
    assert compound[5] == 9, "the compound should stay compressed"
    sealed = encode_packet(gossip, compress=True, crc=True, keyring=KEYRING)
    pp = push_pull(100)
    pp_stream = encode_stream(pp)
    pp_plain = encode_stream(pp, compress=False)
    pp_sealed = encode_stream(pp, keyring=KEYRING)
    return [
        (
            "ping (decode_message)",
            1,
            lambda: decode_message(ping_bytes),
            lambda: encode_message(ping),
        ),
        ("ping packet", 1, lambda: decode_packet(ping_bytes), lambda: encode_packet([ping])),
        (
            "alive with serf metadata, first copy",
            1,
            lambda: first_copy(lambda: decode_packet(alive_bytes)),
            lambda: encode_packet([alive]),
        ),
        (
            "same, a repeat (the gossip memo)",
            1,
            lambda: decode_packet(alive_bytes),
            lambda: encode_packet([alive]),
        ),
        (
            "compound of 10 broadcasts, compressed + CRC",
            10,
            lambda: first_copy(lambda: decode_packet(compound)),
            lambda: encode_packet(gossip, compress=True, crc=True),
        ),
        (
            "same, AES-256-GCM encrypted",
            10,
            lambda: first_copy(lambda: decode_packet(sealed, keyring=KEYRING)),
            lambda: encode_packet(gossip, compress=True, crc=True, keyring=KEYRING),
        ),
        (
            "push/pull 100 nodes, compressed (Go default)",
            1,
            stream_decoder(pp_stream),
            lambda: encode_stream(pp),
        ),
        (
            "same, no entry memos (all 100 entries new)",
            1,
            without_state_memos(stream_decoder(pp_stream)),
            without_state_memos(lambda: encode_stream(pp)),
        ),
        (
            "push/pull 100 nodes, uncompressed",
            1,
            stream_decoder(pp_plain),
            lambda: encode_stream(pp, compress=False),
        ),
        (
            "push/pull 100 nodes, compressed + encrypted",
            1,
            stream_decoder(pp_sealed, KEYRING),
            lambda: encode_stream(pp, keyring=KEYRING),
        ),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="time each call 10x shorter")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the files go")
    args = parser.parse_args(argv)
    results: Path = args.results
    min_seconds = 0.03 if args.quick else 0.3
    rows: list[dict[str, Any]] = []
    for name, messages, decode, encode in progress(cases(), "wire cases"):
        decode_s = per_call(decode, min_seconds=min_seconds)
        encode_s = per_call(encode, min_seconds=min_seconds)
        rows.append(
            {
                "case": name,
                "messages_per_op": messages,
                "decode_ops_per_s": round(1 / decode_s),
                "decode_us": round(decode_s * 1e6, 2),
                "encode_ops_per_s": round(1 / encode_s),
                "encode_us": round(encode_s * 1e6, 2),
            }
        )
    sizes = {
        "push/pull 100 nodes, compressed bytes": len(encode_stream(push_pull(100))),
        "push/pull 100 nodes, uncompressed bytes": len(
            encode_stream(push_pull(100), compress=False)
        ),
    }
    header = (
        f"# bench_wire ({platform.python_version()}, {platform.machine()}, 1 process,"
        " CPU time per op)"
    )
    lines = [
        header,
        "",
        "| case | decode ops/s | decode us | encode ops/s | encode us |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['case']} | {r['decode_ops_per_s']:,} | {r['decode_us']:.1f}"
            f" | {r['encode_ops_per_s']:,} | {r['encode_us']:.1f} |"
        )
    lines += ["", *(f"- {k}: {v:,}" for k, v in sizes.items())]
    lines += [
        "",
        f"LZW: {'C extension (trio_gossip.wire._lzw)' if lzw.NATIVE else 'pure Python'}.",
        "",
        "Goals: >= 200,000 ping decodes/s; >= 2,000 push/pull (100 nodes) decodes/s;"
        " >= 5,000 compressed push/pull (100 nodes) decodes and encodes/s.",
    ]
    table = "\n".join(lines) + "\n"
    results.mkdir(parents=True, exist_ok=True)
    (results / "wire.md").write_text(table)
    meta = {
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "lzw": "c" if lzw.NATIVE else "python",
    }
    (results / "wire.json").write_text(
        json.dumps({**meta, "cases": rows, "sizes": sizes}, indent=2) + "\n"
    )
    print(table)
    plot_bars(
        results / "wire.png",
        [str(r["case"]) for r in rows],
        {
            "decode": [float(r["decode_ops_per_s"]) for r in rows],
            "encode": [float(r["encode_ops_per_s"]) for r in rows],
        },
        title="Wire codec: operations per CPU second, one core",
        value_label="ops/s (log scale)",
        log=True,
        refs={
            "goal: ping decodes": 200_000,
            "goal: compressed push/pull": 5_000,
            "goal: push/pull decodes": 2_000,
        },
    )


if __name__ == "__main__":
    main()
