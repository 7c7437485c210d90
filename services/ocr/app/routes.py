"""The HTTP surface of the OCR service: POST /v1/ocr (and /healthz from services.common.web)."""

from __future__ import annotations

import asyncio
import weakref

from aiohttp import web

from services.common.errors import BadRequest
from services.common.paths import job_dir_for_request
from services.common.stage_api import OCR_PATH
from services.common.web import json_response, read_json_object

from .config import Config
from .pool import OcrPool
from .stage import run_stage

CONFIG_KEY = web.AppKey("config", Config)
POOL_KEY = web.AppKey("pool", OcrPool)
# One lock per job key while requests for it are in flight: a repeated call (the orchestrator retrying after its
# own timeout) waits for the first one and then finds every page done, instead of recognising them all twice.
JOB_LOCKS_KEY = web.AppKey("job_locks", weakref.WeakValueDictionary[str, asyncio.Lock])


async def ocr(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    job_key = body.get("jobKey")
    if not isinstance(job_key, str):
        raise BadRequest("jobKey must be a string")
    config = request.app[CONFIG_KEY]
    job_dir = job_dir_for_request(config.paths.jobs_dir, job_key)
    locks = request.app[JOB_LOCKS_KEY]
    lock = locks.get(job_key)
    if lock is None:
        lock = locks[job_key] = asyncio.Lock()
    async with lock:
        outcome = await run_stage(config, request.app[POOL_KEY], job_dir)
    return json_response(outcome.to_json())


def setup_routes(app: web.Application) -> None:
    app[JOB_LOCKS_KEY] = weakref.WeakValueDictionary()
    app.router.add_post(OCR_PATH, ocr)
