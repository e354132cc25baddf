"""Rate plan import (deck CSV conventions) and the one-plan-in-force exclusion."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from billing_helpers import STAFF, account

from warp.billing import rate_plans
from warp.billing.errors import OverlappingRatePlan, RatePlanImportError
from warp.db import tenant


def test_import_creates_plan_merges_and_reports_bad_lines(
    conn: psycopg.Connection[Any], tmp_path: Path
) -> None:
    good = tmp_path / "plan.csv"
    good.write_text(
        "prefix,rate,connection_fee,initial_increment,subsequent_increment,minimum_seconds,effective_date\n"
        "1,0.0100,0,6,6,30,2026-01-01\n44,0.0300,0.001,1,1,0,2026-01-01\n"
    )
    with tenant.transaction(conn, STAFF):
        result = rate_plans.import_plan(conn, plan="WHOLESALE-A", path=good)
    assert (result.created, result.loaded) == (True, 2)
    row = conn.execute(
        "SELECT rate, minimum_seconds, initial_increment FROM billing.voice_rates WHERE prefix = '1'"
    )
    assert row.fetchone() == (Decimal("0.010000"), 30, 6)

    update = tmp_path / "update.csv"
    update.write_text("prefix,rate,effective_date\n1,0.0090,2026-12-01\n")
    with tenant.transaction(conn, STAFF):
        result = rate_plans.import_plan(conn, plan="WHOLESALE-A", path=update)
    assert (result.created, result.loaded, result.closed) == (False, 1, 1)

    bad = tmp_path / "bad.csv"
    bad.write_text("prefix,rate,minimum_seconds\n1x,0.01,0\n2,abc,0\n3,0.01,-5\n")
    with pytest.raises(RatePlanImportError) as err, tenant.transaction(conn, STAFF):
        rate_plans.import_plan(conn, plan="WHOLESALE-A", path=bad)
    assert sorted({line for line, _ in err.value.problems}) == [2, 3, 4]


def test_overlapping_plan_assignments_are_refused(conn: psycopg.Connection[Any], tmp_path: Path) -> None:
    acct = account(conn, "PLANS")
    for name in ("P1", "P2"):
        conn.execute("INSERT INTO billing.rate_plans (name) VALUES (%s)", (name,))
    jan, jun, dec = (datetime(2026, m, 1, tzinfo=UTC) for m in (1, 6, 12))
    with tenant.transaction(conn, STAFF):
        rate_plans.assign_plan(conn, acct, "P1", jan, jun)
        rate_plans.assign_plan(conn, acct, "P2", jun, None)  # adjacent: fine
        with pytest.raises(OverlappingRatePlan):
            rate_plans.assign_plan(conn, acct, "P1", dec, None)
    with pytest.raises(psycopg.errors.ExclusionViolation):
        conn.execute(
            "INSERT INTO billing.account_rate_plans (account_id, rate_plan_id, effective_at, expires_at) "
            "SELECT %s, id, '2026-03-01', '2026-04-01' FROM billing.rate_plans WHERE name = 'P2'",
            (acct,),
        )
