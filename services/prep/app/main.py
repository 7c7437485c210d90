"""Builds and runs the PREP service: the aiohttp app, its process pool's lifetime, and the process entry point."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from services.common.logs import configure_logging
from services.common.web import create_stage_app

from .config import Config
from .pool import PrepPool
from .routes import CONFIG_KEY, POOL_KEY, setup_routes

log = logging.getLogger(__name__)


async def pool_ctx(app: web.Application) -> AsyncIterator[None]:
    """Start and warm the workers before the first request; stop them after the last."""
    pool = PrepPool(app[CONFIG_KEY])
    pids = await pool.start()
    app[POOL_KEY] = pool
    log.info("prep worker pool ready: %d workers", len(pids), extra={"pids": pids})
    try:
        yield
    finally:
        await pool.close()
        log.info("prep worker pool stopped")


def create_app(config: Config) -> web.Application:
    app = create_stage_app()
    app[CONFIG_KEY] = config
    setup_routes(app)
    app.cleanup_ctx.append(pool_ctx)
    return app


def main() -> None:
    configure_logging("prep")
    config = Config.from_env()
    log.info("starting prep service", extra={"config": config.to_log()})
    # run_app stops on SIGINT and SIGTERM, lets requests in flight finish, then runs the cleanup contexts.
    web.run_app(create_app(config), host=config.host, port=config.port, print=None, access_log=None)
