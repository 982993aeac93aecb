"""What ``trio-gossip demo`` was asked to run (checked by ``apps/demo_command.py``)."""

import attrs


@attrs.frozen
class DemoOptions:
    nodes: int = 50
    seed: int = 1
    loss: float = 0.0
    real: bool = False
