"""Logging for every service: one JSON object per line (`LOG_JSON=true`) or readable text, with the job context.

The job context (`jobKey`, `stage`, `attempt`) lives in a contextvar: bind it once with `bind_job()` and every
log line in that task, thread or request carries it. It crosses HTTP calls as `X-Job-*` headers (see
`services.common.web`).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import sys
import traceback
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from .env import env_bool, env_str

JobContext = dict[str, Any]
_job_context: contextvars.ContextVar[JobContext | None] = contextvars.ContextVar("job_context", default=None)

# Attributes every LogRecord has; anything else on a record came from `extra=` and is logged as a field.
_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}
_CONTEXT_FIELDS = ("jobKey", "stage", "attempt")
# Libraries whose INFO lines describe their own mechanics, not our work: WARNING and above only.
QUIET_LIBRARIES = ("watchfiles",)


@contextlib.contextmanager
def bind_job(job_key: str, stage: str | None = None, attempt: int | None = None) -> Iterator[JobContext]:
    """Attach a job to every log line written inside the block (this task/thread only)."""
    ctx: JobContext = {"jobKey": job_key}
    if stage is not None:
        ctx["stage"] = stage
    if attempt is not None:
        ctx["attempt"] = attempt
    token = _job_context.set(ctx)
    try:
        yield ctx
    finally:
        _job_context.reset(token)


def current_job() -> JobContext | None:
    return _job_context.get()


@contextlib.contextmanager
def bind_job_context(ctx: JobContext | None) -> Iterator[None]:
    """Re-bind a context taken with `current_job()` elsewhere (a pool worker's task); no-op for None."""
    if not ctx:
        yield
        return
    with bind_job(ctx["jobKey"], ctx.get("stage"), ctx.get("attempt")):
        yield


class JobContextFilter(logging.Filter):
    """Copies the bound job context onto each record (fields passed with `extra=` win)."""

    def filter(self, record: logging.LogRecord) -> bool:
        ctx = _job_context.get()
        if ctx:
            for name, value in ctx.items():
                if not hasattr(record, name):
                    setattr(record, name, value)
        return True


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _RECORD_ATTRS and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    """One JSON object per line; never raises (a field orjson cannot encode is written with `str()`)."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "timestamp": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "service": self.service,
            "message": _message(record),
        }
        doc.update(_extras(record))
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            doc["exception"] = {
                "type": type(exc).__name__,
                "message": str(exc),
                "stack": "".join(traceback.format_exception(exc)),
            }
        try:
            return orjson.dumps(doc, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
        except Exception:  # noqa: BLE001 - a log call must never raise
            return orjson.dumps({k: str(v) for k, v in doc.items()}).decode()


class TextFormatter(logging.Formatter):
    """`time LEVEL service logger [jobKey stage#attempt] message key=value ...` for people at a terminal."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        extras = _extras(record)
        ctx = " ".join(str(extras.pop(k)) for k in _CONTEXT_FIELDS if k in extras)
        fields = " ".join(f"{k}={v}" for k, v in extras.items())
        parts = [_timestamp(record), f"{record.levelname:<7}", self.service, record.name]
        if ctx:
            parts.append(f"[{ctx}]")
        parts.append(_message(record))
        if fields:
            parts.append(fields)
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def _message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:  # noqa: BLE001 - a bad format string must not lose the line
        return f"{record.msg!r} {record.args!r}"


class StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stdout` is at emit time (it may be replaced after logging is configured)."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def configure_logging(service: str, environ: Mapping[str, str] = os.environ) -> None:
    """Set up the root logger from `LOG_JSON` and `LOG_LEVEL`; the one place logging is configured."""
    json_mode = env_bool(environ, "LOG_JSON", False)
    level = env_str(environ, "LOG_LEVEL", "INFO").upper()
    handler = StdoutHandler()
    handler.setFormatter(JsonFormatter(service) if json_mode else TextFormatter(service))
    handler.addFilter(JobContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level if level in logging.getLevelNamesMapping() else "INFO")
    # aiohttp's own access log is replaced by ours (with latency and job context).
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # Third-party chatter: watchfiles says "1 change detected" at INFO on every batch (~17k lines a day idle).
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.raiseExceptions = False
