"""Reading captures with scapy: payload extraction, padding, fragments, pcapng, bad files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from trio_gossip.apps.dissect.pcap import CaptureError, read_capture

CAPTURED = Path(__file__).resolve().parents[1].parent / "shared" / "vectors/memberlist/captured"

scapy_all = pytest.importorskip("scapy.all")


def ether() -> Any:
    # Explicit addresses: otherwise scapy resolves them (ARP / neighbour discovery) on build.
    return scapy_all.Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")


def write(tmp_path: Path, packets: list[Any], name: str = "t.pcap") -> Path:
    path = tmp_path / name
    writer = scapy_all.wrpcapng if name.endswith(".pcapng") else scapy_all.wrpcap
    writer(str(path), packets)
    return path


def ether_ip(src: str = "10.0.0.1", dst: str = "10.0.0.2") -> Any:
    return ether() / scapy_all.IP(src=src, dst=dst)


def test_shipped_capture_counts() -> None:
    cap = read_capture(CAPTURED / "cluster.pcap")
    # README: 203 UDP datagrams and 8 TCP connections, 4 of them carrying a push/pull each way.
    assert len(cap.datagrams) == 203
    assert len(cap.streams) == 4
    assert all(d.data and d.problem is None for d in cap.datagrams)
    assert all(s.gap_at is None and s.from_client is not None for s in cap.streams)
    assert [d.frame for d in cap.datagrams] == sorted(d.frame for d in cap.datagrams)
    assert cap.datagrams[0].time >= 0.0


def test_tcp_fallback_ping_stream_position() -> None:
    cap = read_capture(CAPTURED / "tcp-fallback.pcap")
    # The vector ping-4 is the client side of the connection whose data starts in frame 55.
    (ping,) = [s for s in cap.streams if s.frame == 55]
    assert ping.from_client is True
    assert ping.src == ("127.0.0.1", 51208)
    assert ping.dst == ("127.0.0.1", 7946)
    assert len(ping.data) == 73
    assert ping.time == pytest.approx(3.006604, abs=1e-6)
    (ack,) = [s for s in cap.streams if s.connection == ping.connection and s is not ping]
    assert (ack.frame, len(ack.data), ack.from_client) == (58, 36, False)


def test_ethernet_padding_is_not_payload(tmp_path: Path) -> None:
    udp = bytes(ether_ip() / scapy_all.UDP(sport=1, dport=2) / b"ab") + b"\x00" * 6
    syn = ether_ip() / scapy_all.TCP(sport=3, dport=4, flags="S", seq=99)
    data = bytes(ether_ip() / scapy_all.TCP(sport=3, dport=4, flags="PA", seq=100) / b"x")
    ack = bytes(ether_ip() / scapy_all.TCP(sport=3, dport=4, flags="A", seq=101))
    packets = [
        scapy_all.Ether(udp),
        syn,
        scapy_all.Ether(data + b"\x00" * 5),
        scapy_all.Ether(ack + b"\x00" * 6),
    ]
    cap = read_capture(write(tmp_path, packets))
    assert [d.data for d in cap.datagrams] == [b"ab"]
    assert [s.data for s in cap.streams] == [b"x"]


def test_ipv4_fragments_are_reassembled(tmp_path: Path) -> None:
    payload = bytes(range(256)) * 12
    whole = (
        scapy_all.IP(src="10.0.0.1", dst="10.0.0.2", id=7)
        / scapy_all.UDP(sport=7946, dport=7947)
        / payload
    )
    frags = scapy_all.fragment(whole, fragsize=800)
    assert len(frags) > 1
    packets = [ether() / f for f in reversed(frags)]
    cap = read_capture(write(tmp_path, packets))
    (dgram,) = cap.datagrams
    assert dgram.data == payload
    assert dgram.frame == len(frags)
    assert dgram.src == ("10.0.0.1", 7946)


def test_incomplete_fragments_are_reported(tmp_path: Path) -> None:
    whole = scapy_all.IP(src="10.0.0.1", dst="10.0.0.2") / scapy_all.UDP() / (b"z" * 2000)
    first = scapy_all.fragment(whole, fragsize=800)[0]
    cap = read_capture(write(tmp_path, [ether() / first]))
    (dgram,) = cap.datagrams
    assert dgram.data == b""
    assert dgram.problem is not None
    assert "fragment" in dgram.problem


def test_snap_length_truncation_is_reported(tmp_path: Path) -> None:
    pkt = ether_ip() / scapy_all.UDP(sport=1, dport=2, len=108) / b"short"
    cap = read_capture(write(tmp_path, [pkt]))
    (dgram,) = cap.datagrams
    assert dgram.problem == "captured 5 of 100 bytes (snap length)"


def test_pcapng_and_ipv6(tmp_path: Path) -> None:
    pkt = (
        ether()
        / scapy_all.IPv6(src="::1", dst="fe80::2")
        / scapy_all.UDP(sport=7946, dport=7947)
        / b"\x00\x01"
    )
    cap = read_capture(write(tmp_path, [pkt], "t.pcapng"))
    (dgram,) = cap.datagrams
    assert (dgram.src, dgram.dst, dgram.data) == (("::1", 7946), ("fe80::2", 7947), b"\x00\x01")


def test_non_ip_frames_are_skipped(tmp_path: Path) -> None:
    packets = [ether() / scapy_all.ARP(), ether_ip() / scapy_all.UDP() / b"k"]
    cap = read_capture(write(tmp_path, packets))
    assert cap.frames == 2
    assert [(d.frame, d.data) for d in cap.datagrams] == [(2, b"k")]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="cannot read"):
        read_capture(tmp_path / "nope.pcap")


def test_not_a_capture(tmp_path: Path) -> None:
    path = tmp_path / "junk.pcap"
    path.write_bytes(b"this is not a capture file at all")
    with pytest.raises(CaptureError, match="cannot read"):
        read_capture(path)


def test_ipv6_extension_headers_and_quoted_headers(tmp_path: Path) -> None:
    six = ether() / scapy_all.IPv6(src="::1", dst="::2")
    quoted = scapy_all.IP(src="10.0.0.2", dst="10.0.0.1") / scapy_all.UDP() / b"quoted"
    packets = [
        six / scapy_all.IPv6ExtHdrHopByHop() / scapy_all.UDP(sport=1, dport=2) / b"hop",
        # ICMP errors quote the offending UDP header: that is not a datagram of ours.
        six / scapy_all.ICMPv6DestUnreach() / scapy_all.IPv6(src="::2", dst="::1") / quoted[1],
        ether_ip() / scapy_all.ICMP(type=3, code=3) / quoted,
    ]
    cap = read_capture(write(tmp_path, packets))
    assert [(d.frame, d.data) for d in cap.datagrams] == [(1, b"hop")]


def test_port_filter_keeps_either_end(tmp_path: Path) -> None:
    tcp = scapy_all.TCP
    packets = [
        ether_ip() / scapy_all.UDP(sport=7946, dport=7947) / b"gossip",
        ether_ip() / scapy_all.UDP(sport=53, dport=53) / b"dns",
        ether_ip() / tcp(sport=40000, dport=7946, flags="S", seq=9),
        ether_ip() / tcp(sport=40000, dport=7946, flags="PA", seq=10) / b"stream",
        ether_ip() / tcp(sport=40001, dport=80, flags="S", seq=19),
        ether_ip() / tcp(sport=40001, dport=80, flags="PA", seq=20) / b"GET /",
        ether_ip() / tcp(sport=80, dport=40001, flags="PA", seq=50) / b"200 OK",
    ]
    path = write(tmp_path, packets)
    everything = read_capture(path)
    assert len(everything.datagrams) == 2
    assert len(everything.streams) == 3
    assert (everything.skipped_frames, everything.skipped_ports) == (0, ())
    cap = read_capture(path, frozenset({7946}))
    assert [d.data for d in cap.datagrams] == [b"gossip"]
    assert [s.data for s in cap.streams] == [b"stream"]
    # Frames with a payload that were left out, by port: the TCP ones by their lower port
    # (the service's, not the client's ephemeral one).
    assert cap.skipped_frames == 3
    assert cap.skipped_ports == ((80, 2), (53, 1))
    assert [s.data for s in read_capture(path, frozenset({7947})).streams] == []


def test_port_filter_and_fragments(tmp_path: Path) -> None:
    def udp_to(dport: int, ident: int) -> Any:
        whole = (
            scapy_all.IP(src="10.0.0.1", dst="10.0.0.2", id=ident)
            / scapy_all.UDP(sport=7946, dport=dport)
            / (b"z" * 2000)
        )
        return [ether() / f for f in scapy_all.fragment(whole, fragsize=800)]

    gossip, other = udp_to(7947, 1), udp_to(9999, 2)
    cap = read_capture(write(tmp_path, gossip + other), frozenset({7947}))
    (dgram,) = cap.datagrams
    assert (dgram.dst, len(dgram.data)) == (("10.0.0.2", 7947), 2000)
    assert cap.skipped_ports == ((7946, 1), (9999, 1))  # one reassembled datagram left out
    # An incomplete datagram: the first fragment's UDP header still tells its ports.
    cut = read_capture(write(tmp_path, other[:1], "cut.pcap"), frozenset({9999}))
    (lost,) = cut.datagrams
    assert lost.dst == ("10.0.0.2", 9999)
    assert lost.problem == "incomplete IPv4 fragments at the end of the capture"
    assert read_capture(write(tmp_path, other[:1], "cut2.pcap"), frozenset({7947})).datagrams == ()


def test_ipv6_first_fragment_has_ports(tmp_path: Path) -> None:
    whole = (
        scapy_all.IPv6(src="::1", dst="::2")
        / scapy_all.IPv6ExtHdrFragment()
        / scapy_all.UDP(sport=7946, dport=7948)
        / (b"q" * 3000)
    )
    frags = [ether() / f for f in scapy_all.fragment6(whole, 1280)]
    assert len(frags) > 1
    path = write(tmp_path, frags)
    first, *rest = read_capture(path).datagrams
    assert (first.src, first.dst) == (("::1", 7946), ("::2", 7948))
    assert all(d.src == ("::1", 0) for d in rest)  # later fragments carry no UDP header
    (kept,) = read_capture(path, frozenset({7948})).datagrams
    assert kept.problem == "IPv6 fragment (not reassembled)"


def test_start_time_is_the_first_frames(tmp_path: Path) -> None:
    first = ether_ip() / scapy_all.UDP(sport=1, dport=2) / b"a"
    second = ether_ip() / scapy_all.UDP(sport=1, dport=2) / b"b"
    first.time, second.time = 1_700_000_000.25, 1_700_000_002.75
    cap = read_capture(write(tmp_path, [first, second]))
    assert cap.start == pytest.approx(1_700_000_000.25)
    assert [d.time for d in cap.datagrams] == pytest.approx([0.0, 2.5])
    empty = tmp_path / "none.pcap"  # a pcap file header (Ethernet) and no frame
    empty.write_bytes(bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000"))
    assert read_capture(empty).start is None
