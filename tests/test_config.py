from __future__ import annotations

from typing import Any

import attrs
import pytest

from trio_gossip.core.config import Config
from trio_gossip.core.membership.rules import set_local_alive
from trio_gossip.core.membership.state import MembershipState
from trio_gossip.core.membership.version import ProtocolVersionError, verify_protocol
from trio_gossip.wire.errors import ConfigError
from trio_gossip.wire.messages import NodeState, PushNodeState


def test_lan_defaults_match_memberlist() -> None:
    c = Config.lan(name="a")
    assert (c.bind_addr, c.bind_port) == ("0.0.0.0", 7946)
    assert c.protocol_version == 2
    assert c.tcp_timeout == 10.0
    assert c.indirect_checks == 3
    assert c.retransmit_mult == 4
    assert c.suspicion_mult == 4
    assert c.suspicion_max_timeout_mult == 6
    assert c.push_pull_interval == 30.0
    assert c.probe_timeout == 0.5
    assert c.probe_interval == 1.0
    assert c.disable_tcp_pings is False
    assert c.awareness_max_multiplier == 8
    assert c.gossip_nodes == 3
    assert c.gossip_interval == 0.2
    assert c.gossip_to_the_dead_time == 30.0
    assert c.gossip_verify_incoming
    assert c.gossip_verify_outgoing
    assert c.enable_compression
    assert c.handoff_queue_depth == 1024
    assert c.udp_buffer_size == 1400
    assert c.dead_node_reclaim_time == 0.0
    assert c.label == b""
    assert c.secret_keys == ()
    assert Config(name="a") == c


def test_wan_and_local_presets() -> None:
    wan = Config.wan(name="a")
    assert (wan.tcp_timeout, wan.suspicion_mult, wan.push_pull_interval) == (30.0, 6, 60.0)
    assert (wan.probe_timeout, wan.probe_interval, wan.gossip_nodes) == (3.0, 5.0, 4)
    assert (wan.gossip_interval, wan.gossip_to_the_dead_time) == (0.5, 60.0)
    local = Config.local(name="a")
    assert (local.tcp_timeout, local.indirect_checks, local.retransmit_mult) == (1.0, 1, 2)
    assert (local.suspicion_mult, local.push_pull_interval, local.probe_timeout) == (3, 15.0, 0.2)
    assert (local.gossip_interval, local.gossip_to_the_dead_time) == (0.1, 15.0)
    # An override beats the preset value.
    assert Config.local(name="a", probe_timeout=0.05).probe_timeout == 0.05


def test_default_name_is_hostname() -> None:
    assert Config().name


def test_vsn() -> None:
    assert Config(name="a").build_vsn() == bytes([1, 5, 2, 0, 0, 0])
    serf = Config(
        name="a", delegate_protocol_min=2, delegate_protocol_max=5, delegate_protocol_version=4
    )
    assert serf.build_vsn() == bytes([1, 5, 2, 2, 5, 4])


def test_label_accepts_text() -> None:
    assert Config(name="a", label="lbl").label == b"lbl"


def test_encryption_version_follows_protocol() -> None:
    assert Config(name="a").encryption_version == 1
    assert Config(name="a", protocol_version=1).encryption_version == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", ""),
        ("bind_port", 70000),
        ("bind_port", -1),
        ("advertise_port", 65536),
        ("bind_addr", "not-an-ip"),
        ("protocol_version", 0),
        ("protocol_version", 6),
        ("probe_interval", -1.0),
        ("probe_interval", 0.0),
        ("probe_timeout", 0.0),
        ("tcp_timeout", -2.0),
        ("gossip_interval", -0.1),
        ("push_pull_interval", -1.0),
        ("gossip_to_the_dead_time", -1.0),
        ("dead_node_reclaim_time", -1.0),
        ("indirect_checks", -1),
        ("suspicion_mult", 0),
        ("retransmit_mult", 0),
        ("awareness_max_multiplier", 0),
        ("udp_buffer_size", 10),
        ("meta", b"x" * 513),
        ("label", b"x" * 256),
        ("secret_keys", (b"short",)),
        ("delegate_protocol_version", 3),
        ("delegate_protocol_min", 300),
        # Wrong types and non-finite durations: a clear ConfigError, not a bare TypeError
        # from a comparison, and never an accepted timer that would never fire.
        ("suspicion_mult", "4"),
        ("suspicion_mult", 4.0),
        ("suspicion_mult", True),
        ("probe_interval", float("inf")),
        ("gossip_to_the_dead_time", float("nan")),
        ("probe_interval", "1s"),
        ("bind_port", "7946"),
        ("advertise_port", 7946.0),
        ("crc", 1),
        ("name", 7),
        ("meta", "text"),
        ("label", 4),
        ("secret_keys", b"k" * 16),
        ("secret_keys", ("k" * 16,)),
    ],
)
def test_impossible_values_name_the_field(field: str, value: object) -> None:
    kwargs: dict[str, Any] = {"name": "a", field: value}
    with pytest.raises(ConfigError, match=field):
        Config(**kwargs)


def test_type_errors_say_what_was_expected() -> None:
    with pytest.raises(ConfigError, match=r"^suspicion_mult: expected int, got str '4'$"):
        Config(name="a", suspicion_mult="4")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"^probe_interval: must be a finite number"):
        Config(name="a", probe_interval=float("inf"))
    # An int where seconds are expected is fine, as in Python generally.
    assert Config(name="a", probe_interval=2).probe_interval == 2


def test_probe_timeout_above_interval() -> None:
    with pytest.raises(ConfigError, match="probe_timeout"):
        Config(name="a", probe_interval=1.0, probe_timeout=2.0)


def test_evolve_validates_too() -> None:
    c = Config(name="a")
    assert attrs.evolve(c, probe_interval=2.0).probe_interval == 2.0
    with pytest.raises(ConfigError, match="meta"):
        attrs.evolve(c, meta=b"m" * 600)
    assert len(attrs.evolve(c, meta=b"m" * 512).meta) == 512


def test_config_error_is_value_error() -> None:
    with pytest.raises(ValueError, match="name"):
        Config(name="")


def test_serf_preset_speaks_serfs_delegate_range_and_errors_name_the_setting() -> None:
    """Serf agents advertise delegate range [2, 5] at version 5; plain memberlist programs
    [0, 0] at 0. The default joins the latter, Config.serf() the former, and a mismatch says
    which setting to change."""
    assert Config.serf(name="a").build_vsn()[3:] == bytes([2, 5, 5])
    assert Config(name="a").build_vsn()[3:] == bytes([0, 0, 0])
    serf_peer = PushNodeState("s1", b"\x7f\x00\x00\x01", 7946, None, 1, NodeState.ALIVE,
                              bytes([1, 5, 2, 2, 5, 4]))  # fmt: skip
    for config, fits in ((Config.serf(name="a"), True), (Config(name="a"), False)):
        state = set_local_alive(MembershipState("a"), addr=b"\x7f\x00\x00\x02", port=7946,
                                meta=b"", now=0.0, config=config).state  # fmt: skip
        if fits:
            verify_protocol(state, [serf_peer])
        else:
            with pytest.raises(ProtocolVersionError, match="delegate_protocol_min/max/version"):
                verify_protocol(state, [serf_peer])
