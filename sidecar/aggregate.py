"""Aggregate metrics kept current from the index's change hook, so a scrape never walks the jobs.

Each change costs a few additions (a heap push for a queued job): the old entry's facts and the new one's are
compared and only the difference is applied. Two kinds of values, documented in docs/api.md:

- counters and histograms (stage durations, end-to-end time, confidence, failures, retries, pages, last success)
  only ever grow while the sidecar runs: what a job adds is added once, and a job deleted from disk, or one that moved
  on (a retry replaces the failed attempt's record), keeps what it added. At start they are recomputed from the disk,
  the truth, which equals what they were unless jobs were deleted meanwhile (then Prometheus sees one counter reset).
- gauges (queue depth and oldest queued age, throughput over the last hour) are live: a deleted job leaves them at once.
"""

from __future__ import annotations

import bisect
import heapq
import time
from collections import Counter
from collections.abc import Sequence
from typing import TypeVar

from .facts import NO_FACTS, OUTCOMES, STAGES, JobFacts, stage_label
from .state_file import Entry

# 0.1 s to 30 min: a one-page PNG takes a second, a 500-page PDF half an hour.
STAGE_BUCKETS_S = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0)
# Intake to DONE adds the time spent queued, which can be hours in a backlog.
END_TO_END_BUCKETS_S = (*STAGE_BUCKETS_S, 3600.0, 7200.0, 21600.0)
# Mean confidence as a ratio (Prometheus' convention for percentages); below 0.5 a page is mostly unreadable.
CONFIDENCE_BUCKETS = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 1.0)
THROUGHPUT_WINDOW_S = 3600
_MINUTE_S = 60
# The lazy heap of queued jobs is rebuilt when stale items outnumber live ones this much.
HEAP_SLACK = 2

T = TypeVar("T")


class Histogram:
    """Counts per bucket (not cumulative: one increment per observation), their sum and count."""

    __slots__ = ("bounds", "counts", "sum", "count")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)  # the last one is +Inf
        self.sum, self.count = 0.0, 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value
        self.count += 1

    def cumulative(self) -> list[tuple[str, int]]:
        """(le, count) pairs as Prometheus wants them, +Inf last."""
        total, out = 0, []
        for bound, n in zip((*(_le(b) for b in self.bounds), "+Inf"), self.counts, strict=True):
            total += n
            out.append((bound, total))
        return out

    def to_json(self) -> dict[str, object]:
        return {"buckets": dict(self.cumulative()), "sum": round(self.sum, 3), "count": self.count}


def _le(bound: float) -> str:
    return repr(float(bound))


def _added(old: tuple[T, ...], new: tuple[T, ...]) -> list[T]:
    """What `new` holds beyond `old`, as multisets (these tuples have a handful of items)."""
    if not old:
        return list(new)
    remaining, out = list(old), []
    for item in new:
        if item in remaining:
            remaining.remove(item)
        else:
            out.append(item)
    return out


class QueueAges:
    """The queued jobs of one stage by when they were queued: the oldest in O(1) amortised (a lazy heap)."""

    def __init__(self) -> None:
        self._since: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []

    def set(self, key: str, since_s: float) -> None:
        self._since[key] = since_s
        heapq.heappush(self._heap, (since_s, key))
        if len(self._heap) > HEAP_SLACK * len(self._since) + 64:
            self._heap = [(s, k) for k, s in self._since.items()]
            heapq.heapify(self._heap)

    def discard(self, key: str) -> None:
        self._since.pop(key, None)

    def oldest_s(self) -> float | None:
        heap = self._heap
        while heap and self._since.get(heap[0][1]) != heap[0][0]:
            heapq.heappop(heap)
        return heap[0][0] if heap else None


