"""Metric families with names exactly as the Go programs expose them.

go-metrics' Prometheus sink (hashicorp/go-metrics prometheus/prometheus.go) registers a
counter under its flattened key, ``memberlist.msg.dead`` as ``memberlist_msg_dead``, with no
``_total`` suffix. prometheus_client writes every counter as ``NAME_total``, so such a
counter is written untyped here: the sample name stays the one dashboards query (``rate()``
works the same on it). Names that end in ``_total`` (dskit's) are true counters.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from prometheus_client.metrics_core import Metric

Labels = Mapping[str, str]


def family(name: str, doc: str, kind: str, value: float | None = None,
           labels: Labels | None = None) -> Metric:  # fmt: skip
    """A ``kind`` ("counter" or "gauge") family, with one sample when ``value`` is given."""
    metric = _metric(name, doc, kind)
    if value is not None:
        metric.add_sample(name, dict(labels or {}), float(value))
    return metric


def labelled(name: str, doc: str, kind: str,
             rows: Iterable[tuple[Labels, float]]) -> Metric:  # fmt: skip
    """One sample per (labels, value) row."""
    metric = _metric(name, doc, kind)
    for labels, value in rows:
        metric.add_sample(name, dict(labels), float(value))
    return metric


def _metric(name: str, doc: str, kind: str) -> Metric:
    if kind == "counter":
        if name.endswith("_total"):
            return Metric(name.removesuffix("_total"), doc, "counter")
        return Metric(name, doc, "unknown")
    return Metric(name, doc, kind)
