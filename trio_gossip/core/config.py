"""A node's configuration: memberlist's knobs with its defaults (memberlist config.go,
DefaultLANConfig, DefaultWANConfig, DefaultLocalConfig).

Durations are float seconds. ``Config()`` and ``Config.lan()`` equal Go's ``DefaultLANConfig``;
``Config.wan()`` and ``Config.local()`` the other two presets. Every field can be overridden by
keyword or with ``attrs.evolve``; impossible values raise ``ConfigError`` naming the field.
"""

from __future__ import annotations

import ipaddress
import math
import platform
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, Final

import attrs

from trio_gossip.wire.errors import ConfigError

META_MAX_SIZE = 512
"""memberlist's MetaMaxSize: a Go node panics on longer metadata, so we refuse it up front."""

PROTOCOL_VERSION_MIN = 1
PROTOCOL_VERSION_MAX = 5

_KEY_SIZES = (16, 24, 32)


_SERF: Final[Mapping[str, Any]] = MappingProxyType(
    {"delegate_protocol_min": 2, "delegate_protocol_max": 5, "delegate_protocol_version": 5}
)


def _label_bytes(value: str | bytes) -> bytes:
    if isinstance(value, str):
        return value.encode()
    if not isinstance(value, bytes | bytearray | memoryview):
        # bytes(4) would quietly be four zero bytes.
        raise _fail("label", f"expected str or bytes, got {type(value).__name__}")
    return bytes(value)


def _key_tuple(keys: Iterable[bytes]) -> tuple[bytes, ...]:
    if isinstance(keys, str | bytes):
        raise _fail("secret_keys", "expected a sequence of keys, got a single value")
    out = []
    for key in keys:
        if not isinstance(key, bytes | bytearray | memoryview):
            raise _fail("secret_keys", f"a key of type {type(key).__name__}; keys are bytes")
        out.append(bytes(key))
    return tuple(out)


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _cidrs(values: Iterable[str | IPNetwork]) -> tuple[IPNetwork, ...]:
    """memberlist's ParseCIDRs: each entry a network such as ``10.0.0.0/8`` (a bare address is
    a /32 or /128)."""
    if isinstance(values, str):
        values = values.split(",")
    out: list[IPNetwork] = []
    for value in values:
        if isinstance(value, ipaddress.IPv4Network | ipaddress.IPv6Network):
            out.append(value)
            continue
        if not isinstance(value, str):
            raise _fail("cidrs_allowed", f"expected CIDR strings, got {type(value).__name__}")
        try:
            out.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise _fail("cidrs_allowed", f"invalid cidr: {value!r}") from None
    return tuple(out)


def _default_name() -> str:
    return platform.node()


# Where memberlist's DefaultWANConfig and DefaultLocalConfig differ from DefaultLANConfig (the
# field defaults of Config below).
_WAN: Final[Mapping[str, Any]] = MappingProxyType(
    {
        "tcp_timeout": 30.0,
        "suspicion_mult": 6,
        "push_pull_interval": 60.0,
        "probe_timeout": 3.0,
        "probe_interval": 5.0,
        "gossip_nodes": 4,
        "gossip_interval": 0.5,
        "gossip_to_the_dead_time": 60.0,
    }
)
_LOCAL: Final[Mapping[str, Any]] = MappingProxyType(
    {
        "tcp_timeout": 1.0,
        "indirect_checks": 1,
        "retransmit_mult": 2,
        "suspicion_mult": 3,
        "push_pull_interval": 15.0,
        "probe_timeout": 0.2,
        "probe_interval": 1.0,
        "gossip_interval": 0.1,
        "gossip_to_the_dead_time": 15.0,
    }
)


