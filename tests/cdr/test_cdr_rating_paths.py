"""Rating finds the same customer and vendor rates by either path: index look-ups for small windows
(the worker's batches) and hash joins over the prefix lengths in use for large ones."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cdr_helpers import World, cdr_rows, write_csv
from test_process import staff_world

from warp.cdr import rating
from warp.cdr.ingest import import_file

COLUMNS = (
    "customer_rate_prefix, customer_rate, customer_charge, vendor_rate_prefix, vendor_rate, vendor_cost, "
    "billable_seconds, rating_status, unrated_reason, vendor_unrated_reason, jurisdiction"
)


def richer_rates(conn: psycopg.Connection[Any], world: World) -> None:
    """More prefix lengths, and rows not (yet / any more) in force, in both the plan and the deck."""
    conn.execute(
        "INSERT INTO billing.voice_rates (rate_plan_id, prefix, rate, interstate_rate, intrastate_rate, "
        "initial_increment, subsequent_increment, effective_date, expires_date) VALUES "
        "(%(p)s, '1303555', 0.020, 0.021, 0.019, 30, 6, '2020-01-01', NULL), "
        "(%(p)s, '130355501', 0.090, 0.090, 0.090, 1, 1, '2027-01-01', NULL), "  # not yet in force
        "(%(p)s, '1518', 0.030, 0.031, 0.029, 60, 60, '2020-01-01', '2021-01-01'), "  # expired
        "(%(p)s, '4420', 0.060, NULL, NULL, 1, 1, '2020-01-01', NULL)",
        {"p": world.plan},
    )
    conn.execute(
        "INSERT INTO routing.rate_deck (carrier_trunk_id, prefix, rate, interstate_rate, intrastate_rate, "
        "effective_date, expires_date) VALUES "
        "(%(t)s, '1212555', 0.002, 0.002, 0.001, '2020-01-01', NULL), "
        "(%(t)s, '1303', 0.006, 0.007, 0.006, '2020-01-01', '2021-01-01'), "  # expired
        "(%(t)s, '442079', 0.010, NULL, NULL, '2020-01-01', NULL)",
        {"t": world.carrier_trunk},
    )


def snapshot(conn: psycopg.Connection[Any]) -> dict[str, tuple[Any, ...]]:
    rows = conn.execute(
        f"SELECT r.call_id, {COLUMNS} FROM cdr.enriched_cdr e "
        "JOIN cdr.raw_cdr r ON r.id = e.raw_cdr_id AND r.start_time = e.start_time"
    ).fetchall()
    return {r[0]: tuple(r[1:]) for r in rows}


@pytest.mark.parametrize(
    ("first", "then"), [(0, 10**9), (10**9, 0)], ids=["bulk-then-small", "small-then-bulk"]
)
def test_both_rating_paths_agree(
    conn: psycopg.Connection[Any], tmp_path: Path, first: int, then: int
) -> None:
    world = staff_world(conn)
    richer_rates(conn, world)
    intl = cdr_rows(10, prefix="intl", start="2026-11-11 08:00:00")
    for row in intl:
        row[6] = "+442079460123"
    import_file(conn, write_csv(tmp_path / "a.csv", [*cdr_rows(110), *intl]))
    done = rating.process(conn, small_window=first)
    assert done.cdrs == 120
    before = snapshot(conn)
    # the richer rows are really used: longest prefixes of 7 and 6 digits, dated rows skipped
    prefixes = {v[0] for v in before.values()} | {v[3] for v in before.values()}
    assert {"1303555", "1212", "1212555", "442079", "4420"} <= prefixes
    assert "130355501" not in prefixes and "1518" not in prefixes and "1303" not in prefixes
    again = rating.rerate(
        conn,
        start=datetime(2026, 11, 1, tzinfo=UTC),
        end=datetime(2026, 12, 1, tzinfo=UTC),
        small_window=then,
    )
    assert again.cdrs == 120 and again.changed == 0
    assert snapshot(conn) == before
