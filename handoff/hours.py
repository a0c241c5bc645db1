"""Business hours: when people answer. Outside them visitors are told so and can leave
an email address instead of waiting.

Format of HANDOFF_BUSINESS_HOURS: ``"mon-fri 09:00-17:00; sat 10:00-14:00"`` (days
``mon``..``sun``, single days or ranges, several groups separated by ``;``); an empty
string means always open. Times are in HANDOFF_TIMEZONE.
"""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class BusinessHours:
    """Parsed business hours; `is_open(ts)` answers for a Unix time."""

    def __init__(self, spec: str, timezone: str = "UTC"):
        self.tz = ZoneInfo(timezone)
        self.windows: list[tuple[set[int], int, int]] = []   # (weekdays, start min, end min)
        for group in filter(None, (g.strip() for g in spec.split(";"))):
            try:
                days_part, time_part = group.split()
                start_s, end_s = time_part.split("-")
                self.windows.append((self._days(days_part), self._minutes(start_s), self._minutes(end_s)))
            except ValueError as exc:
                raise ValueError(f"bad business hours group {group!r}: expected 'mon-fri 09:00-17:00'") from exc

    @staticmethod
    def _days(part: str) -> set[int]:
        days: set[int] = set()
        for piece in part.lower().split(","):
            if "-" in piece:
                a, b = piece.split("-")
                i, j = DAYS.index(a), DAYS.index(b)
                days.update(range(i, j + 1) if i <= j else [*range(i, 7), *range(0, j + 1)])
            else:
                days.add(DAYS.index(piece))
        return days

    @staticmethod
    def _minutes(text: str) -> int:
        hours, minutes = text.split(":")
        value = int(hours) * 60 + int(minutes)
        if not 0 <= value <= 24 * 60:
            raise ValueError(text)
        return value

    def is_open(self, ts: float) -> bool:
        if not self.windows:
            return True
        now = dt.datetime.fromtimestamp(ts, self.tz)
        minute = now.hour * 60 + now.minute
        return any(now.weekday() in days and start <= minute < end
                   for days, start, end in self.windows)
