"""A memberlist dissector for packet captures (``trio-gossip dissect``).

`pcap` reads captures with scapy and `reassembly` rebuilds TCP streams; `decode` turns the
payloads into records of memberlist messages; `render` prints them. Import the submodules
directly: this package imports nothing, so the command line stays fast to start.
"""
