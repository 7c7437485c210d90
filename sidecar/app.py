"""`create_app(config)`: the application, its middlewares and the watcher's lifetime; no I/O happens here."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp.typedefs import Middleware

from services.common.errors import PipelineError
from services.common.web import Handler, json_response

from .access_log import AccessLog, access_log_ctx
from .aggregate import Aggregates
from .config import Config
from .events import ChangeStream
from .index import JobIndex
from .keys import ACCESS_LOG, AGGREGATES, CONFIG, EVENTS, INDEX, PROGRESS, PROMETHEUS, STATUS, VIEWS
from .metrics import Views
from .metrics_file import MetricsFileReader
from .progress import ProgressReader
from .prom import PrometheusView
from .routes import error_body, setup_routes
from .status import SidecarStatus
from .watcher import Watcher

log = logging.getLogger(__name__)

READ_METHODS = frozenset({"GET", "HEAD"})
# Probes must work without the token: the kubelet or compose healthcheck does not carry it.
OPEN_PATHS = frozenset({"/healthz", "/readyz"})


@web.middleware
async def read_only_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The one place errors become JSON answers; every answer is marked `no-store`."""
    if request.method not in READ_METHODS:
        response: web.StreamResponse = _method_not_allowed(request.method)
    else:
        try:
            response = await handler(request)
        except web.HTTPException as e:
            response = json_response(error_body(type(e).__name__.removeprefix("HTTP"), e.reason), status=e.status)
            response.headers.extend(
                (k, v) for k, v in e.headers.items() if k.lower() not in {"content-type", "content-length"}
            )
        except PipelineError as e:
            response = json_response(error_body(type(e).__name__, str(e)), status=e.http_status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _method_not_allowed(method: str) -> web.Response:
    response = json_response(error_body("MethodNotAllowed", f"{method[:16]} is not allowed: read-only API"), status=405)
    response.headers["Allow"] = "GET, HEAD"
    return response


def token_middleware(token: str) -> Middleware:
    expected = f"Bearer {token}".encode()

    @web.middleware
    async def check_token(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in OPEN_PATHS:
            return await handler(request)
        given = request.headers.get("Authorization", "").encode()
        if hmac.compare_digest(given, expected):
            return await handler(request)
        response = json_response(error_body("Unauthorized", "a bearer token is required"), status=401)
        response.headers["WWW-Authenticate"] = 'Bearer realm="sidecar"'
        return response

    return check_token


async def watcher_ctx(app: web.Application) -> AsyncIterator[None]:
    views = app[VIEWS]
    watcher = Watcher(app[CONFIG], app[INDEX], views.metrics_file, app[STATUS])
    task = asyncio.create_task(watcher.run(), name="sidecar-watcher")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def create_app(config: Config) -> web.Application:
    middlewares: list[Middleware] = [read_only_middleware]
    if config.token:
        middlewares.append(token_middleware(config.token))
    app = web.Application(middlewares=middlewares)
    index, status, aggregates = JobIndex(), SidecarStatus(), Aggregates()
    changes = ChangeStream(config.events_window, lambda: status.scanned)
    index.add_listener(aggregates.apply)
    index.add_listener(changes.apply)
    views = Views(index, MetricsFileReader(config.paths.metrics_path), status, aggregates)
    app[CONFIG], app[INDEX], app[STATUS], app[VIEWS] = config, index, status, views
    app[AGGREGATES], app[EVENTS] = aggregates, changes
    app[PROGRESS] = ProgressReader(config.paths.jobs_dir)
    app[PROMETHEUS] = PrometheusView(views)
    setup_routes(app)
    if config.access_log:
        app[ACCESS_LOG] = AccessLog()  # the runner hands it to aiohttp's access-log hook (see server.make_runner)
        app.cleanup_ctx.append(access_log_ctx(app[ACCESS_LOG]))  # first in, last out: the last request's line
    app.cleanup_ctx.append(watcher_ctx)
    app.on_shutdown.append(_close_event_streams)
    return app


async def _close_event_streams(app: web.Application) -> None:
    """Streams never end on their own: end them first, or stopping would wait for its timeout."""
    app[EVENTS].close()
