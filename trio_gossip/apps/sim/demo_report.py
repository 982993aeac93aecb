"""The closing summary of ``trio-gossip demo``: what it measured, against the formulas."""

from __future__ import annotations

import math
import statistics

import attrs

from trio_gossip.apps.demo_options import DemoOptions
from trio_gossip.core.config import Config
from trio_gossip.core.engine.queue import retransmit_limit
from trio_gossip.core.membership.bounds import (
    detection_formula,
    epidemic_rounds,
    suspicion_window,
)


@attrs.frozen
class DemoReport:
    """What the demo measured; ``render`` turns it into the closing summary."""

    options: DemoOptions
    config: Config
    joins_done: float  # seconds from start until every join() returned
    complete: tuple[float, ...]  # per node, seconds from start until it knew all n; sorted
    victim: str
    first_suspected: float | None  # seconds after the kill
    first_dead: float
    detection: dict[str, float]  # per observer, seconds from the kill to its dead verdict

    def render(self) -> str:
        cfg, n = self.config, self.options.nodes
        f, gi = cfg.gossip_nodes, cfg.gossip_interval
        bound_rounds = epidemic_rounds(n, f)
        times = sorted(self.detection.values())
        spread = times[-1] - self.first_dead if times else 0.0
        lines = [
            "",
            f"Result: all {n} nodes knew each other {self._complete(1.0):.2f} s after the start;"
            f" {self.victim} was killed and",
            f"  all {len(times)} survivors declared it dead {times[0]:.2f} to {times[-1]:.2f} s "
            "later.",
            f"Join: {n} nodes joined through node 0; every join() returned after "
            f"{self.joins_done:.2f} s",
            f"  nodes that knew all {n}: half after {self._complete(0.5):.2f} s, 90% after "
            f"{self._complete(0.9):.2f} s, all after {self._complete(1.0):.2f} s,",
            f"    that is {self._rounds(0.5):.1f} / {self._rounds(0.9):.1f} / "
            f"{self._rounds(1.0):.1f} gossip rounds after the last join",
            f"  epidemic bound: log_{f + 1}({n}) + ln({n})/{f} = {bound_rounds:.1f} rounds "
            f"({bound_rounds * gi:.2f} s at {gi:g} s per round),",
            f"    about how many rounds a rumour needs to reach all {n} nodes when each node "
            f"passes it",
            f"    to {f} others per round: the last node took {self._rounds(1.0):.1f}, "
            + _versus(self._rounds(1.0), bound_rounds),
            *self._stragglers(bound_rounds),
            f"Failure: {self.victim} killed; first suspected after "
            + (f"{self.first_suspected:.2f} s" if self.first_suspected is not None else "(unseen)")
            + f", first declared dead after {self.first_dead:.2f} s",
            f"  the verdict reached all {len(times)} survivors {spread:.2f} s later: "
            f"{spread / gi:.1f} gossip rounds, " + _versus(spread / gi, bound_rounds),
            f"  detection per observer: min {times[0]:.2f} s, median "
            f"{statistics.median(times):.2f} s, max {times[-1]:.2f} s",
            *self._formula(times),
            *self._measured(),
        ]
        per_observer = [f"{name} {t:6.2f}" for name, t in sorted(self.detection.items())]
        for i in range(0, len(per_observer), 6):
            lines.append("    " + "   ".join(per_observer[i : i + 6]))
        return "\n".join(lines)

    def _formula(self, times: list[float]) -> list[str]:
        cfg, n = self.config, self.options.nodes
        low, _ = suspicion_window(cfg, n)
        formula = detection_formula(cfg, n)
        early, late = times[0] - formula, times[-1] - formula
        if early > 0:
            verdicts = f"every verdict came after it, {early:.2f} to {late:.2f} s later"
        elif late <= 0:
            verdicts = f"every verdict came at or before it, {-late:.2f} to {-early:.2f} s sooner"
        else:
            verdicts = f"the verdicts came from {-early:.2f} s before to {late:.2f} s after it"
        return [
            f"  formula: probe interval {cfg.probe_interval:g} s + probe timeout "
            f"{cfg.probe_timeout:g} s + suspicion timeout {low:g} s (n={n})",
            f"    = {formula:.2f} s, when the formula expects a verdict (someone probes the "
            "victim at once",
            f"    and others confirm the suspicion); {verdicts}",
        ]

    def _measured(self) -> list[str]:
        if self.first_suspected is None:
            return []
        suspicion = self.first_dead - self.first_suspected
        return [
            f"  measured: {self.first_suspected:.2f} s to the first suspicion (until someone "
            f"probed it, plus the probe",
            f"    round: a probe fails at the end of its {self.config.probe_interval:g} s "
            f"interval, not at the timeout) + {suspicion:.2f} s of suspicion",
        ]

    def _complete(self, share: float) -> float:
        return self.complete[max(0, math.ceil(share * len(self.complete)) - 1)]

    def _rounds(self, share: float) -> float:
        return (self._complete(share) - self.joins_done) / self.config.gossip_interval

    def _stragglers(self, bound_rounds: float) -> list[str]:
        cfg = self.config
        late = self.joins_done + 3 * bound_rounds * cfg.gossip_interval
        count = sum(1 for t in self.complete if t > late)
        if not count:
            return []
        limit = retransmit_limit(cfg.retransmit_mult, self.options.nodes)
        return [
            f"  {count} node(s) missed every copy of some announcement (each node passes one",
            f"    on {limit} times) and caught up by push/pull anti-entropy (every "
            f"{cfg.push_pull_interval:g} s, scaled for n)",
        ]


def _versus(rounds: float, bound: float) -> str:
    if rounds <= bound:
        return "within the bound"
    return f"{rounds - bound:.1f} over the bound (an estimate, not a limit)"
