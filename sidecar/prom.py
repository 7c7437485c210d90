"""`GET /metrics` in the Prometheus text formats, produced by prometheus_client from the same three sources.

A custom collector in a registry of its own (never the global one) yields fresh families on each collect;
`choose_encoder` does the content negotiation, so the Content-Type always names the format version.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector, CollectorRegistry

from services.common.job import JobState, Stage
from services.common.liveness import last_tick_unix_s
from services.common.metrics import (
    DISK_ERROR,
    DUPLICATES,
    INBOX_IGNORED,
    INTAKE_PAUSED,
    JOBS_CREATED,
    PAGES_DONE,
    RETRIES,
    RETRIES_REQUESTED,
    RUNNING_BY_STAGE,
    STAGE_UNAVAILABLE,
    UPDATED_AT,
)

from .aggregate_view import aggregate_families
from .facts import epoch_s
from .metrics import Views, orchestrator_liveness
from .metrics_file import MetricsFile
from .state_file import SKIP_NOT_A_FILE, SKIP_SYMLINK
from .status import JOURNAL, POLLING, WATCH_MODES

# metrics.json counter -> (Prometheus name without _total, help)
_COUNTERS = {
    DISK_ERROR: ("ocr_disk_errors", "Writes refused by the jobs volume (orchestrator)."),
    RETRIES: ("ocr_retries", "Stage attempts scheduled for retry (orchestrator)."),
    PAGES_DONE: ("ocr_pages_done", "Pages of DONE jobs (orchestrator)."),
    JOBS_CREATED: ("ocr_jobs_created", "Jobs created from the inbox (orchestrator)."),
    DUPLICATES: ("ocr_duplicates", "Inbox files identical to an existing job (orchestrator)."),
    STAGE_UNAVAILABLE: ("ocr_stage_unavailable", "Stage calls that found the service down (orchestrator)."),
    RETRIES_REQUESTED: ("ocr_retries_requested", "ERROR jobs queued again by ocr-stack retry (orchestrator)."),
}


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


class IndexCollector(Collector):
    def __init__(self, views: Views) -> None:
        self.views = views

    def collect(self) -> Iterator[Metric]:
        yield from self._jobs()
        yield from aggregate_families(self.views.aggregates, self.views.index)
        yield from self._orchestrator()
        yield from self._sidecar()

    def _jobs(self) -> Iterator[Metric]:
        index = self.views.index
        jobs = GaugeMetricFamily("ocr_jobs", "Jobs by state, live from the sidecar's index.", labels=["state"])
        counts = index.counts_by_state()
        for state in sorted({*(s.value for s in JobState), *counts}):
            jobs.add_metric([state], counts.get(state, 0))
        yield jobs
        yield GaugeMetricFamily(
            "ocr_jobs_unreadable", "Jobs whose state.json cannot be read or parsed.", value=index.unreadable_count()
        )
        skipped = GaugeMetricFamily(
            "ocr_sidecar_skipped_jobs", "Job folders skipped (symlinks, not files).", labels=["reason"]
        )
        by_reason = index.skipped_by_reason()
        for reason in (SKIP_SYMLINK, SKIP_NOT_A_FILE):
            skipped.add_metric([reason], by_reason.get(reason, 0))
        yield skipped

    def _orchestrator(self) -> Iterator[Metric]:
        current = self.views.metrics_file.current
        yield GaugeMetricFamily(
            "ocr_orchestrator_metrics_up", "1 when metrics.json was read and parsed.", value=current.status == "ok"
        )
        doc = current.doc or {}
        if (updated_s := epoch_s(doc.get(UPDATED_AT))) is not None:
            yield GaugeMetricFamily(
                "ocr_orchestrator_metrics_updated_timestamp_seconds",
                "When the orchestrator last wrote metrics.json (at least every METRICS_HEARTBEAT_S while it runs).",
                value=updated_s,
            )
        yield from self._liveness(current)
        for field, (name, help_text) in _COUNTERS.items():
            if (value := _number(doc.get(field))) is not None:
                yield CounterMetricFamily(name, help_text, value=value)
        if (ignored := _number(doc.get(INBOX_IGNORED))) is not None:
            yield GaugeMetricFamily(
                "ocr_inbox_ignored_entries", "Inbox entries ignored by design (folders, symlinks).", value=ignored
            )
        running = GaugeMetricFamily(
            "ocr_stage_calls_running", "Stage calls in flight (orchestrator).", labels=["stage"]
        )
        for stage in (Stage.PREP, Stage.OCR):
            if (value := _number(doc.get(RUNNING_BY_STAGE[stage]))) is not None:
                running.add_metric([stage.value.lower()], value)
        if running.samples:
            yield running
        if isinstance(doc.get(INTAKE_PAUSED), bool):
            yield GaugeMetricFamily(
                "ocr_intake_paused", "1 while intake and dispatch are paused.", value=doc[INTAKE_PAUSED]
            )

    def _liveness(self, current: MetricsFile) -> Iterator[Metric]:
        if (last_tick_s := last_tick_unix_s(current.doc or {})) is not None:
            yield GaugeMetricFamily(
                "ocr_orchestrator_last_tick_timestamp_seconds",
                "When the orchestrator last finished a tick (alert on time() minus this).",
                value=last_tick_s,
            )
        yield GaugeMetricFamily(
            "ocr_orchestrator_stale",
            "1 when the orchestrator has not ticked for longer than 3 heartbeats: stopped, hung or stuck on disk.",
            value=orchestrator_liveness(current)["stale"],
        )

    def _sidecar(self) -> Iterator[Metric]:
        status = self.views.status
        yield GaugeMetricFamily(
            "ocr_sidecar_ready", "1 once the initial scan is done and the watchers run.", value=status.ready
        )
        yield GaugeMetricFamily(
            "ocr_sidecar_watch_polling",
            "1 when watching by polling instead of inotify.",
            value=status.watch_mode in (POLLING, JOURNAL),
        )
        mode = GaugeMetricFamily("ocr_sidecar_watch_mode", "1 for the current watch mode.", labels=["mode"])
        for name in WATCH_MODES:
            mode.add_metric([name], status.watch_mode == name)
        yield mode
        yield GaugeMetricFamily(
            "ocr_sidecar_unwatched_jobs", "Jobs without an inotify watch (polled instead).", value=status.unwatched_jobs
        )
        yield GaugeMetricFamily(
            "ocr_sidecar_staleness_seconds",
            "Age of the oldest change the sidecar may not have seen (0 while inotify covers every job).",
            value=status.staleness_s,
        )
        yield CounterMetricFamily(
            "ocr_sidecar_watch_overflows", "inotify queue overflows (events lost).", value=status.overflows_total
        )
        yield CounterMetricFamily("ocr_sidecar_watch_events", "Filesystem events received.", value=status.events_total)
        yield CounterMetricFamily(
            "ocr_sidecar_rescans", "Full rescans done (the first is the initial scan).", value=status.rescans_total
        )
        yield CounterMetricFamily(
            "ocr_sidecar_rescan_repairs", "Jobs a rescan found that events had missed.", value=status.repairs_total
        )
        yield CounterMetricFamily(
            "ocr_sidecar_watcher_restarts", "Watcher restarts after a failure.", value=status.watcher_restarts_total
        )
        if status.last_rescan_unix_s is not None:
            yield GaugeMetricFamily(
                "ocr_sidecar_last_rescan_timestamp_seconds",
                "When the last full rescan finished.",
                value=status.last_rescan_unix_s,
            )
            yield GaugeMetricFamily(
                "ocr_sidecar_last_rescan_duration_seconds",
                "How long the last full rescan took.",
                value=status.last_rescan_duration_s or 0.0,
            )


class PrometheusView:
    def __init__(self, views: Views) -> None:
        self.views = views
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(IndexCollector(views))

    def render(self, accept: str) -> tuple[bytes, str]:
        """The exposition body and its Content-Type, negotiated from the Accept header."""
        encoder, content_type = choose_encoder(accept)
        body = self.views.cached(content_type)
        if body is None:
            body = self.views.store(content_type, encoder(self.registry))
        return body, content_type
