"""Wall-clock time for timestamps; a fixed clock makes tests and snapshots repeatable."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone


def utc_iso(moment: datetime) -> str:
    """The one text form of a timestamp in every store: ISO 8601, UTC, microseconds."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def just_after(stamp: str) -> str:
    """The next representable timestamp (one microsecond later), for times that must strictly increase."""
    moment = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    return utc_iso(moment + timedelta(microseconds=1))


class SystemClock:
    """The real time, in UTC."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class FixedClock:
    """A clock that starts at a given moment and advances a fixed step per reading."""

    def __init__(self, start: datetime | None = None, step: timedelta = timedelta(seconds=1)):
        self._now = start or datetime(2026, 1, 1, 9, 0, tzinfo=timezone.utc)
        self._step = step

    def now(self) -> datetime:
        current = self._now
        self._now = current + self._step
        return current
