"""The `/events` handler: one client following the change stream, with heartbeats and a bound on slow readers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from services.common.web import json_response

from .events import HEARTBEAT, ChangeStream, encode_changes, opening, relist_event
from .keys import CONFIG, EVENTS

log = logging.getLogger(__name__)

# aiohttp does not tell a handler that its client went away (until a write fails): look this often, so a closed
# stream frees its slot within a second rather than at the next heartbeat.
DISCONNECT_CHECK_S = 1.0
# After a wake-up, a stream waits this long before sending, so a burst of changes becomes one write per client
# instead of one per change: 100 clients at 1,000 changes/s would otherwise cost the loop 100,000 writes/s.
BATCH_S = 0.05


class SlowClient(Exception):
    """The client fell out of the replay window, or its socket took nothing for the write timeout."""


async def events(request: web.Request) -> web.StreamResponse:
    stream, config = request.app[EVENTS], request.app[CONFIG]
    if stream.clients >= config.max_event_streams:
        body = {"error": {"type": "TooManyStreams", "message": f"{config.max_event_streams} event streams are open"}}
        refusal = json_response(body, status=503)
        refusal.headers["Retry-After"] = "5"
        return refusal
    resume = stream.resume_point(request.headers.get("Last-Event-ID"))
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )
    stream.clients += 1
    try:
        await response.prepare(request)
        await _follow(stream, request, response, resume, config.events_heartbeat_s, config.events_write_timeout_s)
    except SlowClient as e:
        log.warning("event stream client disconnected: %s", e, extra={"remote": request.remote})
    except ConnectionError:
        pass  # the client went away
    finally:
        stream.clients -= 1
    return response


Send = Callable[[bytes], Awaitable[None]]


async def _follow(
    stream: ChangeStream,
    request: web.Request,
    response: web.StreamResponse,
    resume: int | None,
    heartbeat_s: float,
    timeout_s: float,
) -> None:
    async def send(data: bytes) -> None:
        try:
            await asyncio.wait_for(response.write(data), timeout_s)
        except TimeoutError as e:
            raise SlowClient(f"nothing read for {timeout_s:g} s") from e

    await send(opening())
    if not stream.is_ready():  # the initial scan: /jobs is not complete yet, nor is the stream recording
        if not await _until_ready(stream, request, send):
            return
        resume = None
    if resume is None:
        await send(relist_event(stream, "no Last-Event-ID, or one outside the replay window: list /jobs again"))
        position = stream.last_seq
    else:
        position = resume
    while not stream.closing:
        changes = stream.since(position)
        if changes is None:
            raise SlowClient("fell out of the replay window")
        if changes:
            position = changes[-1].seq
            await send(encode_changes(stream, changes))
            continue
        if not await _quiet(stream, request, send, position, heartbeat_s):
            return
        await asyncio.sleep(BATCH_S)


def _gone(request: web.Request) -> bool:
    return request.transport is None or request.transport.is_closing()


async def _until_ready(stream: ChangeStream, request: web.Request, send: Send) -> bool:
    """Heartbeats until the sidecar is ready; False when the client left (or the server stops) meanwhile."""
    while not stream.is_ready():
        if _gone(request) or stream.closing:
            return False
        await send(HEARTBEAT)
        await asyncio.sleep(DISCONNECT_CHECK_S)
    return True


async def _quiet(stream: ChangeStream, request: web.Request, send: Send, position: int, heartbeat_s: float) -> bool:
    """Wait for a change after `position`, with heartbeats; False when the client left or the stream closes."""
    loop = asyncio.get_running_loop()
    quiet_since = loop.time()
    while stream.last_seq == position:
        if _gone(request) or stream.closing:
            return False
        if loop.time() - quiet_since >= heartbeat_s:
            await send(HEARTBEAT)
            quiet_since = loop.time()
        await stream.wait(position, min(DISCONNECT_CHECK_S, heartbeat_s))
    return True
