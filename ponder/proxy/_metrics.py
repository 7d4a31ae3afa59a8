"""Prometheus metrics of one proxy instance, in a registry of its own (several apps in one
process, as in tests, must not share counters).

Every label takes a bounded set of values: the arms, the profiles and pass-through models
the configuration allows, the statuses. A model a client names is a label only when the
proxy serves it; any other is :data:`UNKNOWN_MODEL`, or each request naming a new string
would add a series (300 such requests grew ``/metrics`` from 5 KB to 187 KB) and show
every reader the model strings other tenants typed.
"""

from __future__ import annotations

from collections.abc import Container, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric

from ponder.router import Completion

UNKNOWN_MODEL = "unknown"
"""The ``model`` label of requests naming a model the proxy does not serve."""


def model_label(model: str, *served: Container[str]) -> str:
    """``model`` when one of ``served`` holds it, else :data:`UNKNOWN_MODEL`."""
    return model if any(model in names for names in served) else UNKNOWN_MODEL


_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.requests = Counter(
            "ponder_requests",
            "Chat requests by model asked and status",
            ["model", "status"],
            registry=r,
        )
        self.decisions = Counter(
            "ponder_decisions", "Arm chosen first by the policy", ["arm"], registry=r
        )
        self.answered = Counter(
            "ponder_answers", "Arm whose answer was returned", ["arm"], registry=r
        )
        self.escalations = Counter("ponder_escalations", "Escalations to another arm", registry=r)
        self.samples = Counter("ponder_samples", "Samples drawn from providers", registry=r)
        self.cost = Counter("ponder_cost_usd", "Real cost charged, USD", registry=r)
        self.cache_hits = Counter("ponder_cache_hits", "Answers served from the cache", registry=r)
        self.latency = Histogram(
            "ponder_request_seconds",
            "Request latency, by kind (routed or passthrough)",
            ["kind"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )

        self._store = _StoreCounts()
        r.register(self._store)

    def watch(self, store: Any) -> None:
        """Report ``store``'s own counts (the router's Redis store; ``None``: none)."""
        self._store.store = store

    def observe(self, c: Completion) -> None:
        t = c.ponder
        if t.cache_hit:
            self.cache_hits.inc()
            return
        self.decisions.labels(t.chosen_arm).inc()
        self.answered.labels(t.answered_by).inc()
        self.escalations.inc(t.escalations)
        self.samples.inc(t.samples_used)
        self.cost.inc(max(t.cost, 0.0))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _StoreCounts:
    """What the router's Redis store counts itself, read when ``/metrics`` is scraped:
    settlements no replica acknowledged in time (a master lost then would lose them)."""

    def __init__(self) -> None:
        self.store: Any = None

    def collect(self) -> Iterator[Metric]:
        count = getattr(self.store, "unreplicated", None)
        if count is not None:
            yield CounterMetricFamily(
                "ponder_settlements_unreplicated",
                "Budget settlements no Redis replica acknowledged within settle_wait",
                value=count,
            )
