"""The replicated KV store on a node: the Trio side of ``trio_gossip.core.kv``."""
