"""The read-only observability sidecar: an in-memory index of `jobs/*/state.json`, kept fresh by watching, over HTTP.

Modules: `config` (environment), `state_file` (one safe read of a state.json), `index` (the jobs in memory),
`scan` (full scans and their reconciliation), `native` (inotify, one watch per job folder), `watcher` (events,
polling, the journal, rescans), `coverage` (watch mode and staleness),
`metrics_file` (the orchestrator's metrics.json), `metrics` and `prom` (JSON and Prometheus views),
`listing` (filters and cursors of `GET /jobs`), `routes`, `app`, `server` (connection limits, `main`).
"""

from __future__ import annotations

from .app import create_app
from .config import Config
from .server import main

__all__ = ["Config", "create_app", "main"]
