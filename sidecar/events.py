"""`GET /events`: each job change the index applies, as Server-Sent Events, with a bounded replay window.

The index's change hook appends one small tuple to a ring of the last `window` changes (nothing is encoded until a
client asks). Each client keeps a position in that ring: no per-client queue, so a client that reads slowly costs
nothing but its socket buffer. A client that falls out of the window, or whose socket accepts nothing for
`write_timeout_s`, is disconnected; reconnecting with `Last-Event-ID` then gets a `relist` event (list-then-watch:
fetch `/jobs` again, then keep following this stream).

Event ids are `<stream>-<sequence>`: the stream number changes with every sidecar start, so an id from another
process (or another replica) is recognised as such and answered with `relist`, never with a wrong replay.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections import deque
from collections.abc import Callable

import orjson

from .state_file import Entry

# A Last-Event-ID longer than this is not one of ours (the longest ours is two 20-digit numbers and a dash).
MAX_EVENT_ID_CHARS = 64
_EVENT_ID = re.compile(r"(\d{1,20})-(\d{1,20})")
# A catching-up client gets at most this many events per write, so one write stays small.
EVENTS_PER_WRITE = 256
# What EventSource waits before reconnecting (the `retry:` field), in ms.
RECONNECT_MS = 2000


class Change:
    """One change in the ring; encoded once, when the first client needs it, then shared by every client.

    A plain slotted class: one is made per change, 100k during an initial scan, where a dataclass costs 3x more.
    """

    __slots__ = ("seq", "key", "state", "stage", "attempt", "updated_at", "kind", "encoded")

    def __init__(
        self, seq: int, key: str, state: str | None, stage: str | None, attempt: int | None, at: str | None, kind: str
    ) -> None:
        self.seq, self.key, self.state, self.stage, self.attempt, self.updated_at = seq, key, state, stage, attempt, at
        self.kind = kind
        self.encoded: bytes | None = None


class ChangeStream:
    """The ring of recent changes and the wake-up of the clients following it."""

    def __init__(self, window: int, is_ready: Callable[[], bool] = lambda: True) -> None:
        self.stream_id = time.time_ns() // 1_000_000
        self.is_ready = is_ready
        """Changes applied before the sidecar is ready (its initial scan) are not streamed: every client relists once
        it is, so recording 100k scan changes would only cost the scan time."""
        self._ring: deque[Change] = deque(maxlen=window)
        self._seq = itertools.count(1)
        self.last_seq = 0
        self._wakeup = asyncio.Event()
        self._notify_scheduled = False
        self.clients = 0
        self.closing = False

    def apply(self, key: str, old: Entry | None, new: Entry | None) -> None:
        """The index's change listener: O(1), and one wake-up per loop iteration however many changes arrive."""
        if not self.is_ready():
            return
        self.last_seq = next(self._seq)
        if new is None:
            change = Change(self.last_seq, key, None, None, None, None, "deleted")
        else:
            kind = "added" if old is None else "modified"
            change = Change(self.last_seq, key, new.state, new.stage, new.attempt, new.updated_at, kind)
        self._ring.append(change)
        if not self._notify_scheduled:
            self._notify_scheduled = True
            try:
                asyncio.get_running_loop().call_soon(self._notify)
            except RuntimeError:  # no loop (a unit test driving the index directly): wake nobody
                self._notify_scheduled = False

    def _notify(self) -> None:
        self._notify_scheduled = False
        wakeup, self._wakeup = self._wakeup, asyncio.Event()
        wakeup.set()

    async def wait(self, after_seq: int, timeout_s: float) -> None:
        """Return once there are changes after `after_seq`, the stream closes, or `timeout_s` passed."""
        if self.last_seq > after_seq or self.closing:
            return
        wakeup = self._wakeup
        try:
            await asyncio.wait_for(wakeup.wait(), timeout_s)
        except TimeoutError:
            return

    def close(self) -> None:
        self.closing = True
        self._notify()

    def event_id(self, seq: int) -> str:
        return f"{self.stream_id}-{seq}"

    def oldest_seq(self) -> int:
        return self._ring[0].seq if self._ring else self.last_seq + 1

    def resume_point(self, last_event_id: str | None) -> int | None:
        """The sequence to replay after, or None when the client must relist (unknown, foreign or too old an id)."""
        if not last_event_id or len(last_event_id) > MAX_EVENT_ID_CHARS:
            return None
        match = _EVENT_ID.fullmatch(last_event_id)
        if match is None or int(match[1]) != self.stream_id:
            return None
        seq = int(match[2])
        if seq > self.last_seq or seq < self.oldest_seq() - 1:
            return None
        return seq

    def since(self, after_seq: int, limit: int = EVENTS_PER_WRITE) -> list[Change] | None:
        """Up to `limit` changes after `after_seq`; None when some of them already left the window."""
        if after_seq >= self.last_seq:
            return []
        if after_seq < self.oldest_seq() - 1:
            return None
        # From the right end: a client that keeps up needs the last few, and a deque's islice from the left would
        # walk the whole window for them.
        behind = self.last_seq - after_seq
        newest_first = list(itertools.islice(reversed(self._ring), behind))
        return newest_first[: behind - limit - 1 if behind > limit else None : -1]


def encode_changes(stream: ChangeStream, changes: list[Change]) -> bytes:
    return b"".join(change.encoded or _encode(stream, change) for change in changes)


def _encode(stream: ChangeStream, change: Change) -> bytes:
    data = {
        "jobKey": change.key,
        "change": change.kind,
        "state": change.state,
        "stage": change.stage,
        "attempt": change.attempt,
        "updatedAt": change.updated_at,
    }
    change.encoded = b"id: %s\nevent: job\ndata: %s\n\n" % (stream.event_id(change.seq).encode(), orjson.dumps(data))
    return change.encoded


def relist_event(stream: ChangeStream, reason: str) -> bytes:
    """Tells the client to list again; its id is the stream's head, so a reconnection resumes from here."""
    data = orjson.dumps({"reason": reason, "list": "/jobs"})
    return b"id: %s\nevent: relist\ndata: %s\n\n" % (stream.event_id(stream.last_seq).encode(), data)


def opening() -> bytes:
    return b"retry: %d\n\n" % RECONNECT_MS


HEARTBEAT = b": heartbeat\n\n"