@attrs.frozen(kw_only=True)
class Config:
    """Everything a node needs to know before it starts. Defaults are memberlist's LAN ones."""

    name: str = attrs.field(factory=_default_name)
    bind_addr: str = "0.0.0.0"
    bind_port: int = 7946
    # "" / None: advertise whatever address and port the transport reports.
    advertise_addr: str = ""
    advertise_port: int | None = None

    protocol_version: int = 2
    delegate_protocol_min: int = 0
    delegate_protocol_max: int = 0
    delegate_protocol_version: int = 0

    tcp_timeout: float = 10.0
    indirect_checks: int = 3
    retransmit_mult: int = 4
    suspicion_mult: int = 4
    suspicion_max_timeout_mult: int = 6
    push_pull_interval: float = 30.0  # 0 disables periodic push/pull
    probe_interval: float = 1.0
    probe_timeout: float = 0.5
    disable_tcp_pings: bool = False
    # Ours, not memberlist's: before a suspicion turns into a dead verdict, one push/pull with
    # the suspect (at most probe_interval, scaled by local health). A live suspect's state
    # carries its refutation, which gossip may have failed to bring; a dead one does not
    # answer. Only what this node decides changes; the wire stays memberlist's.
    check_before_dead: bool = True
    # Ours too: a node that gossip taught a burst of new members (enough that gossiping them
    # cost it at least one push/pull's worth of messages) does one push/pull as soon as its
    # transmit queue drains. Each broadcast is sent a fixed number of times, so in a burst of
    # joins a few nodes miss every copy of one and would wait for the next periodic push/pull
    # (minutes, in a big cluster); the wire stays memberlist's. Off with push_pull_interval 0.
    catch_up_push_pull: bool = True
    # Ours: a node that knew no live peer when a push/pull brought it a cluster's state (a
    # fresh node's join) does not gossip that state's alive messages on: they are what its
    # peer, and so the cluster, already knows, and memberlist's mergeState would have the
    # newcomer send every one of them retransmit-limit times (16,000 messages joining a
    # 1,000-node cluster). Its own alive, and news about dead or suspected members, go out
    # as before; a node that knows peers (two clusters merging) gossips what it learns. Only
    # with catch-ups on (catch_up_push_pull and a push_pull_interval): they repair what the
    # lost redundancy misses.
    quiet_join: bool = True
    awareness_max_multiplier: int = 8
    gossip_interval: float = 0.2  # 0 disables the gossip loop
    gossip_nodes: int = 3
    gossip_to_the_dead_time: float = 30.0
    dead_node_reclaim_time: float = 0.0  # 0: a dead node's name never moves to a new address
    # Serf's reconnect (serf/serf.go reconnect, handleReap): every reconnect_interval a node
    # joins one member it saw fail, with probability failed / alive, and remembers a failed
    # member for reconnect_timeout, long after memberlist forgot it. 0 turns it off.
    reconnect_interval: float = 30.0
    reconnect_timeout: float = 24 * 3600.0

    gossip_verify_incoming: bool = True
    gossip_verify_outgoing: bool = True
    enable_compression: bool = True
    crc: bool = True  # add the CRC header to packets for peers whose PMax >= 5, as Go does
    label: bytes = attrs.field(default=b"", converter=_label_bytes)
    # memberlist's SkipInboundLabelCheck: take unlabelled packets and streams as if they
    # carried our label (and refuse labelled ones), to roll a label out without a split.
    skip_inbound_label_check: bool = False
    # AES keys (16, 24 or 32 bytes); the first one is the primary that encrypts.
    secret_keys: tuple[bytes, ...] = attrs.field(default=(), converter=_key_tuple)
    # memberlist's CIDRsAllowed: when set, only these networks may gossip with us or be
    # members (empty: everyone).
    cidrs_allowed: tuple[IPNetwork, ...] = attrs.field(default=(), converter=_cidrs)
    # memberlist's RequireNodeNames: a join address must name its node ("name/host:port"),
    # and the node that answers must know that name.
    require_node_names: bool = False

    # DNS servers (IP, port) for dskit's dns+ / dnssrv+ / dnssrvnoa+ join addresses; empty:
    # the system's resolv.conf.
    dns_servers: tuple[tuple[str, int], ...] = attrs.field(default=(), converter=tuple)

    handoff_queue_depth: int = 1024
    udp_buffer_size: int = 1400
    meta: bytes = b""
    # Bound on the graceful leave done when the node's ``async with`` block exits.
    leave_timeout: float = 5.0

    def __attrs_post_init__(self) -> None:
        _validate(self)

    @classmethod
    def lan(cls, **overrides: Any) -> Config:
        """memberlist's DefaultLANConfig."""
        return cls(**overrides)

    @classmethod
    def wan(cls, **overrides: Any) -> Config:
        """memberlist's DefaultWANConfig: slower timers for high-latency links."""
        return cls(**{**_WAN, **overrides})

    @classmethod
    def local(cls, **overrides: Any) -> Config:
        """memberlist's DefaultLocalConfig: loopback or a very fast, reliable network."""
        return cls(**{**_LOCAL, **overrides})

    @classmethod
    def serf(cls, **overrides: Any) -> Config:
        """LAN timings with Serf's delegate protocol range (serf/config.go: ProtocolVersionMin
        2, Max 5, current 5), so Serf agents accept this node. Plain memberlist programs
        advertise delegate range [0, 0] and accept only nodes whose current delegate version
        is 0: no single range joins both, which is why this is a preset."""
        return cls(**{**_SERF, **overrides})

    def build_vsn(self) -> bytes:
        """The 6-byte Vsn ``[PMin, PMax, PCur, DMin, DMax, DCur]`` sent in alive and push/pull."""
        return bytes(
            (
                PROTOCOL_VERSION_MIN,
                PROTOCOL_VERSION_MAX,
                self.protocol_version,
                self.delegate_protocol_min,
                self.delegate_protocol_max,
                self.delegate_protocol_version,
            )
        )

    def ip_allowed(self, ip: bytes | str) -> bool:
        """memberlist's Config.IPAllowed: whether ``ip`` (4 or 16 bytes, or text) is inside
        ``cidrs_allowed`` (always, when it is empty)."""
        if not self.cidrs_allowed:
            return True
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.cidrs_allowed)

    @property
    def encryption_enabled(self) -> bool:
        return bool(self.secret_keys)

    @property
    def encryption_version(self) -> int:
        """Protocol 1 peers only know the padded (version 0) encryption format."""
        return 0 if self.protocol_version < 2 else 1


