"""Every field of Config refuses a wrong type, a bool where a number is meant, a non-finite
duration and an out-of-range value with a ConfigError that names the field and the reason.

The table below must cover every field: a new field without a row fails
``test_every_field_has_bad_values``.
"""

from __future__ import annotations

import attrs
import pytest

from trio_gossip.core.config import Config
from trio_gossip.wire.errors import ConfigError

INF = float("inf")
NAN = float("nan")

# field -> values that must be refused, each with a word the message must contain.
BAD: dict[str, list[tuple[object, str]]] = {
    "name": [(7, "expected str"), ("", "empty"), (None, "expected str")],
    "bind_addr": [(0, "expected str"), ("not-an-ip", "not an IP")],
    "bind_port": [
        ("7946", "expected int"),
        (True, "expected int"),
        (7946.0, "expected int"),
        (-1, "outside"),
        (65536, "outside"),
    ],
    "advertise_addr": [(1, "expected str"), ("host.example", "not an IP")],
    "advertise_port": [(7946.0, "expected int"), (False, "expected int"), (70000, "outside")],
    "protocol_version": [
        ("2", "expected int"),
        (True, "expected int"),
        (0, "outside"),
        (6, "outside"),
    ],
    "delegate_protocol_min": [(1.0, "expected int"), (True, "expected int"), (300, "byte")],
    "delegate_protocol_max": [("5", "expected int"), (-1, "byte")],
    "delegate_protocol_version": [(None, "expected int"), (3, "delegate_protocol_min..max")],
    "tcp_timeout": [
        ("10s", "expected"),
        (True, "expected"),
        (INF, "finite"),
        (NAN, "finite"),
        (0, "positive"),
        (-1.0, "positive"),
    ],
    "indirect_checks": [(3.0, "expected int"), (True, "expected int"), (-1, "negative")],
    "retransmit_mult": [("4", "expected int"), (0, "at least 1")],
    "suspicion_mult": [
        ("4", "expected int"),
        (4.0, "expected int"),
        (True, "expected int"),
        (0, "at least 1"),
    ],
    "suspicion_max_timeout_mult": [(6.5, "expected int"), (0, "at least 1")],
    "push_pull_interval": [(None, "expected"), (INF, "finite"), (-1.0, "negative")],
    "probe_interval": [("1s", "expected"), (INF, "finite"), (NAN, "finite"), (0.0, "positive")],
    "probe_timeout": [
        (False, "expected"),
        (-INF, "finite"),
        (0, "positive"),
        (2.0, "must not exceed probe_interval"),
    ],
    "disable_tcp_pings": [(1, "expected bool"), ("no", "expected bool")],
    "awareness_max_multiplier": [(8.0, "expected int"), (0, "at least 1")],
    "gossip_interval": [("0.2", "expected"), (INF, "finite"), (-0.1, "negative")],
    "gossip_nodes": [(3.0, "expected int"), (True, "expected int"), (-1, "negative")],
    "gossip_to_the_dead_time": [(NAN, "finite"), (INF, "finite"), (-1, "negative")],
    "dead_node_reclaim_time": [("0", "expected"), (INF, "finite"), (-5.0, "negative")],
    "gossip_verify_incoming": [(0, "expected bool"), (None, "expected bool")],
    "gossip_verify_outgoing": [(1, "expected bool")],
    "enable_compression": [("yes", "expected bool")],
    "crc": [(1, "expected bool")],
    "label": [(4, "expected str or bytes"), ("x" * 256, "longer than 255")],
    "skip_inbound_label_check": [(1, "expected bool")],
    "require_node_names": [("yes", "expected bool"), (1, "expected bool")],
    "check_before_dead": [(0, "expected bool")],
    "catch_up_push_pull": [(1, "expected bool"), ("yes", "expected bool")],
    "quiet_join": [(0, "expected bool")],
    "cidrs_allowed": [(["10.0.0.0/33"], "invalid cidr"), ([7], "expected CIDR strings")],
    "reconnect_interval": [("30", "expected"), (INF, "finite"), (-1.0, "negative")],
    "reconnect_timeout": [("1", "expected"), (NAN, "finite"), (0.0, "positive")],
    "secret_keys": [
        (b"k" * 16, "single value"),
        (("k" * 16,), "keys are bytes"),
        ((b"short",), "AES needs"),
    ],
    "dns_servers": [
        ((("127.0.0.1", "53"),), "(IP, port)"),
        ((("127.0.0.1", True),), "(IP, port)"),
        ((("dns.example", 53),), "not an IP"),
        ((("127.0.0.1", 70000),), "outside"),
    ],
    "handoff_queue_depth": [(1024.0, "expected int"), (True, "expected int"), (0, "at least 1")],
    "udp_buffer_size": [("1400", "expected int"), (63, "64..65536"), (65537, "64..65536")],
    "meta": [("text", "expected bytes"), (b"m" * 513, "more than 512")],
    "leave_timeout": [(INF, "finite"), (0, "positive"), ("5", "expected")],
}

CASES = [
    pytest.param(field, value, why, id=f"{field}-{value!r:.20}")
    for field, rows in BAD.items()
    for value, why in rows
]


def test_every_field_has_bad_values() -> None:
    assert set(BAD) == {f.name for f in attrs.fields(Config)}


@pytest.mark.parametrize(("field", "value", "why"), CASES)
def test_bad_value_names_field_and_reason(field: str, value: object, why: str) -> None:
    with pytest.raises(ConfigError) as info:
        Config(name="a", **{field: value}) if field != "name" else Config(name=value)  # type: ignore[arg-type]
    message = str(info.value)
    assert message.startswith(f"{field}: "), message
    assert why in message, message
    # One line, no nested exception reprs.
    assert "\n" not in message
    assert "Error(" not in message


@pytest.mark.parametrize("field", [f.name for f in attrs.fields(Config)])
def test_default_value_is_accepted(field: str) -> None:
    # Passing the default back in explicitly is always fine: the guards refuse only bad input.
    default = getattr(Config(name="a"), field)
    assert getattr(Config(**{"name": "a", field: default}), field) == default
