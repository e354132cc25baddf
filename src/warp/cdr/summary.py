"""Hourly traffic summaries (cdr.calculate_hourly_summary) over a range of hours."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import psycopg

from warp.cdr.errors import InvalidCdrInput


def summarize_hours(conn: psycopg.Connection[Any], start: datetime, end: datetime) -> dict[str, int]:
    """Recompute every hour touching [start, end); returns hours and summary rows written."""
    if end <= start:
        raise InvalidCdrInput("to: must be after from")
    hours = rows = 0
    hour = start.replace(minute=0, second=0, microsecond=0)
    while hour < end:
        row = conn.execute("SELECT cdr.calculate_hourly_summary(%s)", (hour,)).fetchone()
        rows += int(row[0] if not isinstance(row, dict) else next(iter(row.values())))  # type: ignore[index]
        hours += 1
        hour += timedelta(hours=1)
    return {"hours": hours, "rows": rows}


def summarize_hour_set(conn: psycopg.Connection[Any], hours: Iterable[datetime]) -> dict[str, int]:
    """Recompute the given hours (e.g. those a rating run touched), oldest first; hours and rows written."""
    done = rows = 0
    for hour in sorted(set(hours)):
        row = conn.execute("SELECT cdr.calculate_hourly_summary(%s)", (hour,)).fetchone()
        rows += int(row[0] if not isinstance(row, dict) else next(iter(row.values())))  # type: ignore[index]
        done += 1
    return {"hours": done, "rows": rows}
