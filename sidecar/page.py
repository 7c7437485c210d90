"""The status page (`GET /`, its script and style) and the one JSON document it reads (`GET /overview`).

The three files ship inside the package (`sidecar/static/`): no CDN, no external font or script, nothing fetched
beyond this server. A strict Content-Security-Policy forbids inline script and any other origin, so even a message
that got past the page's text-only rendering could not run.
"""

from __future__ import annotations

import functools
from importlib import resources

import orjson
from aiohttp import web

from .keys import AGGREGATES, INDEX, STATUS, VIEWS
from .overview import build_overview

ASSETS = {
    "/": ("index.html", "text/html"),
    "/status.js": ("status.js", "text/javascript"),
    "/status.css": ("status.css", "text/css"),
}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


@functools.cache
def asset(name: str) -> bytes:
    return resources.files(__package__).joinpath("static", name).read_bytes()


async def static_file(request: web.Request) -> web.Response:
    name, content_type = ASSETS[request.path]
    headers = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
    return web.Response(body=asset(name), content_type=content_type, charset="utf-8", headers=headers)


async def overview(request: web.Request) -> web.Response:
    views = request.app[VIEWS]
    body = views.cached("overview")
    if body is None:
        doc = build_overview(request.app[INDEX], request.app[AGGREGATES], request.app[STATUS])
        body = views.store("overview", orjson.dumps(doc))
    return web.Response(body=body, content_type="application/json")


def setup_page_routes(app: web.Application) -> None:
    for path in ASSETS:
        app.router.add_get(path, static_file)
    app.router.add_get("/overview", overview)
