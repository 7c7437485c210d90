"""`metrics.json`: written by the orchestrator alone, read by the sidecar and the launcher; its fields live here.

Gauges are derived from job states, calls in flight and the stage services' health at each write; counters are
cumulative, reloaded at start, and never go back (deleting job folders does not lower them; deleting metrics.json
is the one reset). `schemas/metrics.schema.json` lists the same fields
(a test holds the two equal).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import orjson

from .job import JobState, Stage

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1

# The header: the version, when this orchestrator process started, when it wrote the file and when its last
# tick ended, and how often it rewrites the file at least (its liveness: see `services.common.liveness`).
UPDATED_AT = "updatedAt"
STARTED_AT = "startedAt"
LAST_TICK_AT = "lastTickAt"
HEARTBEAT_S = "heartbeatS"
# Gauges: jobs by state, and stage calls in flight by stage.
JOBS_BY_STATE = {state: f"jobs_{state.value.lower()}" for state in JobState}
RUNNING_BY_STAGE = {stage: f"{stage.value.lower()}_running" for stage in Stage}
# Gauges: intake and dispatch are paused (low disk space or failing writes); inbox entries ignored by design.
INTAKE_PAUSED = "intake_paused"
INBOX_IGNORED = "inbox_ignored"
# Gauges: each stage service as the orchestrator last found it (up, starting, down, unknown).
SERVICE_BY_STAGE = {stage: f"{stage.value.lower()}_service" for stage in Stage}
# Counters (the fields of `Counters`).
DISK_ERROR = "disk_error"
RETRIES = "retries"
DUPLICATES = "duplicates"
STAGE_UNAVAILABLE = "stage_unavailable"
PAGES_DONE = "pages_done"
JOBS_CREATED = "jobs_created"
RETRIES_REQUESTED = "retries_requested"


@dataclass(slots=True)
class Counters:
    """Cumulative events that no job state can tell afterwards, so they are reloaded at start.

    They reach disk with the metrics write at the end of a tick: a SIGKILL just before it loses that tick's
    increments (best effort). jobs_created and pages_done can also be told from the jobs on disk: at start they are
    the larger of the two (`catch_up`), so a kill loses none of them, and deleting job folders never lowers them.
    """

    disk_error: int = 0
    retries: int = 0
    duplicates: int = 0
    stage_unavailable: int = 0
    jobs_created: int = 0
    pages_done: int = 0
    retries_requested: int = 0

    def catch_up(self, jobs_on_disk: int, pages_on_disk: int) -> None:
        """Never below what the jobs on disk prove (a kill between a state write and the metrics write)."""
        self.jobs_created = max(self.jobs_created, jobs_on_disk)
        self.pages_done = max(self.pages_done, pages_on_disk)

    def to_json(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Counters:
        """The counters of a metrics.json document; a missing or non-integer field starts from zero."""
        return cls(**{f.name: doc[f.name] for f in fields(cls) if isinstance(doc.get(f.name), int)})

    @classmethod
    def load(cls, path: Path) -> Counters:
        """The counters the last run wrote, or zeros when there is no readable metrics.json."""
        try:
            doc = orjson.loads(path.read_bytes())
        except FileNotFoundError:
            return cls()
        except (OSError, orjson.JSONDecodeError) as e:
            log.warning("metrics.json unreadable (%s): counters start from zero", e, extra={"path": str(path)})
            return cls()
        return cls.from_json(doc) if isinstance(doc, dict) else cls()


COUNTER_FIELDS = tuple(f.name for f in fields(Counters))
# What the orchestrator knows and the sidecar cannot count itself.
ORCHESTRATOR_FIELDS = (
    DISK_ERROR,
    RETRIES,
    PAGES_DONE,
    JOBS_CREATED,
    DUPLICATES,
    STAGE_UNAVAILABLE,
    RETRIES_REQUESTED,
    *RUNNING_BY_STAGE.values(),
    *SERVICE_BY_STAGE.values(),
    INTAKE_PAUSED,
    INBOX_IGNORED,
)
ALL_FIELDS = (*JOBS_BY_STATE.values(), *ORCHESTRATOR_FIELDS)


def metrics_document(
    values: Mapping[str, object], started_at: str, written_at: str, heartbeat_s: float
) -> dict[str, Any]:
    """The whole document, written at the end of a tick: the header, then the values."""
    return {
        "schemaVersion": SCHEMA_VERSION,
        UPDATED_AT: written_at,
        STARTED_AT: started_at,
        # lastTickAt and heartbeatS let every reader judge liveness the same way (services.common.liveness).
        LAST_TICK_AT: written_at,
        HEARTBEAT_S: heartbeat_s,
        **values,
    }
