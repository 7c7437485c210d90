"""How hard the reliability suite pushes: `RELIABILITY_PROFILE=short` (default, runs in CI) or `long` (on demand)."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    documents: int
    """Documents fed to the kill-at-any-moment driver."""
    kills_per_service: int
    sidecar_burst: int
    """Documents dropped while the sidecar is killed."""
    flood_files: int
    fuzz_examples: int
    """schemathesis examples per operation."""
    slow_clients: int
    tiff_frames: int
    """Frames of the hostile TIFF: over PREP_MAX_PAGES (2000), so it must be refused, not processed."""
    watch_jobs: int
    """Jobs changed behind the watcher's back."""


PROFILES = {
    "short": Profile(
        name="short",
        documents=24,
        kills_per_service=2,
        sidecar_burst=30,
        flood_files=150,
        fuzz_examples=25,
        slow_clients=200,
        tiff_frames=2100,
        watch_jobs=60,
    ),
    "long": Profile(
        name="long",
        documents=60,
        kills_per_service=6,
        sidecar_burst=120,
        flood_files=1000,
        fuzz_examples=200,
        slow_clients=400,
        tiff_frames=5000,
        watch_jobs=400,
    ),
}


def current() -> Profile:
    name = os.environ.get("RELIABILITY_PROFILE", "short")
    if name not in PROFILES:
        raise ValueError(f"RELIABILITY_PROFILE must be one of {', '.join(PROFILES)}, not {name!r}")
    return PROFILES[name]


PROFILE = current()
