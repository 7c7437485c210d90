"""Orchestrator configuration, read from the environment in one place."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from services.common.env import env_float, env_int, env_str
from services.common.errors import ConfigError
from services.common.paths import DataPaths

from .replicas import parse_urls

# Stage services start with the orchestrator and take seconds to listen (prep warms its workers first; slower in
# containers): unreachable in this window is "starting", not an outage.
DEFAULT_STARTUP_GRACE_S = 30.0
# The shortest lease TTL, in ticks: renewed every third of it, given up at three quarters.
LEASE_TICKS_MIN = 8


@dataclass(frozen=True, slots=True)
class Config:
    paths: DataPaths
    tick_interval_s: float = 0.5
    prep_url: str = "http://127.0.0.1:8081"
    ocr_url: str = "http://127.0.0.1:8082"
    prep_concurrency: int = 2
    ocr_concurrency: int = 2
    max_jobs_in_flight: int = 8
    max_attempts: int = 3
    retry_base_s: float = 2.0
    retry_max_s: float = 300.0
    prep_timeout_s: float = 600.0
    ocr_timeout_s: float = 1800.0
    min_free_disk_mb: int = 100
    inbox_settle_s: float = 1.0
    intake_batch: int = 200
    shutdown_grace_s: float = 10.0
    metrics_heartbeat_s: float = 5.0
    lease_ttl_s: float = 30.0
    stage_startup_grace_s: float = DEFAULT_STARTUP_GRACE_S

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Config:
        config = cls(
            paths=DataPaths.from_env(environ),
            tick_interval_s=env_float(environ, "TICK_INTERVAL_S", 0.5, minimum=0.01),
            # One URL, or a comma-separated list of replicas (replicas.py says when to use which).
            prep_url=",".join(parse_urls(env_str(environ, "PREP_URL", "http://127.0.0.1:8081"), "PREP_URL")),
            ocr_url=",".join(parse_urls(env_str(environ, "OCR_URL", "http://127.0.0.1:8082"), "OCR_URL")),
            prep_concurrency=env_int(environ, "PREP_CONCURRENCY", 2, minimum=1),
            ocr_concurrency=env_int(environ, "OCR_CONCURRENCY", 2, minimum=1),
            max_jobs_in_flight=env_int(environ, "MAX_JOBS_IN_FLIGHT", 8, minimum=1),
            max_attempts=env_int(environ, "MAX_ATTEMPTS", 3, minimum=1),
            retry_base_s=env_float(environ, "RETRY_BASE_S", 2.0, minimum=0.0),
            retry_max_s=env_float(environ, "RETRY_MAX_S", 300.0, minimum=0.0),
            prep_timeout_s=env_float(environ, "PREP_TIMEOUT_S", 600.0, minimum=1.0),
            ocr_timeout_s=env_float(environ, "OCR_TIMEOUT_S", 1800.0, minimum=1.0),
            min_free_disk_mb=env_int(environ, "MIN_FREE_DISK_MB", 100, minimum=0),
            inbox_settle_s=env_float(environ, "INBOX_SETTLE_S", 1.0, minimum=0.0),
            intake_batch=env_int(environ, "INTAKE_BATCH", 200, minimum=1),
            shutdown_grace_s=env_float(environ, "SHUTDOWN_GRACE_S", 10.0, minimum=0.0),
            metrics_heartbeat_s=env_float(environ, "METRICS_HEARTBEAT_S", 5.0, minimum=0.1),
            lease_ttl_s=env_float(environ, "ORCHESTRATOR_LEASE_TTL_S", 30.0, minimum=1.0),
            stage_startup_grace_s=env_float(environ, "STAGE_STARTUP_GRACE_S", DEFAULT_STARTUP_GRACE_S, minimum=0.0),
        )
        # The lease is renewed from the tick: a TTL of a few ticks would be lost to one slow tick.
        if config.lease_ttl_s < LEASE_TICKS_MIN * config.tick_interval_s:
            raise ConfigError(
                f"ORCHESTRATOR_LEASE_TTL_S={config.lease_ttl_s:g} must be at least {LEASE_TICKS_MIN} ticks "
                f"(TICK_INTERVAL_S={config.tick_interval_s:g})"
            )
        return config

    def to_log(self) -> dict[str, Any]:
        """The effective settings as plain values, for the one start-up log line."""
        fields = asdict(self)
        fields["paths"] = {name: str(value) for name, value in fields["paths"].items()}
        return fields
