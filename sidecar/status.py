"""What the sidecar knows about itself: scan and watch progress, reported by `/readyz` and in the metrics."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.common.clock import now_iso

NATIVE = "native"
POLLING = "polling"


@dataclass(slots=True)
class SidecarStatus:
    started_at: str = field(default_factory=now_iso)
    scanned: bool = False
    jobs_watch_running: bool = False
    metrics_watch_running: bool = False
    watch_mode: str = NATIVE
    polling_reason: str | None = None
    events_total: int = 0
    rescans_total: int = 0
    repairs_total: int = 0
    watcher_restarts_total: int = 0
    initial_scan_duration_s: float | None = None
    initial_scan_phases_s: dict[str, float] = field(default_factory=dict)
    last_rescan_at: str | None = None
    last_rescan_unix_s: float | None = None
    last_rescan_duration_s: float | None = None
    last_rescan_repairs: int = 0
    generation: int = 0
    """Bumped on every change, so cached views know when to rebuild."""

    @property
    def ready(self) -> bool:
        return self.scanned and self.jobs_watch_running and self.metrics_watch_running

    def touch(self) -> None:
        self.generation += 1

    def to_json(self) -> dict[str, object]:
        return {
            "ready": self.ready,
            "startedAt": self.started_at,
            "watchMode": self.watch_mode,
            "pollingReason": self.polling_reason,
            "watching": self.jobs_watch_running and self.metrics_watch_running,
            "eventsTotal": self.events_total,
            "initialScanDurationS": self.initial_scan_duration_s,
            "initialScanPhasesS": self.initial_scan_phases_s,
            "rescansTotal": self.rescans_total,
            "lastRescanAt": self.last_rescan_at,
            "lastRescanDurationS": self.last_rescan_duration_s,
            "lastRescanRepairs": self.last_rescan_repairs,
            "repairsTotal": self.repairs_total,
            "watcherRestartsTotal": self.watcher_restarts_total,
        }
