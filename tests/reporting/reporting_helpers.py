"""Traffic for reporting tests: CDRs for two tenants and one carrier."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

HOUR = (datetime.now(UTC) - timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)


def add_traffic(conn: psycopg.Connection[Any], calls: dict[Any, int], *, tag: str = "") -> None:
    """``calls[account_id]`` answered 60 s calls in HOUR through carrier 'alpha'."""
    row = conn.execute("SELECT id FROM routing.carrier_trunks WHERE name = 'alpha-1'").fetchone()
    if row is None:
        carrier = conn.execute("INSERT INTO routing.carriers (name) VALUES ('alpha') RETURNING id").fetchone()
        assert carrier is not None
        row = conn.execute(
            "INSERT INTO routing.carrier_trunks (carrier_id, name, host) VALUES (%s, 'alpha-1', 'sip.alpha') RETURNING id",
            (carrier[0] if not isinstance(carrier, dict) else carrier["id"],),
        ).fetchone()
    assert row is not None
    trunk = row[0] if not isinstance(row, dict) else row["id"]
    for account, n in calls.items():
        for i in range(n):
            conn.execute(
                "INSERT INTO cdr.raw_cdr (start_time, call_id, sip_code, duration, pdd_ms, account_id, carrier_trunk_id) "
                "VALUES (%s, %s, 200, 60, 800, %s, %s)",
                (HOUR + timedelta(seconds=i), f"{tag}{account}-{i}", account, trunk),
            )
