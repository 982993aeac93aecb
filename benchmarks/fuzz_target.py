"""The atheris (libFuzzer) target for the wire decoders; bench_fuzz.py runs it.

``python benchmarks/fuzz_target.py CORPUS_DIR -max_total_time=10`` (libFuzzer's flags). The first
input byte picks a decoder: memberlist packets (lenient and strict), a memberlist stream fed in
two cuts, dskit's TCP packet frame, and a dskit ring value. Each may refuse its input only with
DecodeError (memberlist's and dskit's errors both derive from it); anything else is a crash,
which libFuzzer reports and saves under -artifact_prefix.
"""

from __future__ import annotations

import contextlib
import sys

import atheris

with atheris.instrument_imports():
    from trio_gossip.wire import StreamDecoder, decode_packet, decode_packet_lenient
    from trio_gossip.wire.dskit import decode_packet as decode_dskit_packet
    from trio_gossip.wire.dskit import decode_ring_value
    from trio_gossip.wire.errors import DecodeError


def _stream(data: bytes) -> None:
    cut = data[0] % (len(data) + 1) if data else 0
    decoder = StreamDecoder()
    if decoder.feed(data[:cut]) is None and decoder.feed(data[cut:]) is None:
        decoder.eof()


DECODERS = (decode_packet_lenient, decode_packet, _stream, decode_dskit_packet, decode_ring_value)


def test_one_input(raw: bytes) -> None:
    if not raw:
        return
    decoder = DECODERS[raw[0] % len(DECODERS)]
    with contextlib.suppress(DecodeError):
        decoder(raw[1:])


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
