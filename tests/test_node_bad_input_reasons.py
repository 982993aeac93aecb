"""Reasons for refused input: one reason per kind of refusal, whatever the hostile bytes say,
and a bounded table (a metric label set a sender cannot grow)."""

from __future__ import annotations

from trio_gossip.shell.node.stats import MAX_BAD_REASONS, IOCounters, count_bad_input


def test_numbers_quotes_and_hex_words_fold_into_one_reason() -> None:
    io = IOCounters()
    texts = [
        "CRC mismatch: header says 1a2b3c4d, payload has 00000000",
        "CRC mismatch: header says fcffbcca, payload has 12345678",  # hex without a digit
        "CRC mismatch: header says deadbeef, payload has abcdefab",
    ]
    reasons = {count_bad_input(io, "packet", t) for t in texts}
    assert reasons == {"packet: CRC mismatch: header says #"}
    assert io.bad_input_reasons == {"packet: CRC mismatch: header says #": 3}
    assert count_bad_input(io, "stream", "compound part 2 > ping: body is int 7") == (
        "stream: ping: body is not a map")
    assert count_bad_input(io, "packet", "ack: body is bool False, expected a msgpack map") == (
        "packet: ack: body is not a map")
    assert count_bad_input(io, "packet", "unknown label b'xyz' (of 3 bytes)") == (
        "packet: unknown label #")


def test_the_table_stays_bounded() -> None:
    io = IOCounters()
    for i in range(MAX_BAD_REASONS * 2):
        word = "".join(chr(ord("g") + int(d)) for d in f"{i:04d}")  # letters only, all distinct
        count_bad_input(io, "packet", f"refused {word}")
    assert len(io.bad_input_reasons) == MAX_BAD_REASONS + 1
    assert io.bad_input_reasons["other"] == MAX_BAD_REASONS
