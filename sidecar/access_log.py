"""The sidecar's access log, written off the request path: one JSON line per request, in batches.

Logging a line per request through `logging` (a record, filters, a formatter walking the record's attributes, and a
write plus flush per line) cost the sidecar two thirds of its throughput. Here aiohttp's own access-log hook (called
once a response is sent, see `BufferedAccessLogger`) appends a tuple to a list;
a flusher formats the batch and writes it with one call at least every `FLUSH_INTERVAL_S`, sooner when
`FLUSH_LINES` are waiting, and at shutdown (the app's cleanup, which SIGTERM reaches). Lines are the ones
`services.common.logs.JsonFormatter` writes for the `access` logger, field for field; with text logs (or any other
handler set up, as under pytest) the batch goes through `logging` instead, with each request's own time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import orjson
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from services.common.logs import JsonFormatter, StdoutHandler
from services.common.web import access_log

# At least this often, as the issue asks; a SIGKILL loses at most this much.
FLUSH_INTERVAL_S = 1.0
# A batch this long is written at once: formatting it holds the event loop about a millisecond.
FLUSH_LINES = 512
SERVICE = "sidecar"
# Clients' addresses kept encoded (a handful in practice; a scan from many addresses just starts over).
MAX_REMOTES_CACHED = 1024
# JsonFormatter's fields, in its order, for the `access` logger (tests/sidecar/test_logs.py compares the two).
_LINE = (
    b'{"timestamp":"%s.%03dZ","level":"INFO","logger":"access","service":"' + SERVICE.encode() + b'",'
    b'"message":"%s %s %d","method":"%s","path":%s,"status":%d,"latencyMs":%s,"remote":%s}\n'
)

Line = tuple[float, str, str, int, float, str | None]


class BufferedAccessLogger(AbstractAccessLogger):
    """What aiohttp calls after each response is sent (`access_log_class`): no middleware layer on the request path.

    aiohttp hands its constructor the `access_log` given to the runner: here an `AccessLog`, not a logging.Logger.
    """

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        buffer: AccessLog = self.logger  # type: ignore[assignment]
        buffer.append(request.method, request.path, response.status, time, request.remote)


class AccessLog:
    def __init__(self) -> None:
        self._lines: list[Line] = []
        self._wake = asyncio.Event()
        self._second = -1
        self._second_text = b""
        self._remotes: dict[str | None, bytes] = {}

    def append(self, method: str, path: str, status: int, latency_s: float, remote: str | None) -> None:
        self._lines.append((time.time(), method, path, status, latency_s, remote))
        if len(self._lines) >= FLUSH_LINES:
            self._wake.set()

    def flush(self) -> None:
        """Write every waiting line now."""
        if not self._lines:
            return
        batch = self._lines[:]
        self._lines.clear()
        if _fast_path():
            _write_stdout(b"".join([self._json_line(line) for line in batch]))
        else:
            for line in batch:
                _through_logging(line)

    def _json_line(self, line: Line) -> bytes:
        """The line JsonFormatter would write, from a template: a dict through orjson per line cost 2-3x more.

        Only the path and the remote address can need escaping; the method is an HTTP token (no quote, no
        backslash, no control character: aiohttp refuses anything else), so the message is the escaped path
        between safe parts.
        """
        at, method, path, status, latency_s, remote = line
        second = int(at)
        if second != self._second:  # formatting a datetime costs more than the rest of the line
            self._second = second
            self._second_text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S").encode()
        quoted_path = orjson.dumps(path)
        encoded_remote = self._remotes.get(remote)
        if encoded_remote is None:
            if len(self._remotes) >= MAX_REMOTES_CACHED:
                self._remotes.clear()
            encoded_remote = self._remotes[remote] = orjson.dumps(remote)
        encoded_method = method.encode()
        return _LINE % (
            self._second_text,
            int((at - second) * 1000),
            encoded_method,
            quoted_path[1:-1],
            status,
            encoded_method,
            quoted_path,
            status,
            orjson.dumps(round(latency_s * 1000, 2)),
            encoded_remote,
        )

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), FLUSH_INTERVAL_S)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - the log must never take the server down
                logging.getLogger(__name__).exception("writing the access log failed")


def _fast_path() -> bool:
    """Only when the one handler is ours writing JSON to stdout, so the batch is exactly what it would write."""
    handlers = logging.getLogger().handlers
    return (
        len(handlers) == 1
        and isinstance(handlers[0], StdoutHandler)
        and isinstance(handlers[0].formatter, JsonFormatter)
        and access_log.isEnabledFor(logging.INFO)
    )


def _write_stdout(data: bytes) -> None:
    """Bytes straight to stdout's buffer (no decode and encode again), after whatever text it holds."""
    stream = sys.stdout
    stream.flush()
    buffer = getattr(stream, "buffer", None)
    if buffer is None:  # a text-only stream put in its place
        stream.write(data.decode())
        stream.flush()
    else:
        buffer.write(data)
        buffer.flush()


def _through_logging(line: Line) -> None:
    if not access_log.isEnabledFor(logging.INFO):
        return
    at, method, path, status, latency_s, remote = line
    latency_ms = round(latency_s * 1000, 2)
    extra = {"method": method, "path": path, "status": status, "latencyMs": latency_ms, "remote": remote}
    record = access_log.makeRecord(
        access_log.name, logging.INFO, __file__, 0, "%s %s %s", (method, path, status), None, extra=extra
    )
    record.created, record.msecs = at, (at - int(at)) * 1000
    access_log.handle(record)


def access_log_ctx(access: AccessLog) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context: the flusher runs while the app does; the last lines are written after the last request."""

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(access.run(), name="sidecar-access-log")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            access.flush()

    return lifetime
