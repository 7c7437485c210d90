"""aiohttp glue shared by the stage services: job-context headers, error mapping, access log, `/healthz`."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol, TypeVar

import orjson
from aiohttp import web

from .atomic import is_disk_error
from .deadline import HEADER_TIMEOUT, bind_deadline, parse_timeout
from .errors import BadDocument, BadRequest, DiskError, PipelineError
from .logs import bind_job, configure_logging

log = logging.getLogger(__name__)
access_log = logging.getLogger("access")

# The job context crosses the HTTP hop in these headers, so the services' log lines carry it too.
HEADER_JOB_KEY = "X-Job-Key"
HEADER_STAGE = "X-Job-Stage"
HEADER_ATTEMPT = "X-Job-Attempt"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def job_headers(job_key: str, stage: str, attempt: int, timeout_s: float | None = None) -> dict[str, str]:
    """The job context of a stage call, and how long the caller waits for it (the fence: `deadline`)."""
    headers = {HEADER_JOB_KEY: job_key, HEADER_STAGE: stage, HEADER_ATTEMPT: str(attempt)}
    if timeout_s is not None:
        headers[HEADER_TIMEOUT] = f"{timeout_s:g}"
    return headers


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def _attempt_from(raw: str | None) -> int | None:
    return int(raw) if raw and raw.isdigit() else None


@web.middleware
async def job_context_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    job_key = request.headers.get(HEADER_JOB_KEY)
    if not job_key:
        return await handler(request)
    stage = request.headers.get(HEADER_STAGE)
    timeout_s = parse_timeout(request.headers.get(HEADER_TIMEOUT))
    with bind_job(job_key, stage, _attempt_from(request.headers.get(HEADER_ATTEMPT))), bind_deadline(timeout_s):
        return await handler(request)


def _level_of(error: PipelineError) -> int:
    """A bad document is an expected answer (the orchestrator logs the job's failure); a retryable one is ours."""
    if isinstance(error, BadDocument):
        return logging.INFO
    return logging.ERROR if error.retryable else logging.WARNING


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The one place a stage service maps exceptions to HTTP answers."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except OSError as e:
        if not is_disk_error(e):
            raise
        # The volume is full or failing, not the document: the orchestrator waits without using an attempt.
        error = DiskError(f"disk error on {getattr(e, 'filename', None) or 'the jobs volume'}: {e.strerror or e}")
        log.error("%s", error, extra={"errno": e.errno})
        return json_response({"error": error.to_json()}, status=error.http_status)
    except PipelineError as e:
        log.log(_level_of(e), "request failed: %s", e, extra={"errorType": type(e).__name__})
        return json_response({"error": e.to_json()}, status=e.http_status)
    except Exception as e:
        log.exception("unexpected error in %s %s", request.method, request.path)
        body = {"error": {"type": type(e).__name__, "message": str(e) or type(e).__name__, "retryable": True}}
        return json_response(body, status=500)


@web.middleware
async def access_log_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as e:
        status = e.status
        raise
    finally:
        access_log.info(
            "%s %s %s",
            request.method,
            request.path,
            status,
            extra={
                "method": request.method,
                "path": request.path,
                "status": status,
                "latencyMs": round((time.perf_counter() - started) * 1000, 2),
                "remote": request.remote,
            },
        )


async def read_json_object(request: web.Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError as e:
        raise BadRequest(f"request body is not JSON: {e}") from e
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    return body


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


def create_stage_app() -> web.Application:
    """An application with the stage services' middlewares and `/healthz`; callers add their routes."""
    # The job context is bound outermost, so the access line of a stage call carries its jobKey too.
    app = web.Application(middlewares=[job_context_middleware, access_log_middleware, error_middleware])
    app.router.add_get("/healthz", healthz)
    return app


class StagePool(Protocol):
    """What a stage service's process pool offers its app: start and warm the workers, stop them."""

    async def start(self) -> list[int]: ...

    async def close(self) -> None: ...


class StageConfig(Protocol):
    @property
    def host(self) -> str: ...

    @property
    def port(self) -> int: ...

    def to_log(self) -> dict[str, Any]: ...


PoolT = TypeVar("PoolT", bound=StagePool)
ConfigT = TypeVar("ConfigT", bound=StageConfig)


def pool_context(
    service: str, key: web.AppKey[PoolT], make_pool: Callable[[], PoolT]
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context: the pool starts (warmed) before the first request and stops after the last."""

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        pool = make_pool()
        pids = await pool.start()
        app[key] = pool
        log.info("%s worker pool ready: %d workers", service, len(pids), extra={"pids": pids})
        try:
            yield
        finally:
            await pool.close()
            log.info("%s worker pool stopped", service)

    return lifetime


def serve_stage(
    service: str, load_config: Callable[[], ConfigT], create_app: Callable[[ConfigT], web.Application]
) -> None:
    """The entry point of a stage service: logging, config (logged once), then serve until SIGINT/SIGTERM.

    run_app lets requests in flight finish, then runs the cleanup contexts (the pool stops there).
    """
    configure_logging(service)
    config = load_config()
    log.info("starting %s service", service, extra={"config": config.to_log()})
    web.run_app(create_app(config), host=config.host, port=config.port, print=None, access_log=None)
