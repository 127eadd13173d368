"""Prometheus metrics of one service instance (its own CollectorRegistry: several apps can share a process).

Requests, errors and latency by endpoint; predictions by model and version (a histogram for regression,
a count per class for classification); the served version, switches and the prediction log's health are
read from their owners at scrape time, so they are never stale.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from hone.store.logbook import PredictionLog, label_text

if TYPE_CHECKING:
    from hone.serve.source import ModelSource

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Bounds at these percentiles of the training predictions: finer in the tails, where drift shows first.
BUCKET_PERCENTILES = (1, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 99)
# Without a profile the prediction scale is unknown: 1-2-5 steps over ten decades cover most targets.
GENERIC_BUCKETS = tuple(m * 10.0**e for e in range(-3, 7) for m in (1, 2, 5)) + (1e7,)


def prediction_buckets(profile: Any) -> tuple[float, ...]:
    """Histogram bounds at percentiles of the profile's predictions (else its target), else generic ones."""
    if isinstance(profile, dict):
        for key in ("predictions", "target"):
            section = profile.get(key)
            if not isinstance(section, dict) or section.get("kind") != "numeric":
                continue
            percentiles = section.get("percentiles") or []
            if len(percentiles) == 101:
                chosen = [percentiles[p] for p in BUCKET_PERCENTILES]
            else:
                chosen = list(section.get("edges") or [])
            bounds = sorted({float(b) for b in chosen if isinstance(b, (int, float)) and math.isfinite(b)})
            if len(bounds) >= 2:
                return tuple(bounds)
    return GENERIC_BUCKETS


class PredictionHistogram:
    """A histogram filled a whole batch at a time (one numpy pass instead of one call per row)."""

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = np.asarray(bounds, dtype=np.float64)
        self._series: dict[tuple[str, str], list[Any]] = {}  # labels -> [counts per bucket, sum]
        self._lock = threading.Lock()

    def observe(self, model: str, version: int, values: np.ndarray) -> None:
        values = values[np.isfinite(values)]
        # Prometheus buckets are "less or equal": searchsorted(side="left") finds exactly that bucket.
        counts = np.bincount(
            np.searchsorted(self.bounds, values, side="left"), minlength=len(self.bounds) + 1
        )
        total = float(values.sum())
        with self._lock:
            series = self._series.setdefault(
                (model, str(version)), [np.zeros(len(self.bounds) + 1, int), 0.0]
            )
            series[0] += counts
            series[1] += total

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(
            "hone_prediction", "Predicted values by model and version", labels=["model", "version"]
        )
        with self._lock:
            snapshot = [(labels, counts.copy(), total) for labels, (counts, total) in self._series.items()]
        for labels, counts, total in snapshot:
            cumulative = np.cumsum(counts)
            buckets = [(_bound(b), float(c)) for b, c in zip(self.bounds, cumulative[:-1], strict=True)]
            buckets.append(("+Inf", float(cumulative[-1])))
            family.add_metric(list(labels), buckets, total)
        yield family


def _bound(value: float) -> str:
    return repr(float(value))


class _StateCollector:
    """The served model and the prediction log, read when Prometheus scrapes."""

    def __init__(self, source: ModelSource, log: Callable[[], PredictionLog | None]) -> None:
        self.source = source
        self.log = log  # the log exists only while the app runs

    def collect(self) -> Iterable[Metric]:
        info = GaugeMetricFamily(
            "hone_model_info", "The model version being served (1)", labels=["model", "version", "compiled"]
        )
        current = self.source.current
        if current is not None:
            compiled = str(bool(getattr(current.predictor, "compiled", False))).lower()
            info.add_metric([current.name, str(current.number), compiled], 1)
        yield info
        yield _counter("hone_model_switches", "Hot switches to a new champion", self.source.switches)
        yield _counter(
            "hone_model_load_failures", "Versions that could not be loaded", self.source.failed_loads
        )
        log = self.log()
        if log is not None:
            yield _counter("hone_log_rows_written", "Prediction rows written to the log", log.rows_written)
            yield _counter(
                "hone_log_feedback_written", "Feedback rows written to the log", log.feedback_written
            )
            yield _counter("hone_log_rows_dropped", "Rows the log could not write", log.rows_dropped)
            yield _counter("hone_log_write_errors", "Failed writes of the prediction log", log.write_errors)
            yield GaugeMetricFamily("hone_log_pending_rows", "Rows waiting to be written", log.pending_rows)


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=value)


class ServiceMetrics:
    """Everything /metrics shows for one app."""

    def __init__(
        self,
        source: ModelSource,
        log: Callable[[], PredictionLog | None],
        buckets: Sequence[float] = GENERIC_BUCKETS,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self._requests = Counter(
            "hone_requests",
            "HTTP requests by endpoint and status",
            ["endpoint", "status"],
            registry=self.registry,
        )
        self._errors = Counter(
            "hone_errors",
            "Refused or failed requests by endpoint and kind",
            ["endpoint", "kind"],
            registry=self.registry,
        )
        self._latency = Histogram(
            "hone_request_seconds",
            "Time to answer a request",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._refused_feedback = Counter(
            "hone_feedback_refused",
            "Feedback items refused because this service never issued their prediction id",
            registry=self.registry,
        )
        self._classes = Counter(
            "hone_predicted_class",
            "Predicted classes by model and version",
            ["model", "version", "label"],
            registry=self.registry,
        )
        self.predictions = PredictionHistogram(buckets)
        self.registry.register(self.predictions)  # type: ignore[arg-type] - a collector by duck typing
        self.registry.register(_StateCollector(source, log))  # type: ignore[arg-type]
        self._children: dict[tuple[str, ...], Any] = {}  # label lookups cost more than the increments

    def observe_request(self, endpoint: str, status: int, seconds: float) -> None:
        key = (endpoint, str(status))
        counter = self._children.get(key)
        if counter is None:
            counter = self._children[key] = self._requests.labels(endpoint, str(status))
        counter.inc()
        timer = self._children.get((endpoint,))
        if timer is None:
            timer = self._children[(endpoint,)] = self._latency.labels(endpoint)
        timer.observe(seconds)

    def count_refused_feedback(self, n: int) -> None:
        self._refused_feedback.inc(n)

    def count_error(self, endpoint: str, kind: str) -> None:
        self._errors.labels(endpoint, kind).inc()

    def observe_predictions(self, model: str, version: int, task: str, predictions: np.ndarray) -> None:
        if task == "classification":
            labels, counts = np.unique(np.asarray([label_text(p) for p in predictions]), return_counts=True)
            for label, n in zip(labels, counts, strict=True):
                self._classes.labels(model, str(version), str(label)).inc(int(n))
            return
        self.predictions.observe(model, version, np.asarray(predictions, dtype=np.float64))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
