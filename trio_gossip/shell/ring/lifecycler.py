"""The lifecycler: one instance's life in a ring kept in the KV store (floor 4).

::

    async with lifecycler(kv, ring_key="ring", instance_id="ingester-1", addr="10.0.0.1:9095",
                          zone="a", tokens_file="tokens.json") as lc:
        await lc.wait_state(InstanceState.ACTIVE)
        ...

Entering registers the instance (one CAS, dskit's initRing rules: a quick restart found
LEAVING comes back ACTIVE with its tokens, a JOINING leftover restarts from PENDING, tokens
from the file are reused) and returns. One driver task then picks tokens (avoiding every
token in the ring), goes JOINING, watches for ``observe_period`` that it really owns them
(conflict resolution may hand some to another instance: those are replaced), goes ACTIVE,
and heartbeats every ``heartbeat_period``; a heartbeat that finds its record gone (the KV was
reset, or someone forgot it) registers it again. ``leave()`` (or leaving the block) marks it
LEAVING (still heartbeating through ``final_sleep``), then replaces it with a LEFT tombstone
and waits, bounded by ``leave_timeout``, until the store has sent that out. Every state
change follows the table in ``trio_gossip.core.ring.lifecycle``; CAS functions only compute
the new ring (a CAS may run them more than once), and the driver reads the outcome back.
"""

from __future__ import annotations

import logging
import math
import os
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Literal

import attrs
import trio

from trio_gossip.core.ring.instance import InstanceDesc, InstanceState
from trio_gossip.core.ring.lifecycle import Trigger, next_state, registered_state
from trio_gossip.core.ring.lookup import DEFAULT_HEARTBEAT_TIMEOUT
from trio_gossip.core.ring.model import Ring
from trio_gossip.core.ring.tokens import random_tokens, spread_minimizing_tokens
from trio_gossip.shell.ring.tokens_file import load_tokens, store_tokens
from trio_gossip.shell.scope import only
from trio_gossip.wire.errors import ConfigError, GossipError

if TYPE_CHECKING:
    from trio_gossip.shell.kv.store import KVStore

log = logging.getLogger("trio_gossip.core.ring")

S = InstanceState


@attrs.frozen(kw_only=True)
class LifecyclerConfig:
    """dskit's lifecycler flags (``-ingester.*``) with their defaults."""

    instance_id: str
    ring_key: str = "ring"
    addr: str = ""
    zone: str = ""
    num_tokens: int = 128
    tokens_file: str | os.PathLike[str] | None = None
    token_strategy: Literal["random", "spread-minimizing"] = "random"
    heartbeat_period: float = 5.0
    heartbeat_timeout: float = DEFAULT_HEARTBEAT_TIMEOUT
    # A heartbeat re-stamps the whole record this often, so it spreads to every node again.
    # Gossip misses a change at a node now and then (each forwarder sends it a limited
    # number of times: about e^-8 per node and change at the default retransmit factor);
    # dskit heals that by resending the record with every heartbeat (every 5 s). Here
    # heartbeats are a few bytes, so the record goes again only this often, a third of
    # dskit's record traffic; push/pull heals the rest. inf disables it.
    record_refresh_period: float = 15.0
    join_after: float = 0.0
    observe_period: float = 0.0
    final_sleep: float = 0.0
    unregister_on_shutdown: bool = True
    # Remove instances whose heartbeat is older than this (dskit's AutoForgetDelegate;
    # apps use 2x the heartbeat timeout). None: never.
    forget_after: float | None = None
    leave_timeout: float = 10.0  # bound on waiting for the LEFT tombstone to go out

    def __attrs_post_init__(self) -> None:
        if not self.instance_id:
            raise ConfigError("instance_id: must not be empty")
        if self.num_tokens < 1:
            raise ConfigError("num_tokens: must be at least 1")
        for field in ("heartbeat_period", "heartbeat_timeout", "leave_timeout",
                      "record_refresh_period"):  # fmt: skip
            if not getattr(self, field) > 0:
                raise ConfigError(f"{field}: must be positive")
        for field in ("join_after", "observe_period", "final_sleep"):
            if getattr(self, field) < 0:
                raise ConfigError(f"{field}: must not be negative")
        if self.forget_after is not None and not self.forget_after > self.heartbeat_period:
            raise ConfigError("forget_after: must exceed heartbeat_period")


