"""``python -m trio_gossip``: the same command line as ``trio-gossip``."""

import sys

from trio_gossip.apps.cli import main

sys.exit(main())
