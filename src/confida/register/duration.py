"""Retention periods.

Retention is written by people ("30 days", "P6M", "2y"), and calendar months matter for the law
(a month is not 30 days), so a period is kept as months plus days and applied with calendar
arithmetic rather than flattened into a timedelta.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

_UNITS = {
    "h": ("hours", 1), "hour": ("hours", 1), "hours": ("hours", 1),
    "d": ("days", 1), "day": ("days", 1), "days": ("days", 1),
    "w": ("days", 7), "week": ("days", 7), "weeks": ("days", 7),
    "m": ("months", 1), "mo": ("months", 1), "month": ("months", 1), "months": ("months", 1),
    "y": ("months", 12), "year": ("months", 12), "years": ("months", 12),
}
_PART = re.compile(r"\s*(\d{1,5})\s*([a-z]{1,6})\s*,?")
_ISO = re.compile(
    r"^P(?:(\d{1,4})Y)?(?:(\d{1,5})M)?(?:(\d{1,5})W)?(?:(\d{1,5})D)?(?:T(\d{1,6})H)?$"
)


@dataclass(frozen=True)
class Duration:
    months: int = 0
    days: int = 0
    hours: int = 0

    @classmethod
    def parse(cls, text: str) -> Duration:
        """Parse ``30d``, ``6 months``, ``1 year 2 months`` or an ISO 8601 period like ``P1Y6M``."""
        if not isinstance(text, str):
            raise ValueError("a duration must be text such as '30 days' or 'P6M'")
        raw = text.strip()
        iso = _ISO.match(raw.upper())
        if iso and raw.upper() != "P":
            y, mo, w, d, h = (int(g) if g else 0 for g in iso.groups())
            dur = cls(months=y * 12 + mo, days=w * 7 + d, hours=h)
        else:
            low = raw.lower()
            parts = list(_PART.finditer(low))
            if not parts or "".join(m.group(0) for m in parts) != low or any(
                m.group(2) not in _UNITS for m in parts
            ):
                raise ValueError(
                    f"{text!r} is not a duration; write e.g. '30 days', '6 months', '2y' or 'P30D'"
                )
            acc = {"months": 0, "days": 0, "hours": 0}
            for m in parts:
                field, mult = _UNITS[m.group(2)]
                acc[field] += int(m.group(1)) * mult
            dur = cls(**acc)
        if dur.months == dur.days == dur.hours == 0:
            raise ValueError("a retention period must be longer than zero")
        return dur

    def after(self, start: datetime) -> datetime:
        """The instant this period after ``start`` ends, counting calendar months."""
        month0 = start.month - 1 + self.months
        year = start.year + month0 // 12
        month = month0 % 12 + 1
        day = min(start.day, calendar.monthrange(year, month)[1])
        return start.replace(year=year, month=month, day=day) + timedelta(
            days=self.days, hours=self.hours
        )

    def approx_days(self) -> float:
        """An ordering key: which of two periods is longer (months counted as 30.44 days)."""
        return self.months * 30.44 + self.days + self.hours / 24

    def __str__(self) -> str:
        parts = []
        y, mo = divmod(self.months, 12)
        for n, unit in ((y, "year"), (mo, "month"), (self.days, "day"), (self.hours, "hour")):
            if n:
                parts.append(f"{n} {unit}{'s' if n != 1 else ''}")
        return " ".join(parts)