class Lifecycler:
    """A registered instance. Read `state` and `tokens`; the ring is `ring()`."""

    def __init__(self, kv: KVStore, config: LifecyclerConfig, rng: random.Random) -> None:
        self.kv = kv
        self.config = config
        self._rng = rng
        self.state = S.PENDING
        self.tokens: tuple[int, ...] = ()
        self.registered_at = 0.0
        self.heartbeats = 0
        self._refreshed = 0.0
        self._state_changed = trio.Event()
        # Requests for the driver task: (trigger, done), None as the trigger to leave the ring;
        # only the driver changes our record while it runs.
        self._requests_in, self._requests = trio.open_memory_channel[
            tuple[Trigger | None, trio.Event]](16)  # fmt: skip
        self._driving = False

    @property
    def instance_id(self) -> str:
        return self.config.instance_id

    def ring(self) -> Ring:
        """The ring as this node's KV copy has it now (tombstones hidden)."""
        ring = self.kv.get(self.config.ring_key)
        return ring if isinstance(ring, Ring) else Ring()

    def is_ready(self) -> bool:
        """ACTIVE and owning at least one token (dskit's readiness, without the ring-wide
        health check: unhealthy leftovers must not block a new instance, tempo#918)."""
        return self.state is S.ACTIVE and bool(self.ring().owned_tokens(self.instance_id))

    async def wait_state(self, state: InstanceState) -> None:
        while self.state is not state:
            await self._state_changed.wait()

    async def change_state(self, state: InstanceState) -> None:
        """Move to `state` (dskit's ChangeState), if the lifecycle has that transition from
        the current state: LEAVING from any live state, ACTIVE from JOINING."""
        trigger = Trigger.LEAVE if state is S.LEAVING else Trigger.TOKENS_OWNED
        next_state(self.state, trigger)  # refuse at once what the table does not allow
        await self._request(trigger)

    async def leave(self) -> None:
        """Leave the ring now: LEAVING (heartbeating through final_sleep), then the LEFT
        tombstone, sent out. Idempotent."""
        if self.state is S.LEFT:
            return
        if self._driving:
            await self._request(None)
        else:
            await self._leave()

    async def _request(self, trigger: Trigger | None) -> None:
        if not self._driving:
            raise GossipError(f"{self.instance_id}: the lifecycler is not running")
        done = trio.Event()
        await self._requests_in.send((trigger, done))
        await done.wait()

    # -- the record ------------------------------------------------------------------------

    def _desc(self, state: InstanceState, tokens: tuple[int, ...]) -> InstanceDesc:
        c = self.config
        return InstanceDesc(id=c.instance_id, addr=c.addr, zone=c.zone, state=state,
                            tokens=tokens, registered_at=self.registered_at)  # fmt: skip

    def _set(self, state: InstanceState, tokens: tuple[int, ...]) -> None:
        self.tokens = tokens
        if state is not self.state:
            log.info("%s: %s -> %s", self.instance_id, self.state.name, state.name)
            self.state = state
            self._state_changed.set()
            self._state_changed = trio.Event()

    def _read_back(self, ring: Ring) -> InstanceDesc:
        desc = ring.instance(self.instance_id)
        if desc is None:
            raise GossipError(f"{self.instance_id}: our record vanished during a CAS")
        return desc

    async def _cas(self, fn: Callable[[Ring], Ring]) -> Ring:
        def apply(current: Ring | None) -> Ring:
            return fn(current if current is not None else Ring())

        ring = await self.kv.cas(self.config.ring_key, apply, codec="ring")
        assert isinstance(ring, Ring)
        return ring

    async def _update(self, change: Callable[[InstanceDesc], InstanceDesc]) -> None:
        """Rewrite our record through `change` (re-registering it if it is gone)."""
        me = self.instance_id
        ours = self._desc(self.state, self.tokens)
        now = self.kv.now()

        def fn(ring: Ring) -> Ring:
            desc = change(ring.instance(me) or ours)
            return ring.put(desc, now=now).heartbeat(me, now=now)

        desc = self._read_back(await self._cas(fn))
        self._set(desc.state, desc.tokens)

    async def _transition(self, trigger: Trigger,
                          change: Callable[[InstanceDesc], InstanceDesc] | None = None
                          ) -> None:  # fmt: skip
        """Write the table's next state for `trigger` (and whatever else `change` sets)."""
        state = next_state(self.state, trigger)

        def apply(desc: InstanceDesc) -> InstanceDesc:
            desc = attrs.evolve(desc, state=state)
            return change(desc) if change is not None else desc

        await self._update(apply)

    # -- joining -------------------------------------------------------------------------------

    async def register(self) -> None:
        """dskit's initRing: one CAS that puts us in the ring, adopting what it says of us."""
        c = self.config
        file_tokens = load_tokens(c.tokens_file) if c.tokens_file is not None else ()
        now = self.kv.now()

        def fn(ring: Ring) -> Ring:
            found = ring.instance(c.instance_id)
            state = registered_state(found.state if found is not None else None,
                                     tokens_on_file=len(file_tokens) >= c.num_tokens)  # fmt: skip
            if found is None:
                desc = attrs.evolve(self._desc(state, file_tokens), registered_at=now)
            else:
                tokens = found.tokens
                if found.state is S.LEAVING:  # a quick restart: back to work
                    tokens = self._resize(ring, tokens)
                desc = attrs.evolve(self._desc(state, tokens),
                                    registered_at=found.registered_at)  # fmt: skip
            return ring.put(desc, now=now).heartbeat(c.instance_id, now=now)

        desc = self._read_back(await self._cas(fn))
        self.registered_at = desc.registered_at
        self._set(desc.state, desc.tokens)
        self._save_tokens()
        self._refreshed = now

    async def _join_step(self) -> None:
        """PENDING: take tokens and go JOINING. JOINING: if conflicts took some tokens, claim
        replacements and observe again; otherwise go ACTIVE."""
        if self.state is S.PENDING:
            await self._transition(Trigger.TOKENS_CLAIMED, lambda d: attrs.evolve(
                d, tokens=self._resize(self.ring(), d.tokens)))  # fmt: skip
            self._save_tokens()
        elif self.state is S.JOINING:
            lost = set(self.tokens) - set(self.ring().owned_tokens(self.instance_id))
            if lost:  # a conflict went to another instance: claim replacements, observe again
                log.info("%s: lost %d tokens to conflicts", self.instance_id, len(lost))
                await self._transition(Trigger.TOKENS_LOST, self._replacing(lost))
                self._save_tokens()
            else:
                await self._transition(Trigger.TOKENS_OWNED)

    def _replacing(self, lost: set[int]) -> Callable[[InstanceDesc], InstanceDesc]:
        def change(desc: InstanceDesc) -> InstanceDesc:
            kept = tuple(t for t in desc.tokens if t not in lost)
            return attrs.evolve(desc, tokens=self._resize(self.ring(), kept, avoid=lost))

        return change

    def _resize(
        self, ring: Ring, tokens: tuple[int, ...], *, avoid: set[int] | None = None
    ) -> tuple[int, ...]:
        """`tokens` topped up with new ones (or trimmed) to ``num_tokens``."""
        want = self.config.num_tokens
        if len(tokens) >= want:
            return tuple(sorted(tokens)[:want])
        missing = want - len(tokens)
        if self.config.token_strategy == "spread-minimizing":
            new = spread_minimizing_tokens(ring, missing, zone=self.config.zone)
        else:
            new = random_tokens(
                missing, self._rng, ring.taken_tokens() | set(tokens) | (avoid or set())
            )
        return tuple(sorted({*tokens, *new}))

    def _save_tokens(self) -> None:
        if self.config.tokens_file is not None and self.tokens:
            try:
                store_tokens(self.config.tokens_file, self.tokens)
            except OSError as exc:
                log.warning("%s: tokens file not written: %s", self.instance_id, exc)

    # -- the driver ----------------------------------------------------------------------------

    async def run(self) -> None:
        """The one task that changes our record after registration: join steps, heartbeats
        and requests (state changes, leave) in deadline order. Returns once it has left."""
        c = self.config
        now = trio.current_time()
        next_beat = now + c.heartbeat_period
        next_step = now + c.join_after if self.state in (S.PENDING, S.JOINING) else math.inf
        self._driving = True
        try:
            while True:
                request = None
                with trio.move_on_at(min(next_beat, next_step)):
                    request = await self._requests.receive()
                if request is not None:
                    trigger, done = request
                    if trigger is None:
                        await self._leave()
                        done.set()
                        return
                    await self._transition(trigger)
                    done.set()
                    continue
                now = trio.current_time()
                if now >= next_step:
                    await self._join_step()
                    joining = self.state is S.JOINING
                    next_step = now + c.observe_period if joining else math.inf
                if now >= next_beat:
                    await self.heartbeat()
                    next_beat += c.heartbeat_period
        finally:
            self._driving = False

    async def heartbeat(self) -> None:
        """Stamp our heartbeat; re-register if our record is gone; forget the long dead."""
        c = self.config
        me = c.instance_id
        now = self.kv.now()
        ours = self._desc(self.state, self.tokens)
        refresh = now - self._refreshed >= c.record_refresh_period

        def fn(ring: Ring) -> Ring:
            if ring.instance(me) is None:  # reset or forgotten: put ourselves back
                log.info("%s: not in the ring, registering again", me)
                ring = ring.put(ours, now=now)
            ring = ring.heartbeat(me, now=now)
            if refresh:
                ring = _restamped(ring, me, now)
            if c.forget_after is not None:
                for desc in ring.live():
                    seen = max(ring.heartbeat_at(desc.id), desc.version.seconds)
                    if desc.id != me and now - seen > c.forget_after:
                        log.info("%s: forgetting %s (no heartbeat)", me, desc.id)
                        ring = ring.remove(desc.id, now=now, writer=me)
            return ring

        await self._cas(fn)
        if refresh:
            self._refreshed = now
        self.heartbeats += 1

    async def _beat_for(self, seconds: float) -> None:
        end = trio.current_time() + seconds
        while (next_beat := trio.current_time() + self.config.heartbeat_period) < end:
            await trio.sleep_until(next_beat)
            await self.heartbeat()
        await trio.sleep_until(end)

    async def _leave(self) -> None:
        """LEAVING (heartbeating through final_sleep), then the LEFT tombstone, sent out."""
        c = self.config
        if self.state is S.LEFT:
            return
        await self._transition(Trigger.LEAVE)
        if c.final_sleep > 0:
            await self._beat_for(c.final_sleep)
        if not c.unregister_on_shutdown:
            self._set(next_state(self.state, Trigger.STAYED), self.tokens)
            return
        me = self.instance_id
        now = self.kv.now()
        await self._cas(lambda ring: ring.remove(me, now=now))
        self._set(next_state(self.state, Trigger.UNREGISTERED), ())
        if not await self.kv.wait_local_broadcasts(c.leave_timeout):
            log.warning("%s: LEFT not fully gossiped within %.1fs", me, c.leave_timeout)


