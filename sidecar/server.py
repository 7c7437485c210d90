"""Serving: `main()` for `python -m sidecar`, with a cap on connections and timeouts against slow or idle clients."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

from aiohttp import web

from services.common.logs import configure_logging

from .access_log import BufferedAccessLogger
from .app import create_app
from .config import Config
from .keys import ACCESS_LOG

log = logging.getLogger(__name__)

# Long enough for any key up to the 10 kB a hostile client may send: it must get a 404, not a parser error.
MAX_REQUEST_LINE_BYTES = 32 * 1024
_REFUSAL_BODY = b'{"error":{"type":"TooManyConnections","message":"too many connections, try again"}}'
_REFUSAL = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\n"
    b"Cache-Control: no-store\r\nContent-Length: %d\r\n\r\n%s" % (len(_REFUSAL_BODY), _REFUSAL_BODY)
)


class _Refuse(asyncio.Protocol):
    """Answers 503 and hangs up: the connection over the limit costs nothing more."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(_REFUSAL)
        transport.close()


class LimitedTCPSite(web.TCPSite):
    """A TCP site that refuses connections beyond `max_connections` (aiohttp itself accepts any number)."""

    __slots__ = ("_max_connections",)

    def __init__(self, runner: web.AppRunner, host: str, port: int, max_connections: int) -> None:
        super().__init__(runner, host, port)
        self._max_connections = max_connections

    async def start(self) -> None:
        await web.BaseSite.start(self)
        server = self._runner.server
        assert server is not None

        def protocol() -> asyncio.BaseProtocol:
            return server() if len(server.connections) < self._max_connections else _Refuse()

        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(protocol, self._host, self._port, backlog=self._backlog)
        self._bound_port = self._server.sockets[0].getsockname()[1]


def make_runner(app: web.Application, config: Config) -> web.AppRunner:
    # keepalive_timeout also closes connections that never send a request (aiohttp arms it on connect).
    access = app.get(ACCESS_LOG)
    return web.AppRunner(
        app,
        access_log=access,  # an AccessLog (not a Logger): BufferedAccessLogger appends to it
        access_log_class=BufferedAccessLogger,
        keepalive_timeout=config.keepalive_timeout_s,
        max_line_size=MAX_REQUEST_LINE_BYTES,
        handle_signals=False,
    )


async def start_server(app: web.Application, config: Config) -> tuple[web.AppRunner, LimitedTCPSite]:
    """Start serving `app` (its cleanup context starts the watcher); `runner.cleanup()` stops both."""
    runner = make_runner(app, config)
    await runner.setup()
    site = LimitedTCPSite(runner, config.host, config.port, config.max_connections)
    await site.start()
    log.info("sidecar listening on %s:%d", config.host, site.port, extra={"port": site.port})
    return runner, site


async def serve(config: Config, stop: asyncio.Event) -> None:
    runner, _site = await start_server(create_app(config), config)
    try:
        await stop.wait()
    finally:
        log.info("sidecar stopping")
        await runner.cleanup()


async def _run(config: Config) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await serve(config, stop)


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop where it exists: many more requests per second than the default loop for small responses."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def main() -> None:
    configure_logging("sidecar")
    config = Config.from_env()
    log.info("sidecar config", extra={"config": config.to_log()})
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        runner.run(_run(config))
