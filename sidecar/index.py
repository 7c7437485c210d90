"""The jobs in memory: entries by key, kept in (updatedAt, jobKey) order, with counts by state and stage.

Only the event loop touches an index, and every update is one synchronous call, so a reader always sees a job
either before or after an update, never half of it. Full scans run on the loop too, in chunks (see `scan`).
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Protocol

from .state_file import Entry, Signature

SortKey = tuple[str, str]


class ChangeListener(Protocol):
    """Called after the index applied a change to one job: `old` and `new` are None when the job was absent."""

    def __call__(self, job_key: str, old: Entry | None, new: Entry | None, /) -> None: ...


class JobIndex:
    def __init__(self) -> None:
        self._entries: dict[str, Entry] = {}
        self._order: list[SortKey] = []  # ascending; listings walk it backwards (newest first)
        self._counts: Counter[tuple[str | None, str | None]] = Counter()
        self._skipped: dict[str, str] = {}
        self._unreadable = 0
        self._order_deferred = False
        self._listeners: list[ChangeListener] = []
        self.generation = 0
        """Bumped on every change: views cache on it."""

    def add_listener(self, listener: ChangeListener) -> None:
        """Call `listener` after every put, removal or skip that changed a job (on the event loop, synchronously:
        it must be quick and must not raise; a listener that needs to do I/O queues the change)."""
        self._listeners.append(listener)

    def _changed(self, key: str, old: Entry | None, new: Entry | None) -> None:
        for listener in self._listeners:
            listener(key, old, new)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> Entry | None:
        return self._entries.get(key)

    def signature(self, key: str) -> Signature | None:
        entry = self._entries.get(key)
        return entry.signature if entry is not None else None

    def keys(self) -> list[str]:
        return list(self._entries)

    def defer_order(self) -> None:
        """Stop keeping the listing order until the next listing: a bulk load then sorts once instead of
        inserting 100k times into a growing list (each insert moves half of it)."""
        self._order_deferred = True
        self._order = []

    def _ordered(self) -> list[SortKey]:
        if self._order_deferred:
            self._order = sorted((entry.updated_at, entry.key) for entry in self._entries.values())
            self._order_deferred = False
        return self._order

    def put(self, entry: Entry) -> None:
        old = self._entries.get(entry.key)
        if old is not None:
            self._unlink(old)
        self._entries[entry.key] = entry
        if not self._order_deferred:
            bisect.insort(self._order, (entry.updated_at, entry.key))
        self._counts[entry.state, entry.stage] += 1
        self._unreadable += entry.problem is not None
        self._skipped.pop(entry.key, None)
        self.generation += 1
        if self._listeners:
            self._changed(entry.key, old, entry)

    def remove(self, key: str) -> None:
        old = self._entries.pop(key, None)
        skipped = self._skipped.pop(key, None)
        if old is not None:
            self._unlink(old)
        if old is not None or skipped is not None:
            self.generation += 1
        if old is not None and self._listeners:
            self._changed(key, old, None)

    def skip(self, key: str, reason: str) -> None:
        """Forget the job and remember why its folder is not indexed (a symlink, not a regular file)."""
        self.remove(key)
        if self._skipped.get(key) != reason:
            self._skipped[key] = reason
            self.generation += 1

    def _unlink(self, old: Entry) -> None:
        if not self._order_deferred:
            del self._order[bisect.bisect_left(self._order, (old.updated_at, old.key))]
        self._counts[old.state, old.stage] -= 1
        self._unreadable -= old.problem is not None
        if not self._counts[old.state, old.stage]:
            del self._counts[old.state, old.stage]

    def counts_by_state(self) -> Counter[str]:
        """Readable jobs by state (a state outside the contract counts under its own name)."""
        counts: Counter[str] = Counter()
        for (state, _stage), n in self._counts.items():
            if state is not None:
                counts[state] += n
        return counts

    def count(self, state: str | None = None, stage: str | None = None) -> int:
        return sum(n for (s, g), n in self._counts.items() if state in (None, s) and stage in (None, g))

    def unreadable_count(self) -> int:
        return self._unreadable

    def skipped_by_reason(self) -> Mapping[str, int]:
        return Counter(self._skipped.values())

    def skipped_keys(self) -> Mapping[str, str]:
        return dict(self._skipped)

    def count_since(self, since: str) -> int:
        order = self._ordered()
        return len(order) - bisect.bisect_right(order, (since, "\uffff"))

    def newest_first(self, before: SortKey | None = None, since: str | None = None) -> Iterator[Entry]:
        """Entries from newest to oldest, starting strictly after `before`, stopping at `since` (exclusive)."""
        order, entries = self._ordered(), self._entries
        position = len(order) if before is None else bisect.bisect_left(order, before)
        floor = 0 if since is None else bisect.bisect_right(order, (since, "\uffff"))
        for i in range(position - 1, floor - 1, -1):
            yield entries[order[i][1]]
