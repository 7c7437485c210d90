"""The HTTP routes: thin handlers answering from the index and the cached views, never from a path."""

from __future__ import annotations

import functools
from importlib import resources

import orjson
from aiohttp import web

from services.common.errors import BadRequest
from services.common.web import json_response

from .event_route import events
from .keys import INDEX, PROGRESS, PROMETHEUS, STATUS, VIEWS
from .listing import list_jobs, parse_query
from .metrics import orchestrator_state
from .page import setup_page_routes

JSON = "application/json"
FORMATS = frozenset({"json", "prometheus", "openmetrics"})
# Shown in a 404: enough of a key to recognise it, never a 10 kB echo.
KEY_ECHO_CHARS = 80


def error_body(kind: str, message: str, **extra: object) -> dict[str, object]:
    return {"error": {"type": kind, "message": message, **extra}}


def wants_prometheus(request: web.Request) -> bool:
    """`?format=prometheus|openmetrics`, or an Accept header asking for a text exposition format (like Prometheus)."""
    wanted = request.query.get("format")
    if wanted is not None:
        # A misspelt format must not silently get JSON: the OpenAPI document promises this enum.
        if wanted not in FORMATS:
            raise BadRequest(f"format must be one of {', '.join(sorted(FORMATS))}")
        return wanted != "json"
    accept = request.headers.get("Accept", "")
    return "application/openmetrics-text" in accept or ("text/plain" in accept and JSON not in accept)


async def metrics(request: web.Request) -> web.Response:
    if not wants_prometheus(request):
        return web.Response(body=request.app[VIEWS].metrics_json(), content_type=JSON)
    accept = request.headers.get("Accept", "")
    if request.query.get("format") == "openmetrics":
        accept = "application/openmetrics-text; version=1.0.0"
    body, content_type = request.app[PROMETHEUS].render(accept)
    return web.Response(body=body, headers={"Content-Type": content_type})


async def jobs(request: web.Request) -> web.Response:
    views, name = request.app[VIEWS], "jobs?" + request.query_string
    body = views.cached(name)
    if body is None:
        body = views.store(name, orjson.dumps(list_jobs(request.app[INDEX], parse_query(request.query))))
    return web.Response(body=body, content_type=JSON)


async def job(request: web.Request) -> web.Response:
    key = request.match_info["jobKey"]
    entry = request.app[INDEX].get(key)
    if entry is None:
        return json_response(error_body("NotFound", f"no job {key[:KEY_ECHO_CHARS]!r}"), status=404)
    if entry.raw is None:
        body = error_body("UnreadableState", entry.problem or "state.json cannot be read", jobKey=key)
        return json_response(body, status=422)
    headers = {"ETag": entry.etag}
    if entry.state == "RUNNING" and (progress := request.app[PROGRESS].header(entry)) is not None:
        headers["Job-Progress"] = progress
    if request.headers.get("If-None-Match") == entry.etag:
        return web.Response(status=304, headers=headers)
    return web.Response(body=entry.raw, content_type=JSON, headers=headers)


async def job_progress(request: web.Request) -> web.Response:
    key = request.match_info["jobKey"]
    entry = request.app[INDEX].get(key)
    if entry is None:
        return json_response(error_body("NotFound", f"no job {key[:KEY_ECHO_CHARS]!r}"), status=404)
    return json_response(request.app[PROGRESS].answer(entry))


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    status = request.app[STATUS]
    body = {
        "status": "ready" if status.ready else "starting",
        "scanned": status.scanned,
        "watching": status.scanned,
        **status.watch_json(),
        "jobs": len(request.app[INDEX]),
        # The sidecar can serve while the orchestrator hangs; this says so without taking the sidecar out of service.
        "orchestrator": orchestrator_state(request.app[VIEWS].metrics_file.current),
    }
    return json_response(body, status=200 if status.ready else 503)


@functools.cache
def openapi_document() -> bytes:
    return resources.files(__package__).joinpath("openapi.json").read_bytes()


async def openapi(request: web.Request) -> web.Response:
    return web.Response(body=openapi_document(), content_type=JSON)


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/events", events)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/jobs", jobs)
    app.router.add_get("/jobs/{jobKey}", job)
    app.router.add_get("/jobs/{jobKey}/progress", job_progress)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/openapi.json", openapi)
    setup_page_routes(app)
