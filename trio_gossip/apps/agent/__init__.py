"""A Serf-compatible agent around one node: ``trio-gossip agent`` and ``trio-gossip members``.

The pure helpers (``tags``, ``serf``) speak just enough of Serf's own layer (tag metadata, join
and leave intents, the Lamport clock, push/pull user state) for Serf agents to list a
trio_gossip node with its tags and to see it ``left`` after a graceful exit.
"""
