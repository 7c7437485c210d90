"""The sidecar's configuration: every knob comes from the environment here and nowhere else."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from services.common.env import env_bool, env_float, env_int, env_str
from services.common.paths import DataPaths

# A state.json is a few kB; anything past this is not one of ours and is listed as unreadable instead of read.
DEFAULT_MAX_STATE_BYTES = 1 << 20
# /events: changes kept for Last-Event-ID replay (about 100 bytes each), and the share of connections streams may take,
# so that scrapes and API calls always find a free connection.
DEFAULT_EVENTS_WINDOW = 10_000
DEFAULT_MAX_EVENT_STREAMS = 128


@dataclass(frozen=True, slots=True)
class Config:
    paths: DataPaths
    host: str = "0.0.0.0"
    port: int = 8080
    rescan_s: float = 60.0
    force_polling: bool = False
    poll_delay_ms: int = 300
    max_state_bytes: int = DEFAULT_MAX_STATE_BYTES
    token: str | None = field(default=None, repr=False)
    max_connections: int = 512
    keepalive_timeout_s: float = 15.0
    access_log: bool = True
    events_window: int = DEFAULT_EVENTS_WINDOW
    max_event_streams: int = DEFAULT_MAX_EVENT_STREAMS
    events_heartbeat_s: float = 15.0
    events_write_timeout_s: float = 10.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Config:
        return cls(
            paths=DataPaths.from_env(environ),
            host=env_str(environ, "SIDECAR_HOST", "0.0.0.0"),
            port=env_int(environ, "ORCHESTRATOR_PORT", 8080, minimum=0),
            rescan_s=env_float(environ, "SIDECAR_RESCAN_S", 60.0, minimum=0.1),
            force_polling=env_bool(environ, "SIDECAR_FORCE_POLLING", False),
            poll_delay_ms=env_int(environ, "SIDECAR_POLL_DELAY_MS", 300, minimum=10),
            max_state_bytes=env_int(environ, "SIDECAR_MAX_STATE_BYTES", DEFAULT_MAX_STATE_BYTES, minimum=1024),
            token=env_str(environ, "SIDECAR_TOKEN", "") or None,
            max_connections=env_int(environ, "SIDECAR_MAX_CONNECTIONS", 512, minimum=1),
            keepalive_timeout_s=env_float(environ, "SIDECAR_KEEPALIVE_S", 15.0, minimum=0.1),
            access_log=env_bool(environ, "SIDECAR_ACCESS_LOG", True),
            events_window=env_int(environ, "SIDECAR_EVENTS_WINDOW", DEFAULT_EVENTS_WINDOW, minimum=1),
            max_event_streams=env_int(environ, "SIDECAR_MAX_EVENT_STREAMS", DEFAULT_MAX_EVENT_STREAMS, minimum=0),
            events_heartbeat_s=env_float(environ, "SIDECAR_EVENTS_HEARTBEAT_S", 15.0, minimum=0.1),
            events_write_timeout_s=env_float(environ, "SIDECAR_EVENTS_WRITE_TIMEOUT_S", 10.0, minimum=0.1),
        )

    def to_log(self) -> dict[str, Any]:
        """The effective settings, safe to log (the token is never written out)."""
        out: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in {"paths", "token"}}
        out["paths"] = {f.name: str(getattr(self.paths, f.name)) for f in fields(self.paths)}
        out["token"] = "set" if self.token else "off"
        return out
