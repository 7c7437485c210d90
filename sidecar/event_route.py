"""The `/events` handler: one client following the change stream, with heartbeats and a bound on slow readers."""

from __future__ import annotations

import asyncio
import logging

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

    loop = asyncio.get_running_loop()
    await send(opening())
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
        quiet_since = loop.time()
        while stream.last_seq == position and not stream.closing:
            if request.transport is None or request.transport.is_closing():
                return
            if loop.time() - quiet_since >= heartbeat_s:
                await send(HEARTBEAT)
                quiet_since = loop.time()
            await stream.wait(position, min(DISCONNECT_CHECK_S, heartbeat_s))
        if stream.last_seq != position:
            await asyncio.sleep(BATCH_S)
