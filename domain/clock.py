"""Wall-clock time for timestamps; a fixed clock makes tests and snapshots repeatable."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone


def utc_iso(moment: datetime) -> str:
    """The one text form of a timestamp in every store: ISO 8601, UTC, microseconds."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}(:\d{2}(:\d{2}(\.\d{1,6})?)?)?Z?)?$")


def moment_prefix(text: str, field: str) -> str:
    """A date or time as typed (`2026-03-01`, `2026-03-01 12:30`, a full timestamp) as a prefix of our
    timestamp text, so it compares with stored times as text. Raises: ValidationError."""
    from domain.errors import ValidationError

    stamp = text.strip() if isinstance(text, str) else ""
    if not _MOMENT.match(stamp):
        raise ValidationError(
            f"{field}: {text!r} is not a date or time (use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS, UTC)", field=field
        )
    stamp = stamp.replace(" ", "T").rstrip("Z")
    formats = {10: "%Y-%m-%d", 13: "%Y-%m-%dT%H", 16: "%Y-%m-%dT%H:%M", 19: "%Y-%m-%dT%H:%M:%S"}
    try:
        datetime.strptime(stamp[:19], formats[min(len(stamp), 19)])
    except ValueError:
        raise ValidationError(f"{field}: {text!r} is not a real date or time", field=field) from None
    return stamp


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
