"""A node's protocol engine (floor 2): ``handle(ctx, state, now, event) -> (state, effects)``.

Events are decoded messages, timers that fired, outcomes of I/O and API commands; effects are
what the shell must do. Pure: no Trio, no clock, no randomness but the seeded one passed in.
"""

from trio_gossip.core.engine.engine import handle, handle_all
from trio_gossip.core.engine.state import Context, EngineState, Hooks

__all__ = ["Context", "EngineState", "Hooks", "handle", "handle_all"]
