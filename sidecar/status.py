"""What the sidecar knows about itself: scan and watch progress, reported by `/readyz` and in the metrics."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.common.clock import now_iso

NATIVE = "native"
"""inotify: one watch per job folder, every job watched."""
PARTIAL = "partial"
"""inotify, but some job folders could not be watched (watch limit): those are polled."""
POLLING = "polling"
"""No inotify (forced, network filesystem, or native watching failed); full rescans keep the index current."""
JOURNAL = "journal"
"""No inotify; the orchestrator's change journal names what changed, with a periodic rescan as the safety net."""
WATCH_MODES = (NATIVE, PARTIAL, POLLING, JOURNAL)


@dataclass(slots=True)
class SidecarStatus:
    started_at: str = field(default_factory=now_iso)
    scanned: bool = False
    watch_mode: str = NATIVE
    polling_reason: str | None = None
    degraded: str | None = None
    """Why changes may be seen late right now (None when every job is covered by events)."""
    unwatched_jobs: int = 0
    staleness_s: float = 0.0
    """Age of the oldest change the sidecar may not have seen yet (0 while every job is watched)."""
    journal: str | None = None
    """The change journal's problem in journal mode (None while it is followed)."""
    events_total: int = 0
    overflows_total: int = 0
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
        """Every job listed once, and something (events, the journal or rescans) keeps the index current."""
        return self.scanned

    def touch(self) -> None:
        self.generation += 1

    def watch_json(self) -> dict[str, object]:
        """What `/readyz` and `/metrics` both say about watching."""
        return {
            "watchMode": self.watch_mode,
            "pollingReason": self.polling_reason,
            "degraded": self.degraded,
            "unwatchedJobs": self.unwatched_jobs,
            "stalenessS": self.staleness_s,
            "journal": self.journal,
        }

    def to_json(self) -> dict[str, object]:
        return {
            "ready": self.ready,
            "startedAt": self.started_at,
            **self.watch_json(),
            "watching": self.scanned,
            "eventsTotal": self.events_total,
            "overflowsTotal": self.overflows_total,
            "initialScanDurationS": self.initial_scan_duration_s,
            "initialScanPhasesS": self.initial_scan_phases_s,
            "rescansTotal": self.rescans_total,
            "lastRescanAt": self.last_rescan_at,
            "lastRescanDurationS": self.last_rescan_duration_s,
            "lastRescanRepairs": self.last_rescan_repairs,
            "repairsTotal": self.repairs_total,
            "watcherRestartsTotal": self.watcher_restarts_total,
        }
