"""The aggregates as Prometheus families and as the JSON fields of `/metrics`: one reading, two encodings."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from services.common.clock import from_epoch

from .aggregate import Aggregates, Histogram
from .facts import OUTCOMES, REASONS, STAGES
from .index import JobIndex

# The JSON fields this module adds to `/metrics` (all computed from the index).
JSON_FIELDS = (
    "stages",
    "endToEndS",
    "confidence",
    "failures",
    "retriesByReason",
    "pagesProcessed",
    "lastSuccessAt",
    "finishedLastHour",
)


def _histogram(family: HistogramMetricFamily, labels: list[str], histogram: Histogram) -> None:
    family.add_metric(labels, buckets=histogram.cumulative(), sum_value=histogram.sum)


def aggregate_families(aggregates: Aggregates, index: JobIndex, now_s: float | None = None) -> Iterator[Metric]:
    now_s = time.time() if now_s is None else now_s
    yield from _durations(aggregates)
    yield from _queues(aggregates, index, now_s)
    for name, help_text, counts in (
        ("ocr_job_failures", "Jobs that ended ERROR, by stage and error.type (unknown: other).", aggregates.failures),
        ("ocr_stage_retries", "Stage attempts failed and retried, by stage and error.type.", aggregates.retries),
    ):
        family = CounterMetricFamily(name, help_text, labels=["stage", "reason"])
        for stage in sorted({*STAGES, *(s for s, _ in counts)}):
            for reason in REASONS:
                family.add_metric([stage, reason], counts.get((stage, reason), 0))
        yield family
    yield CounterMetricFamily("ocr_pages_processed", "Pages of DONE jobs.", value=aggregates.pages_total)
    if aggregates.last_success_s is not None:
        yield GaugeMetricFamily(
            "ocr_last_success_timestamp_seconds", "When the newest DONE job finished.", value=aggregates.last_success_s
        )


def _durations(aggregates: Aggregates) -> Iterator[Metric]:
    stages = HistogramMetricFamily(
        "ocr_stage_duration_seconds",
        "Duration of stage attempts, by stage and outcome (ok, retry: failed and retried, error: failed for good).",
        labels=["stage", "outcome"],
    )
    for (stage, outcome), histogram in sorted(aggregates.stage_durations.items()):
        _histogram(stages, [stage, outcome], histogram)
    yield stages
    end_to_end = HistogramMetricFamily("ocr_job_duration_seconds", "Intake to DONE, queueing included.")
    _histogram(end_to_end, [], aggregates.end_to_end)
    yield end_to_end
    confidence = HistogramMetricFamily("ocr_document_confidence_ratio", "Mean OCR confidence of DONE documents (0-1).")
    _histogram(confidence, [], aggregates.confidence)
    yield confidence


def _queues(aggregates: Aggregates, index: JobIndex, now_s: float) -> Iterator[Metric]:
    depth = GaugeMetricFamily("ocr_queue_depth", "QUEUED jobs per stage (retries waiting included).", labels=["stage"])
    age = GaugeMetricFamily(
        "ocr_queue_oldest_age_seconds",
        "How long the oldest QUEUED job of a stage has waited for its current attempt (0 when none).",
        labels=["stage"],
    )
    for stage in STAGES:
        depth.add_metric([stage], index.count("QUEUED", stage.upper()))
        age.add_metric([stage], round(aggregates.oldest_queued_age_s(stage, now_s), 3))
    yield depth
    yield age


def aggregates_json(aggregates: Aggregates, index: JobIndex, now_s: float | None = None) -> dict[str, Any]:
    now_s = time.time() if now_s is None else now_s
    stages: dict[str, Any] = {}
    for stage in STAGES:
        stages[stage] = {
            "queueDepth": index.count("QUEUED", stage.upper()),
            "oldestQueuedAgeS": round(aggregates.oldest_queued_age_s(stage, now_s), 3),
            "durationS": {o: aggregates.stage_durations[stage, o].to_json() for o in OUTCOMES},
        }
    return {
        "stages": stages,
        "endToEndS": aggregates.end_to_end.to_json(),
        "confidence": aggregates.confidence.to_json(),
        "failures": _nested(aggregates.failures),
        "retriesByReason": _nested(aggregates.retries),
        "pagesProcessed": aggregates.pages_total,
        "lastSuccessAt": from_epoch(aggregates.last_success_s) if aggregates.last_success_s is not None else None,
        "finishedLastHour": aggregates.finished_last_hour(now_s),
    }


def _nested(counts: dict[tuple[str, str], int]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for (stage, reason), n in sorted(counts.items()):
        if n:
            out.setdefault(stage, {})[reason] = n
    return out