def _restamped(ring: Ring, instance_id: str, now: float) -> Ring:
    """`ring` with the record of `instance_id` re-stamped (same content, newer version), so
    it spreads to every node again."""
    desc = ring.instance(instance_id)
    if desc is None:
        return ring
    stamped = attrs.evolve(desc, version=desc.version.next(now, instance_id))
    return Ring({**ring.instances, desc.id: stamped}, ring.heartbeats)


@asynccontextmanager
async def lifecycler(
    kv: KVStore,
    *,
    instance_id: str,
    ring_key: str = "ring",
    addr: str = "",
    zone: str = "",
    num_tokens: int = 128,
    tokens_file: str | os.PathLike[str] | None = None,
    token_strategy: Literal["random", "spread-minimizing"] = "random",
    heartbeat_period: float = 5.0,
    heartbeat_timeout: float = DEFAULT_HEARTBEAT_TIMEOUT,
    record_refresh_period: float = 15.0,
    join_after: float = 0.0,
    observe_period: float = 0.0,
    final_sleep: float = 0.0,
    unregister_on_shutdown: bool = True,
    forget_after: float | None = None,
    leave_timeout: float = 10.0,
    rng: random.Random | None = None,
) -> AsyncIterator[Lifecycler]:
    """Register `instance_id` in ``kv[ring_key]`` for the block (see `LifecyclerConfig`).

    The store must be running, and stay running until this block is left (nest it inside
    ``kv.running``), so the LEFT tombstone can still be gossiped. `rng` draws the tokens
    (default: derived from the store's generator and the instance id).
    """
    config = LifecyclerConfig(
        instance_id=instance_id, ring_key=ring_key, addr=addr, zone=zone,
        num_tokens=num_tokens, tokens_file=tokens_file, token_strategy=token_strategy,
        heartbeat_period=heartbeat_period, heartbeat_timeout=heartbeat_timeout,
        record_refresh_period=record_refresh_period,
        join_after=join_after, observe_period=observe_period, final_sleep=final_sleep,
        unregister_on_shutdown=unregister_on_shutdown, forget_after=forget_after,
        leave_timeout=leave_timeout,
    )  # fmt: skip
    lc = Lifecycler(kv, config, rng or kv.child_rng(instance_id))
    await lc.register()
    body_error: BaseException | None = None
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(lc.run)
            try:
                yield lc
            except BaseException as exc:
                body_error = exc
                raise
            finally:
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        if body_error is not None and only(group, body_error):
            raise body_error from None  # the caller's own exception, not a group of it
        raise
    finally:
        # The driver has stopped (its nursery is closed): this task is the only writer now.
        with trio.CancelScope(shield=True), trio.move_on_after(_leave_bound(config)):
            try:
                await lc.leave()
            except GossipError as exc:  # the store stopped under us
                log.warning("%s: could not leave the ring: %s", instance_id, exc)


def _leave_bound(config: LifecyclerConfig) -> float:
    """The most a shielded leave may take: the final sleep, the tombstone's wait, slack."""
    return config.final_sleep + config.leave_timeout + config.heartbeat_period
