"""Timestamps of the contract: RFC 3339, UTC, milliseconds, `Z` suffix."""

from __future__ import annotations

from datetime import UTC, datetime


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_iso() -> str:
    return format_time(datetime.now(UTC))


def from_epoch(seconds: float) -> str:
    return format_time(datetime.fromtimestamp(seconds, UTC))


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
