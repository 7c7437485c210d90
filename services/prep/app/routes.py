"""The HTTP surface: app keys and the one route, POST /v1/prep (thin: validation, then `stage.run_stage`)."""

from __future__ import annotations

from aiohttp import web

from services.common.errors import BadRequest
from services.common.paths import file_in_job, job_dir_for_request
from services.common.stage_api import PREP_PATH
from services.common.web import json_response, read_json_object

from .config import Config
from .pool import PrepPool
from .stage import run_stage

CONFIG_KEY = web.AppKey("config", Config)
POOL_KEY = web.AppKey("pool", PrepPool)


def _string_field(body: dict[str, object], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise BadRequest(f"field {name!r} must be a non-empty string")
    return value


async def prep(request: web.Request) -> web.Response:
    config = request.app[CONFIG_KEY]
    body = await read_json_object(request)
    job_dir = job_dir_for_request(config.paths.jobs_dir, _string_field(body, "jobKey"))
    source = file_in_job(job_dir, _string_field(body, "input"))
    if not source.is_file():
        raise BadRequest(f"input {body['input']!r} is not a file in the job folder")
    outcome = await run_stage(config, request.app[POOL_KEY], job_dir, source)
    return json_response(outcome.to_json())


def setup_routes(app: web.Application) -> None:
    app.router.add_post(PREP_PATH, prep)
