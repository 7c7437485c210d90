"""The ops commands' view of the stack: the sidecar's HTTP API for every read, `$REQUESTS_DIR` for retries."""

from __future__ import annotations

import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from services.common.env import env_str
from services.common.paths import DataPaths

DEFAULT_SIDECAR_PORT = "8080"
REQUEST_TIMEOUT_S = 10.0
# /jobs pages walked at most by one command (100k jobs at the API's largest page).
MAX_PAGES = 100
PAGE_LIMIT = 1000


class CliError(Exception):
    """Something the user must fix or know; printed without a traceback, exit code 2."""


class NotFound(CliError):
    """The sidecar does not know this job."""


@dataclass(frozen=True, slots=True)
class CliConfig:
    paths: DataPaths
    sidecar_url: str = f"http://127.0.0.1:{DEFAULT_SIDECAR_PORT}"
    token: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> CliConfig:
        port = env_str(environ, "ORCHESTRATOR_PORT", DEFAULT_SIDECAR_PORT)
        return cls(
            paths=DataPaths.from_env(environ),
            sidecar_url=env_str(environ, "SIDECAR_URL", f"http://127.0.0.1:{port}").rstrip("/"),
            token=env_str(environ, "SIDECAR_TOKEN", "") or None,
        )


class SidecarClient:
    def __init__(self, config: CliConfig) -> None:
        self.config = config

    def get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """GET a JSON answer; CliError (NotFound for a 404) with the sidecar's own message otherwise."""
        url = self.config.sidecar_url + path + ("?" + urllib.parse.urlencode(params) if params else "")
        request = urllib.request.Request(url, headers={"Accept": "application/json"})
        if self.config.token:
            request.add_header("Authorization", f"Bearer {self.config.token}")
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:
                return orjson.loads(response.read())
        except urllib.error.HTTPError as e:
            body = _body_of(e)
            if path == "/readyz" and e.code == 503 and isinstance(body, dict):
                return body  # still starting: the body says how far it is
            message = _message_of(body, e)
            if e.code == 404:
                raise NotFound(message) from e
            raise CliError(f"the sidecar answered {e.code} for {path}: {message}") from e
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise CliError(
                f"cannot reach the sidecar at {self.config.sidecar_url} ({reason}); is the stack running? "
                "Set SIDECAR_URL (or ORCHESTRATOR_PORT) to where it listens."
            ) from e
        except orjson.JSONDecodeError as e:
            raise CliError(f"the sidecar's answer to {path} is not JSON: {e}") from e

    def job(self, key: str) -> dict[str, Any]:
        try:
            doc = self.get(f"/jobs/{urllib.parse.quote(key, safe='')}")
        except NotFound as e:
            raise NotFound(f"no job {key!r} (see `ocr-stack jobs`)") from e
        if not isinstance(doc, dict):
            raise CliError(f"the sidecar's answer for job {key!r} is not an object")
        return doc

    def jobs(self, filters: Mapping[str, str], limit: int | None) -> Iterator[dict[str, Any]]:
        """Job summaries matching `filters`, newest first, walking the pages (at most `limit`)."""
        cursor, yielded = None, 0
        for _ in range(MAX_PAGES):
            page_limit = PAGE_LIMIT if limit is None else min(PAGE_LIMIT, limit - yielded)
            params = {**filters, "limit": str(page_limit), **({"cursor": cursor} if cursor else {})}
            page = self.get("/jobs", params)
            for summary in page["jobs"]:
                yield summary
                yielded += 1
            cursor = page.get("nextCursor")
            if cursor is None or (limit is not None and yielded >= limit):
                return


def _body_of(e: urllib.error.HTTPError) -> Any:
    try:
        return orjson.loads(e.read())
    except (OSError, orjson.JSONDecodeError):
        return None


def _message_of(body: Any, e: urllib.error.HTTPError) -> str:
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])
    return e.reason if isinstance(e.reason, str) else f"HTTP {e.code}"
