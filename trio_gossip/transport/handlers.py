"""Running the node's handlers so that nothing they raise reaches the transport's tasks."""

from __future__ import annotations

import logging
from collections.abc import Callable

import trio

from .base import Address, StreamHandler, TransportError

logger = logging.getLogger("trio_gossip.transport")

# A peer that resets or vanishes mid-stream is routine on a network, not a bug worth a traceback.
NETWORK_BREAKAGE = (trio.BrokenResourceError, trio.ClosedResourceError, TransportError)


async def run_stream_handler(
    on_stream: StreamHandler,
    stream: trio.abc.Stream,
    peer: Address,
    *,
    local: Address,
    failed: Callable[[], None],
) -> None:
    """Run ``on_stream`` for one accepted stream, then close the stream whatever happened."""
    try:
        await on_stream(stream, peer)
    except NETWORK_BREAKAGE as exc:
        failed()
        logger.debug("stream from %s to %s broke: %r", peer, local, exc)
    except Exception:
        failed()
        logger.exception("stream handler of %s for %s raised", local, peer)
    finally:
        await stream.aclose()
