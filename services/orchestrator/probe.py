"""Liveness probe of the orchestrator's container (Kubernetes exec probe): `python -m services.orchestrator.probe`.

Exits 1 when the orchestrator of this host holds the lease but has stopped renewing it (a hung loop renews
nothing, see app/lease.py); 0 otherwise, including while it waits for another orchestrator's lease.
"""

from __future__ import annotations

import socket
import sys

from .app.config import Config
from .app.lease_files import holder_is_stale

sys.exit(1 if holder_is_stale(Config.from_env().paths.jobs_dir, socket.gethostname()) else 0)
