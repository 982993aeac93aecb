"""A memberlist dissector for packet captures (``trio-gossip dissect``).

`pcap` reads captures with scapy and `reassembly` rebuilds TCP streams; `decode` turns the
payloads into `record.Record`s with the wire package's tracers; `render` prints them and
`command` ties it together. Import the submodules directly: this package imports nothing, so
the command line stays fast to start.
"""
