"""Floor 2: everything that decides, as pure functions over immutable state.

Membership rules, the broadcast queue, KV values and merges, the ring model, lookups and
tokens. No Trio, no sockets, no clock, no randomness of its own: time arrives as an argument
and randomness as a seeded ``random.Random``.
"""
