"""`GET /metrics` as JSON: live job counts from the index beside the orchestrator's own metrics.json.

The body is built once per change of the index, of metrics.json or of the sidecar's status, and then served as
bytes: under load most requests are a cache hit.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from services.common.clock import from_epoch
from services.common.liveness import is_stale, last_tick_unix_s, stale_after_s
from services.common.metrics import JOBS_BY_STATE, LAST_TICK_AT, ORCHESTRATOR_FIELDS

from .aggregate import Aggregates
from .aggregate_view import JSON_FIELDS, aggregates_json
from .index import JobIndex
from .metrics_file import MetricsFile, MetricsFileReader
from .status import SidecarStatus

# From the index (live, always available): the jobs_* gauges. From metrics.json (null while it is missing or
# corrupt): ORCHESTRATOR_FIELDS, what only the orchestrator knows.
INDEX_FIELDS = {name: state.value for state, name in JOBS_BY_STATE.items()}


# Distinct bodies kept (metrics in each format, and /jobs pages by query string) until the sources change.
MAX_CACHED_VIEWS = 256


class Views:
    """The sources every metrics view is built from, and a cache per view keyed on their generations.

    The wall-clock second is part of the key: queue ages and the last hour's throughput move with time alone.
    """

    def __init__(
        self, index: JobIndex, metrics_file: MetricsFileReader, status: SidecarStatus, aggregates: Aggregates
    ) -> None:
        self.index, self.metrics_file, self.status, self.aggregates = index, metrics_file, status, aggregates
        self._cache: dict[str, tuple[tuple[int, int, int, int], bytes]] = {}

    def generation(self) -> tuple[int, int, int, int]:
        return self.index.generation, self.metrics_file.generation, self.status.generation, int(time.time())

    def cached(self, name: str) -> bytes | None:
        hit = self._cache.get(name)
        return hit[1] if hit is not None and hit[0] == self.generation() else None

    def store(self, name: str, body: bytes) -> bytes:
        if len(self._cache) >= MAX_CACHED_VIEWS:
            self._cache.clear()  # a client walking many distinct queries: start over rather than grow
        self._cache[name] = (self.generation(), body)
        return body

    def metrics_json(self) -> bytes:
        body = self.cached("json")
        return body if body is not None else self.store("json", orjson.dumps(build_metrics(self)))


def orchestrator_liveness(current: MetricsFile) -> dict[str, Any]:
    """When the orchestrator last ticked and whether that is too long ago (see `services.common.liveness`)."""
    doc = current.doc or {}
    last = last_tick_unix_s(doc)
    return {
        LAST_TICK_AT: None if last is None else from_epoch(last),
        "staleAfterS": stale_after_s(doc),
        "stale": current.status == "ok" and is_stale(doc),
    }


def orchestrator_state(current: MetricsFile) -> str:
    """`ok`, `stale`, `missing` or `corrupt`: one word for /readyz."""
    if current.status != "ok":
        return current.status
    return "stale" if is_stale(current.doc or {}) else "ok"


def build_metrics(views: Views) -> dict[str, Any]:
    index, current = views.index, views.metrics_file.current
    by_state = index.counts_by_state()
    orchestrator = current.doc or {}
    doc: dict[str, Any] = {name: by_state.get(state, 0) for name, state in INDEX_FIELDS.items()}
    doc["jobs_total"] = len(index)
    doc["jobs_unreadable"] = index.unreadable_count()
    doc.update({name: orchestrator.get(name) for name in ORCHESTRATOR_FIELDS})
    doc.update(aggregates_json(views.aggregates, index))
    doc["sources"] = {
        "index": [*INDEX_FIELDS, "jobs_total", "jobs_unreadable", *JSON_FIELDS],
        "orchestrator": list(ORCHESTRATOR_FIELDS),
    }
    doc["orchestrator"] = {
        "status": current.status,
        "problem": current.problem,
        **orchestrator_liveness(current),
        "metrics": current.doc,
    }
    doc["index"] = {
        "byState": dict(by_state),
        "unreadable": index.unreadable_count(),
        "skipped": dict(index.skipped_by_reason()),
    }
    doc["sidecar"] = views.status.to_json()
    return doc
