"""The agent's command-line values, checked before anything starts.

Kept free of Trio and the node so ``trio-gossip --help`` and a bad flag answer at once.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import socket

import attrs

from trio_gossip.core.join_policy import JoinPolicy

Address = tuple[str, int]

DEFAULT_GOSSIP_PORT = 7946
PROFILES = ("lan", "wan", "local")
KEY_SIZES = (16, 24, 32)


def parse_host_port(text: str, default_port: int | None = None) -> Address:
    """``HOST:PORT`` or ``[V6]:PORT`` (or ``HOST`` / ``[V6]`` when a default port is given).

    A host name is resolved once, here, to its first address (IPv4 first), as Serf resolves
    ``-bind``: a socket binds to one address, and a name that moves later does not move it. IPv6
    needs the brackets, since ``::1:7946`` is itself a valid IPv6 address.
    """
    text = text.strip()
    host, port_text = text, ""
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"{text!r}: expected [IPV6]:PORT")
        port_text = rest[1:]
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    elif text.count(":") > 1:
        raise ValueError(f"{text!r}: write an IPv6 address with a port as [ADDR]:PORT")
    if text.startswith("["):
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{text!r}: {host!r} is not an IPv6 address") from None
    else:
        host = resolve_host(text, host)
    if not port_text:
        if default_port is None:
            raise ValueError(f"{text!r}: expected HOST:PORT")
        return host, default_port
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"{text!r}: port {port_text!r} is not a number in 0..65535")
    return host, int(port_text)


def resolve_host(text: str, host: str) -> str:
    """``host`` if it is an IP address, else the first address the system gives for it."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return host
    if not host:
        raise ValueError(f"{text!r}: no host")
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ValueError(f"{text!r}: cannot resolve {host!r}: {exc.strerror or exc}") from None
    infos.sort(key=lambda info: info[0] != socket.AF_INET)
    return str(infos[0][4][0])


def parse_join_target(text: str) -> str:
    """A join address as Serf takes it: ``host``, ``host:port``, ``[v6]:port`` or a bare IPv6
    address; host names are allowed (the node resolves them when it joins)."""
    text = text.strip()
    port = ""
    if text.startswith("["):
        _, sep, rest = text.partition("]")
        if not sep or rest == ":" or (rest and not rest.startswith(":")):
            raise ValueError(f"{text!r}: expected [IPV6]:PORT")
        port = rest[1:]
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
        if not host or not port:
            raise ValueError(f"{text!r}: no host")
    if not text or (port and not (port.isdigit() and 0 < int(port) <= 65535)):
        raise ValueError(f"join address {text!r}: port must be a number in 1..65535")
    return text


def parse_key(text: str) -> bytes:
    """A gossip key as ``serf keygen`` prints it: base64 of 16, 24 or 32 bytes."""
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"key is not valid base64: {exc}") from None
    if len(key) not in KEY_SIZES:
        raise ValueError(f"key decodes to {len(key)} bytes; AES needs 16, 24 or 32")
    return key


def is_loopback(host: str) -> bool:
    return ipaddress.ip_address(host).is_loopback


@attrs.frozen(kw_only=True)
class AgentOptions:
    name: str
    bind: Address = ("0.0.0.0", DEFAULT_GOSSIP_PORT)
    advertise: Address | None = None
    join: tuple[str, ...] = ()
    keys: tuple[bytes, ...] = ()  # the first one encrypts
    tags: tuple[tuple[str, str], ...] = ()
    profile: str = "lan"
    label: str = ""
    http: Address | None = None
    http_allow_remote: bool = False
    log_level: str = "info"
    ring: str | None = None  # KV key of a hash ring to register this node in (--ring)
    ring_zone: str = ""
    # The endpoint's control token (from --http-token-file or the environment, never argv).
    http_token: str | None = attrs.field(default=None, repr=False)
    http_hosts: tuple[str, ...] = ()  # Host names the endpoint answers besides IP literals
    keyring_file: str | None = None  # written back after each key change through the endpoint
    ring_forget: bool = False  # let the /ring page forget unhealthy instances (POST)
    # dskit's -memberlist.message-history-buffer-bytes: KV messages kept for /memberlist, bytes
    # per direction (0: off, as in dskit).
    message_history_buffer_bytes: int = 0
    cidrs_allowed: tuple[str, ...] = ()  # memberlist's CIDRsAllowed (empty: everyone)
    require_node_names: bool = False  # memberlist's RequireNodeNames
    reconnect_interval: float = 30.0  # Serf's reconnect_interval (0: off)
    reconnect_timeout: float = 24 * 3600.0  # Serf's reconnect_timeout
    # Serf's behaviour by default: one join attempt at start, exit 1 if it fails.
    join_policy: JoinPolicy = attrs.field(
        factory=lambda: JoinPolicy(max_retries=1, abort_if_join_fails=True)
    )

    def __attrs_post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ValueError(f"profile {self.profile!r} is not one of {', '.join(PROFILES)}")
        if not self.name:
            raise ValueError("the node name must not be empty")
        if len(self.label.encode()) > 255:
            raise ValueError("the label is longer than 255 bytes")
        if self.http is not None and not self.http_allow_remote and not is_loopback(self.http[0]):
            # The endpoint can change the keyring: never expose it by accident.
            raise ValueError(
                f"--http {self.http[0]} is not a loopback address; add --http-allow-remote"
                " to serve it there anyway"
            )
