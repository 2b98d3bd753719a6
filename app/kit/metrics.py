"""Prometheus metrics: what the shop counts, and the one place each count is named.

Every domain counts through the objects here (app.kit is below them all). Labels take only bounded values:
route templates (never raw paths), status codes, order kinds, job names, outcomes. A request that matched
no route is counted under `route="unmatched"`, so junk paths never make a series.

Several processes (`daoxiang serve --workers N`, and a worker that shares the directory) write their values
to PROMETHEUS_MULTIPROC_DIR, which prometheus-client reads when it is imported; `/metrics` then adds them
up (app.monitoring). Without it each process counts in memory.

Per request the cost is one dict lookup and two increments (`record_request`): the labelled children are
kept here by key, so prometheus-client's own label lookup (and its lock) is paid once per series.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE
from prometheus_client import REGISTRY as PROCESS_REGISTRY
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, values

UNMATCHED = "unmatched"
ROUTE_KEY = "daoxiang.route"  # set in the scope by a fast path that answered (app.kit.metrics.name_route)

HTTP_REQUESTS = Counter(
    "daoxiang_http_requests", "HTTP requests answered, by route template", ["method", "route", "status"]
)
HTTP_DURATION = Histogram(
    "daoxiang_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template",
    ["method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
ORDERS_CREATED = Counter("daoxiang_orders_created", "Orders placed, by order kind", ["kind"])
ORDERS_PAID = Counter("daoxiang_orders_paid", "Orders that became paid")
ORDERS_CANCELLED = Counter("daoxiang_orders_cancelled", "Orders that became cancelled")
PAYMENT_NOTICES = Counter(
    "daoxiang_payment_notices", "Payment gateway notifications received, by outcome", ["channel", "outcome"]
)
JOB_RUNS = Counter("daoxiang_job_runs", "Background job runs", ["job"])
JOB_FAILURES = Counter("daoxiang_job_failures", "Background job runs that failed", ["job"])
JOB_DURATION = Histogram(
    "daoxiang_job_duration_seconds",
    "Background job run time",
    ["job"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0),
)
CACHE_REQUESTS = Counter(
    "daoxiang_cache_requests",
    "Cache reads: hit in this process (l1), in Redis (l2), or miss",
    ["cache", "result"],
)
CATALOG_CACHE_L1_HITS = CACHE_REQUESTS.labels("catalog", "hit_l1")
CATALOG_CACHE_L2_HITS = CACHE_REQUESTS.labels("catalog", "hit_l2")
CATALOG_CACHE_MISSES = CACHE_REQUESTS.labels("catalog", "miss")
TRACE_SCANS = Counter("daoxiang_trace_scans", "Trace code scans counted, by verdict", ["verdict"])

_ORDERS_BY_STATUS = {"paid": ORDERS_PAID, "cancelled": ORDERS_CANCELLED}


def order_moved(to_status: str) -> None:
    """An order's status changed (app.orders.state): counted in the transaction, before its commit."""
    counter = _ORDERS_BY_STATUS.get(to_status)
    if counter is not None:
        counter.inc()


# Per-series children, so the hot path skips prometheus-client's labels() (a lock and a tuple per call).
_request_series: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def name_route(scope: dict[str, Any], template: str) -> None:
    """A fast path that answered a request says which route template it stood for (the router did not run)."""
    scope[ROUTE_KEY] = template


def route_of(scope: dict[str, Any]) -> str:
    named = scope.get(ROUTE_KEY)
    if named is not None:
        return named
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


def record_request(scope: dict[str, Any], status: int, seconds: float) -> None:
    key = (scope["method"], route_of(scope), status)
    series = _request_series.get(key)
    if series is None:
        method, route, _ = key
        if method in _METHODS:
            series = _request_series[key] = _series(method, route, status)
        else:  # any token is a method to the server: one series for the unknown ones, and nothing kept
            series = _series("OTHER", route, status)
    series[0].inc()
    series[1].observe(seconds)


def _series(method: str, route: str, status: int) -> tuple[Any, Any]:
    return HTTP_REQUESTS.labels(method, route, str(status)), HTTP_DURATION.labels(method, route)


_METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))


def multiprocess() -> bool:
    """Whether this process writes its values to PROMETHEUS_MULTIPROC_DIR: prometheus-client decided when
    it was imported (the CLI exports the directory before the app is imported: app.cli.core)."""
    return values.ValueClass is not values.MutexValue


def exposition(*extra_collectors: Any) -> bytes:
    """The text format of every process's metrics (one process, or all that share the multiprocess
    directory) plus `extra_collectors` (figures read at scrape time, such as the outbox backlog)."""
    if not multiprocess():
        registry: CollectorRegistry = PROCESS_REGISTRY
        text = generate_latest(registry)
        if not extra_collectors:
            return text
        extra = CollectorRegistry(auto_describe=False)
        for collector in extra_collectors:
            extra.register(collector)
        return text + generate_latest(extra)
    registry = CollectorRegistry()
    from prometheus_client.multiprocess import MultiProcessCollector

    MultiProcessCollector(registry)
    for collector in extra_collectors:
        registry.register(collector)
    return generate_latest(registry)


__all__ = ["CONTENT_TYPE", "exposition", "name_route", "record_request", "route_of"]