class Aggregates:
    def __init__(self) -> None:
        self.stage_durations = {(s, o): Histogram(STAGE_BUCKETS_S) for s in STAGES for o in OUTCOMES}
        self.end_to_end = Histogram(END_TO_END_BUCKETS_S)
        self.confidence = Histogram(CONFIDENCE_BUCKETS)
        self.failures: Counter[tuple[str, str]] = Counter()
        self.retries: Counter[tuple[str, str]] = Counter()
        self.pages_total = 0
        self.last_success_s: float | None = None
        self.queues = {stage: QueueAges() for stage in STAGES}
        self._finished: Counter[tuple[int, str]] = Counter()  # (minute, state) -> jobs, live
        self._failed_order: list[tuple[str, str]] = []  # (updatedAt, key) of ERROR jobs, ascending

    def apply(self, key: str, old: Entry | None, new: Entry | None) -> None:
        """The index's change listener."""
        old_facts = old.facts if old is not None else NO_FACTS
        new_facts = new.facts if new is not None else NO_FACTS
        if new_facts is not old_facts:
            self._grow(old_facts, new_facts)
        self._move_queue(key, old, new)
        self._move_finished(key, old, new)

    def _grow(self, old: JobFacts, new: JobFacts) -> None:
        for stage, outcome, seconds in _added(old.stage_durations, new.stage_durations):
            histogram = self.stage_durations.get((stage, outcome))
            if histogram is None:  # a stage outside the contract: one more bounded series (`other`)
                histogram = self.stage_durations[stage, outcome] = Histogram(STAGE_BUCKETS_S)
            histogram.observe(seconds)
        for retry in _added(old.retries, new.retries):
            self.retries[retry] += 1
        if new.failure is not None and new.failure != old.failure:
            self.failures[new.failure] += 1
        if new.done_at_s is not None and new.done_at_s != old.done_at_s:
            self._record_success(new)

    def _record_success(self, facts: JobFacts) -> None:
        self.pages_total += facts.pages
        if facts.confidence is not None:
            self.confidence.observe(facts.confidence / 100.0)
        if facts.end_to_end_s is not None:
            self.end_to_end.observe(facts.end_to_end_s)
        assert facts.done_at_s is not None
        self.last_success_s = max(self.last_success_s or 0.0, facts.done_at_s)

    def _move_queue(self, key: str, old: Entry | None, new: Entry | None) -> None:
        if old is not None and old.facts.queued_since_s is not None and stage_label(old.stage) in self.queues:
            self.queues[stage_label(old.stage)].discard(key)
        if new is not None and new.facts.queued_since_s is not None:
            queue = self.queues.get(stage_label(new.stage))
            if queue is not None:
                queue.set(key, new.facts.queued_since_s)

    def _move_finished(self, key: str, old: Entry | None, new: Entry | None) -> None:
        if old is not None and old.facts.finished_at_s is not None:
            slot = (_minute(old.facts.finished_at_s), old.state or "")
            self._finished[slot] -= 1
            if not self._finished[slot]:
                del self._finished[slot]
            if old.state == "ERROR":
                at = bisect.bisect_left(self._failed_order, (old.updated_at, key))
                if at < len(self._failed_order) and self._failed_order[at] == (old.updated_at, key):
                    del self._failed_order[at]
        if new is not None and new.facts.finished_at_s is not None:
            self._finished[_minute(new.facts.finished_at_s), new.state or ""] += 1
            if new.state == "ERROR":
                bisect.insort(self._failed_order, (new.updated_at, key))

    def oldest_queued_age_s(self, stage: str, now_s: float | None = None) -> float:
        """Seconds the oldest queued job of `stage` has waited; 0 when none waits."""
        oldest = self.queues[stage].oldest_s()
        return max(0.0, (now_s if now_s is not None else time.time()) - oldest) if oldest is not None else 0.0

    def finished_last_hour(self, now_s: float | None = None) -> dict[str, int]:
        """Jobs that reached DONE or ERROR in the last hour (by their updatedAt), from the jobs on disk."""
        now_minute = _minute(now_s if now_s is not None else time.time())
        counts = {"DONE": 0, "ERROR": 0}
        for minute in range(now_minute - THROUGHPUT_WINDOW_S // _MINUTE_S, now_minute + 1):
            for state in counts:
                counts[state] += self._finished.get((minute, state), 0)
        return counts

    def latest_failed_keys(self, limit: int) -> list[str]:
        return [key for _at, key in self._failed_order[-limit:][::-1]]


def _minute(epoch_s: float) -> int:
    return int(epoch_s // _MINUTE_S)
