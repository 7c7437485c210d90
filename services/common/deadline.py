"""The fence on late answers: a stage call commits its outputs only while the orchestrator still waits for it.

The orchestrator sends how long it will wait (`X-Job-Timeout-S`, its PREP/OCR timeout). The service starts its own
clock when the request arrives, so no clock is compared across machines, and keeps a margin for the request's
transfer time. A call past that point has been given up on: the job failed, or another attempt runs. Its
deliverables (`pages/manifest.json`, `document.txt`, `document.pdf`) are then never committed, and the call ends
with `CallAbandoned`. Page-level files (`pages/page-*.png`, `ocr/page-*`) are a cache any attempt may reuse, not
deliverables: a late one is what the next attempt would have written itself.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Iterator

from .errors import CallAbandoned

HEADER_TIMEOUT = "X-Job-Timeout-S"
# The service's clock starts when the request has arrived, a little after the orchestrator's: stop that much sooner.
TRANSFER_MARGIN_S = 0.25
_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("stage_deadline", default=None)


def parse_timeout(raw: str | None) -> float | None:
    """The header's seconds, or None when absent or not a positive number (an old orchestrator: no fence)."""
    try:
        value = float(raw) if raw else None
    except ValueError:
        return None
    return value if value is not None and value > 0 else None


@contextlib.contextmanager
def bind_deadline(timeout_s: float | None) -> Iterator[None]:
    """Everything inside the block (tasks and threads started from it) answers to this call's deadline."""
    deadline = None if timeout_s is None else time.monotonic() + max(0.0, timeout_s - TRANSFER_MARGIN_S)
    token = _deadline.set(deadline)
    try:
        yield
    finally:
        _deadline.reset(token)


def ensure_in_time(what: str) -> None:
    """Call right before committing a deliverable; raises CallAbandoned once the caller has stopped waiting."""
    deadline = _deadline.get()
    if deadline is not None and time.monotonic() >= deadline:
        late_s = time.monotonic() - deadline
        raise CallAbandoned(f"not writing {what}: past the caller's timeout by {late_s:.1f}s, it has given up")
