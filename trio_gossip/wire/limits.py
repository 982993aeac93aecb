"""Size limits the decoders enforce, so that no input can make them allocate far beyond its size.

Go memberlist 0.2.2 has almost no limits; the values below follow memberlist HEAD (v0.6.0) where it
has one, and are generous bounds elsewhere that no well-formed Go message comes near.
"""

from __future__ import annotations

MAX_PACKET_SIZE = 65536
"""Largest UDP datagram memberlist reads (its receive buffer is 64 KiB)."""

MAX_DECOMPRESSED_SIZE = 40 * 1024 * 1024
"""Largest decompressed stream message (HEAD refuses more than 40 MiB of LZW output)."""

MAX_PACKET_DECOMPRESSED_SIZE = 1024 * 1024
"""Budget for all LZW output of one packet, summed over nested compress layers. Go sends packets of
at most a few KiB before compression, so 1 MiB only stops decompression bombs."""

MAX_ENCRYPTED_FRAME_SIZE = 20 * 1024 * 1024
"""Largest encrypted stream frame (Go's ``maxPushStateBytes``, enforced by 0.2.2 and HEAD)."""

MAX_PUSH_PULL_NODES = 1024 * 1024
"""Largest ``pushPullHeader.Nodes`` (HEAD rejects more than 1 Mi node states)."""

MAX_USER_STATE_SIZE = 20 * 1024 * 1024
"""Largest ``pushPullHeader.UserStateLen`` and stream ``UserMsgLen`` (HEAD: 20 MiB)."""

MAX_NESTING_DEPTH = 8
"""Deepest nesting of compound/compress layers in a packet. Go sends at most compress > compound."""

MAX_PACKET_MESSAGES = 4096
"""Most messages one packet may expand to. Go puts at most 255 in a compound and one compound in a
packet; the bound stops a crafted packet from expanding into millions of objects."""

MAX_COMPOUND_PARTS = 255
"""A compound's part count is one byte."""

MAX_COMPOUND_PART_SIZE = 65535
"""A compound's part lengths are u16."""

MAX_LABEL_SIZE = 255
"""A label header's length is one byte (and an empty label means no header)."""
