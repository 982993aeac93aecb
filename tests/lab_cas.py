"""The chaos lab's CAS scenario: concurrent CAS updates of one ring key on real sockets, with
loss on every link and a partition in the middle; no update may be lost.

Every host runs tests/lab_cas_node.py (``Lab(..., cas_writes=W)``), whose writes each add one
token of its own to its own instance, as dskit's lifecyclers each write their own instance of
one ring key. An update lost anywhere (overwritten by an older copy of the instance, dropped
in a merge, never delivered) leaves a token missing from some view.
"""

from __future__ import annotations

import time
from typing import Any

from lab_cas_node import token
from lab_support import Lab, Outcome, heal_bound

from trio_gossip.core.membership.bounds import anti_entropy_time

SCENARIO = "d: CAS"
SAMPLE_EVERY = 0.5  # seconds between reads of the views (the nodes write theirs as often)


def expected_ring(lab: Lab) -> dict[str, list[int]]:
    return {h.name: [token(h.index, k) for k in range(lab.cas_writes)] for h in lab.hosts}


def lost_updates(expected: dict[str, list[int]], ring: dict[str, list[int]]) -> int:
    """Updates of ``expected`` missing from one view's ``ring``."""
    return sum(len(set(tokens) - set(ring.get(name, ()))) for name, tokens in expected.items())


def _foreign(expected: dict[str, list[int]], ring: dict[str, list[int]]) -> int:
    """Tokens in one view's ``ring`` that no update put there."""
    return sum(len(set(tokens) - set(expected.get(name, ()))) for name, tokens in ring.items())


def cas(lab: Lab, out: Outcome, *, loss: float, partition_at: float,
        partition_seconds: float) -> None:  # fmt: skip
    """(d) every host makes ``lab.cas_writes`` CAS updates, started together, under ``loss``
    on every link; ``partition_at`` seconds in, the hosts split into halves for
    ``partition_seconds``. After the heal and the last write, every view must hold every
    update within one push/pull (or reconnect) interval plus anti-entropy."""
    assert lab.cas_writes > 0, "the lab must run CAS nodes (Lab(..., cas_writes=W))"
    n, writes = lab.n, lab.cas_writes
    expected = expected_ring(lab)
    errors_before, crashes_before = len(lab.error_lines), len(lab.crashes)
    lab.set_loss(loss)
    t0 = lab.note("cas", lab.hosts, f"{writes} writes each")
    samples: list[tuple[float, str, int]] = []  # (time, view, updates it holds)

    def sample() -> dict[str, dict[str, Any]]:
        views = lab.ring_views()
        t = time.time()
        samples.extend((t, name, sum(map(len, v["ring"].values()))) for name, v in views.items())
        return views

    def watch(seconds: float, label: str) -> None:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            lab.wait(min(SAMPLE_EVERY, left), label)
            sample()

    lab.cas_go.touch()
    watch(partition_at, "cas: writing")
    half = n // 2
    lab.partition(lab.hosts[:half], lab.hosts[half:])
    watch(partition_seconds, "cas: partitioned")
    t_heal = lab.heal()

    def written() -> float | None:
        views = sample()
        done = len(views) == n and all(v["done"] >= writes for v in views.values())
        return time.time() if done else None

    write_time = writes * lab.cas_pace * 1.5 + 60.0
    t_written = float(lab.wait_for(written, write_time, "cas: writes done"))
    since = max(t_heal, t_written)
    bound = heal_bound(lab.config, n) + anti_entropy_time(lab.config, n)

    def converged() -> bool:
        views = sample()
        return len(views) == n and all(v["ring"] == expected for v in views.values())

    try:
        lab.wait_for(converged, bound, "cas: every view holds every update")
        took: float | None = time.time() - since
    except TimeoutError:
        took = None
    views = lab.ring_views()
    lost = {name: lost_updates(expected, v["ring"]) for name, v in views.items()}
    foreign = {name: _foreign(expected, v["ring"]) for name, v in views.items()}
    lab.clear_faults()
    crashes = lab.crashes[crashes_before:]
    errors = lab.error_lines[errors_before:]
    false = lab.false_deaths(t0)
    worst = max(lost.values(), default=0)
    out.add(SCENARIO, f"lost updates ({n} nodes x {writes} CAS, worst view)", str(worst), "0",
            worst == 0 and len(lost) == n)  # fmt: skip
    out.add(SCENARIO, "updates nobody made, in any view", str(sum(foreign.values())), "0",
            not any(foreign.values()))  # fmt: skip
    out.add(SCENARIO, "every view holds every update, after heal and last write",
            "never" if took is None else f"{took:.1f}s", f"<= {bound:.1f}s",
            took is not None and took <= bound)  # fmt: skip
    out.add(SCENARIO, "false deaths, crashes, error lines",
            f"{len(false)}, {len(crashes)}, {len(errors)}", "0, 0, 0",
            not (false or crashes or errors))  # fmt: skip
    out.data["cas"] = {"start": t0, "heal": t_heal, "written": t_written, "writes": writes,
                       "pace": lab.cas_pace, "loss": loss, "partition_at": partition_at,
                       "partition_seconds": partition_seconds, "converged_after": took,
                       "bound": bound, "lost": lost, "foreign": foreign,
                       "false_deaths": [vars(e) for e in false], "errors": errors[:50],
                       "crashes": crashes, "samples": samples}  # fmt: skip