def _fail(field: str, why: str) -> ConfigError:
    return ConfigError(f"{field}: {why}")


def _check_port(field: str, value: int | None) -> None:
    if value is not None and not 0 <= value <= 65535:
        raise _fail(field, f"port {value} outside 0..65535")


def _check_ip(field: str, value: str) -> None:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise _fail(field, f"{value!r} is not an IP address") from None


# The Python types each annotation accepts. bool is an int subclass, so it is refused
# explicitly for numeric fields: a Go config cannot carry suspicion_mult=true either.
_TYPES: Final[Mapping[str, tuple[type, ...]]] = MappingProxyType(
    {
        "str": (str,),
        "int": (int,),
        "int | None": (int, type(None)),
        "float": (int, float),
        "bool": (bool,),
        "bytes": (bytes,),
    }
)


def _check_types(c: Config) -> None:
    for field in attrs.fields(type(c)):
        accepted = _TYPES.get(str(field.type))
        if accepted is None:
            continue
        value = getattr(c, field.name)
        if (isinstance(value, bool) and bool not in accepted) or not isinstance(value, accepted):
            want = " or ".join("None" if t is type(None) else t.__name__ for t in accepted)
            raise _fail(field.name, f"expected {want}, got {type(value).__name__} {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise _fail(field.name, f"must be a finite number of seconds, got {value}")


def _validate(c: Config) -> None:
    _check_types(c)
    if not c.name:
        raise _fail("name", "must not be empty")
    _check_ip("bind_addr", c.bind_addr)
    if c.advertise_addr:
        _check_ip("advertise_addr", c.advertise_addr)
    _check_port("bind_port", c.bind_port)
    _check_port("advertise_port", c.advertise_port)
    if not PROTOCOL_VERSION_MIN <= c.protocol_version <= PROTOCOL_VERSION_MAX:
        raise _fail("protocol_version", f"{c.protocol_version} outside 1..5")
    for field in ("delegate_protocol_min", "delegate_protocol_max", "delegate_protocol_version"):
        if not 0 <= getattr(c, field) <= 255:
            raise _fail(field, "must fit in a byte (0..255)")
    if not c.delegate_protocol_min <= c.delegate_protocol_version <= c.delegate_protocol_max:
        # verify_protocol on every peer would reject such a node, so refuse it here.
        raise _fail("delegate_protocol_version", "outside delegate_protocol_min..max")

    for field in ("tcp_timeout", "probe_interval", "probe_timeout", "leave_timeout"):
        if not getattr(c, field) > 0:
            raise _fail(field, "must be positive")
    for field in (
        "push_pull_interval",
        "gossip_interval",
        "gossip_to_the_dead_time",
        "dead_node_reclaim_time",
        "reconnect_interval",
    ):
        if getattr(c, field) < 0:
            raise _fail(field, "must not be negative")
    if c.reconnect_interval > 0 and not c.reconnect_timeout > 0:
        raise _fail("reconnect_timeout", "must be positive when reconnect_interval is set")
    if c.probe_timeout > c.probe_interval:
        raise _fail("probe_timeout", "must not exceed probe_interval")

    for field in ("indirect_checks", "gossip_nodes"):
        if getattr(c, field) < 0:
            raise _fail(field, "must not be negative")
    for field in (
        "retransmit_mult",
        "suspicion_mult",
        "suspicion_max_timeout_mult",
        "awareness_max_multiplier",
        "handoff_queue_depth",
    ):
        if getattr(c, field) < 1:
            raise _fail(field, "must be at least 1")
    if not 64 <= c.udp_buffer_size <= 65536:
        raise _fail("udp_buffer_size", "must be within 64..65536")

    for server in c.dns_servers:
        if not (
            isinstance(server, tuple)
            and len(server) == 2
            and isinstance(server[0], str)
            and isinstance(server[1], int)
            and not isinstance(server[1], bool)
        ):
            raise _fail("dns_servers", f"{server!r} is not an (IP, port) pair")
        _check_ip("dns_servers", server[0])
        _check_port("dns_servers", server[1])

    if len(c.meta) > META_MAX_SIZE:
        raise _fail("meta", f"{len(c.meta)} bytes, more than {META_MAX_SIZE}")
    if len(c.label) > 255:
        raise _fail("label", "longer than 255 bytes")
    for key in c.secret_keys:
        if len(key) not in _KEY_SIZES:
            raise _fail("secret_keys", f"a key of {len(key)} bytes; AES needs 16, 24 or 32")
