"""Builds and runs the OCR service: the aiohttp app, its worker pool's lifetime, and the process entry point."""

from __future__ import annotations

from aiohttp import web

from services.common.web import create_stage_app, pool_context, serve_stage

from .config import Config
from .pool import OcrPool
from .routes import CONFIG_KEY, POOL_KEY, setup_routes


def create_app(config: Config) -> web.Application:
    app = create_stage_app()
    app[CONFIG_KEY] = config
    setup_routes(app)
    app.cleanup_ctx.append(pool_context("ocr", POOL_KEY, lambda: OcrPool(config)))
    return app


def main() -> None:
    serve_stage("ocr", Config.from_env, create_app)
