"""Helpers for the interop tests (tests/test_interop_*.py): real Serf agents, trio_gossip
agent processes and network namespaces, all started on loopback and always cleaned up."""
