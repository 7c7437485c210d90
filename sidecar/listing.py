"""`GET /jobs`: filters, the opaque cursor and one page of jobs, newest first.

The cursor is the (updatedAt, jobKey) of the last job of a page, so walking pages returns each job once even
while other jobs change; a job rewritten during the walk moves to the front and is not seen again.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from services.common.clock import format_time, parse_time
from services.common.errors import BadRequest
from services.common.job import JobState, Stage

from .index import JobIndex, SortKey
from .state_file import Entry

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
# Longer than any file name a filesystem allows (255 bytes), short enough to bound the work of one filter.
MAX_NAME_CHARS = 512
_STATES = frozenset(s.value for s in JobState)
_STAGES = frozenset(s.value for s in Stage)


@dataclass(frozen=True, slots=True)
class JobQuery:
    state: str | None = None
    stage: str | None = None
    since: str | None = None
    limit: int = DEFAULT_LIMIT
    cursor: SortKey | None = None
    name: str | None = None
    """Case-folded text that the input's file name must contain."""

    @property
    def filtered(self) -> bool:
        return self.state is not None or self.stage is not None or self.name is not None

    def matches(self, entry: Entry) -> bool:
        return (
            (self.state is None or entry.state == self.state)
            and (self.stage is None or entry.stage == self.stage)
            and (self.name is None or (entry.name is not None and self.name in entry.name.casefold()))
        )


def parse_query(params: Mapping[str, str]) -> JobQuery:
    """The query of a request; raises BadRequest with a message that says what to send instead."""
    state, stage = params.get("state"), params.get("stage")
    if state is not None and state not in _STATES:
        raise BadRequest(f"state must be one of {', '.join(sorted(_STATES))}")
    if stage is not None and stage not in _STAGES:
        raise BadRequest(f"stage must be one of {', '.join(sorted(_STAGES))}")
    cursor = params.get("cursor")
    return JobQuery(
        state,
        stage,
        _since(params.get("since")),
        _limit(params.get("limit")),
        decode_cursor(cursor),
        _name(params.get("name")),
    )


def _name(raw: str | None) -> str | None:
    if raw is None:
        return None
    if not 1 <= len(raw) <= MAX_NAME_CHARS:
        raise BadRequest(f"name must be 1 to {MAX_NAME_CHARS} characters of the input file name")
    return raw.casefold()


def _since(raw: str | None) -> str | None:
    if raw is None:
        return None
    try:
        moment = parse_time(raw)
    except ValueError as e:
        raise BadRequest("since must be an RFC 3339 time, e.g. 2026-11-29T07:40:12.123Z") from e
    if moment.tzinfo is None:
        raise BadRequest("since must carry a time zone (Z or +hh:mm)")
    return format_time(moment)


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise BadRequest(f"limit must be an integer from 1 to {MAX_LIMIT}")
    return int(raw)


def encode_cursor(key: SortKey) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(key)).rstrip(b"=").decode()


def decode_cursor(raw: str | None) -> SortKey | None:
    if not raw:
        return None
    try:
        value = orjson.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (binascii.Error, ValueError) as e:
        raise BadRequest("cursor is not one this server gave out") from e
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)):
        raise BadRequest("cursor is not one this server gave out")
    return value[0], value[1]


def list_jobs(index: JobIndex, query: JobQuery) -> dict[str, Any]:
    jobs: list[dict[str, object]] = []
    next_cursor = None
    last: Entry | None = None
    for entry in index.newest_first(before=query.cursor, since=query.since):
        if not query.matches(entry):
            continue
        if len(jobs) == query.limit:
            assert last is not None
            next_cursor = encode_cursor((last.updated_at, last.key))
            break
        jobs.append(entry.summary())
        last = entry
    return {
        "total": _total(index, query),
        "count": len(jobs),
        "limit": query.limit,
        "nextCursor": next_cursor,
        "jobs": jobs,
    }


def _total(index: JobIndex, query: JobQuery) -> int:
    """How many jobs match the filters, on all pages; O(1) except with `name`, or `since` with state/stage."""
    if query.name is not None:
        return sum(1 for entry in index.newest_first(since=query.since) if query.matches(entry))
    if query.since is None:
        return index.count(query.state, query.stage) if query.filtered else len(index)
    if not query.filtered:
        return index.count_since(query.since)
    return sum(1 for entry in index.newest_first(since=query.since) if query.matches(entry))
