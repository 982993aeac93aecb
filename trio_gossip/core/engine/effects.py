"""What the engine asks its shell to do. The shell carries effects out in order."""

from __future__ import annotations

import attrs

from trio_gossip.core.engine.events import Address, Timer
from trio_gossip.core.membership.member import Member, MemberEvent
from trio_gossip.core.membership.state import Conflict, Refuted, SuspectTimedOut


@attrs.frozen(slots=True)
class Send:
    """Send these datagrams to ``to``. ``probe`` names the probe whose ping this is: if the
    local send fails, the shell reports ``ProbeSendFailed(probe)``."""

    to: Address
    datagrams: tuple[bytes, ...]
    probe: int | None = None
    kinds: bytes = b""  # the type byte of each message carried, for the per-type counters


@attrs.frozen(slots=True)
class SetTimer:
    """Arm ``timer`` to fire at ``at`` (moving it if it is armed already)."""

    timer: Timer
    at: float


@attrs.frozen(slots=True)
class CancelTimer:
    timer: Timer


@attrs.frozen(slots=True)
class TcpPing:
    """Ping ``target`` over a stream with probe ``seq``'s sequence number, giving up at
    ``deadline``; report ``TcpPingDone``."""

    seq: int
    target: Member
    deadline: float


@attrs.frozen(slots=True)
class PushPullWith:
    """Swap state with ``peer`` over a stream (the shell reads our snapshot, then submits the
    peer's answer as a ``Merge``). ``reconnect``: ``peer`` failed, and this is Serf's attempt
    to join it again (a join push/pull, answered by the node of that name or not merged).
    ``check``: ``peer`` is suspected and its suspicion is due (``check_before_dead``): report
    ``SuspectChecked``. ``catch_up``: after a burst of joins (``catch_up_push_pull``); the
    answer's ``Merge`` says so."""

    peer: Member
    reconnect: bool = False
    check: bool = False
    catch_up: bool = False


@attrs.frozen(slots=True)
class Answer:
    """Wake the caller waiting on ``token`` with ``value`` (or raise ``error`` there)."""

    token: int
    value: object = None
    error: Exception | None = None


@attrs.frozen(slots=True)
class Finished:
    """The broadcast the caller of ``token`` waits on has been fully gossiped (or replaced)."""

    token: int


@attrs.frozen(slots=True)
class DeliverUser:
    """A user message for the delegate's ``notify_msg``."""

    payload: bytes


@attrs.frozen(slots=True)
class MergeUserState:
    """A peer's opaque push/pull user state for the delegate's ``merge_remote_state``."""

    state: bytes
    join: bool


@attrs.frozen(slots=True)
class PingComplete:
    """A direct probe of ``member`` was acked after ``rtt`` seconds (PingDelegate)."""

    member: Member
    rtt: float
    payload: bytes | None


@attrs.frozen(slots=True)
class ProbeFailed:
    """No ack, relayed ack or TCP ping answered the probe of ``member``."""

    member: Member


@attrs.frozen(slots=True)
class TcpOnly:
    """``member`` answered over TCP but not over UDP: the network may be misconfigured."""

    member: Member


@attrs.frozen(slots=True)
class SendStream:
    """Send ``payload`` to ``to`` as a user message over a stream (the KV store's changes too
    big for a packet, and its state exchanges)."""

    to: Member
    payload: bytes


@attrs.frozen(slots=True)
class KeyChanged:
    """The KV store's ``key`` changed (watchers read the new value from the snapshot)."""

    key: str


Effect = (
    Send | SetTimer | CancelTimer | TcpPing | PushPullWith | Answer | Finished | DeliverUser
    | MergeUserState | PingComplete | ProbeFailed | TcpOnly | MemberEvent | Conflict | Refuted
    | SuspectTimedOut | SendStream | KeyChanged
)  # fmt: skip
