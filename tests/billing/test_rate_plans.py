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


def test_import_messaging_and_number_rates_with_per_line_errors(
    conn: psycopg.Connection[Any], tmp_path: Path
) -> None:
    msg = tmp_path / "sms.csv"
    msg.write_text(
        "Message_Type,direction,destination_type,rate,effective_date\n"
        "sms,outbound,domestic,0.0040,2026-01-01\n"
        "SMS,INBOUND,,0.0010,2026-01-01\n"  # destination_type defaults to DOMESTIC
        "MMS,OUTBOUND,DOMESTIC,0.0150,2026-01-01\n"
    )
    with tenant.transaction(conn, STAFF):
        result = rate_plans.import_plan(conn, plan="RETAIL", path=msg)
    assert (result.kind, result.created, result.loaded) == ("messaging", True, 3)
    rows = conn.execute(
        "SELECT message_type, direction, destination_type, rate FROM billing.messaging_rates ORDER BY 1, 2"
    ).fetchall()
    assert rows == [
        ("MMS", "OUTBOUND", "DOMESTIC", Decimal("0.015000")),
        ("SMS", "INBOUND", "DOMESTIC", Decimal("0.001000")),
        ("SMS", "OUTBOUND", "DOMESTIC", Decimal("0.004000")),
    ]

    change = tmp_path / "sms2.csv"
    change.write_text("message_type,rate,effective_date\nSMS,0.0035,2026-12-01\n")  # outbound domestic
    with tenant.transaction(conn, STAFF):
        result = rate_plans.import_plan(conn, plan="RETAIL", path=change)
    assert (result.loaded, result.closed, result.superseded) == (1, 1, 0)
    assert conn.execute(
        "SELECT effective_date::text, expires_date::text, rate FROM billing.messaging_rates "
        "WHERE message_type = 'SMS' AND direction = 'OUTBOUND' ORDER BY 1"
    ).fetchall() == [
        ("2026-01-01", "2026-12-01", Decimal("0.004000")),
        ("2026-12-01", None, Decimal("0.003500")),
    ]

    nums = tmp_path / "numbers.csv"
    nums.write_text(
        "number_type,monthly_charge,setup_charge,effective_date\nDID,1.00,0.50,2026-01-01\nTOLL_FREE,2.50,,2026-01-01\n"
    )
    with tenant.transaction(conn, STAFF):
        result = rate_plans.import_plan(conn, plan="RETAIL", path=nums)
    assert (result.kind, result.created, result.loaded) == ("numbers", False, 2)
    assert conn.execute(
        "SELECT number_type, monthly_charge, setup_charge, port_in_fee FROM billing.number_rates ORDER BY 1"
    ).fetchall() == [
        ("DID", Decimal("1.00"), Decimal("0.50"), Decimal("0.00")),
        ("TOLL_FREE", Decimal("2.50"), Decimal("0.00"), Decimal("0.00")),
    ]
    acct = account(conn, "RETAILER")
    with tenant.transaction(conn, STAFF):
        rate_plans.assign_plan(conn, acct, "RETAIL", datetime(2026, 1, 1, tzinfo=UTC))
    with tenant.transaction(conn, tenant.Context(account_id=acct)):  # the customer sees its own prices
        current = rate_plans.current_plan(conn, acct)
    assert {(m["message_type"], m["direction"]) for m in current["messaging_rates"]} >= {("MMS", "OUTBOUND")}
    assert [n["number_type"] for n in current["number_rates"]] == ["DID", "TOLL_FREE"]

    bad_msg = tmp_path / "bad_sms.csv"
    bad_msg.write_text(
        "message_type,direction,rate,effective_date,expires_date\n"
        "SMS,OUTBOUND,0.004,2027-01-01,\n"  # 2: fine
        "RCS,OUTBOUND,0.004,2027-01-01,\n"  # 3: unknown type
        "SMS,SIDEWAYS,abc,2027-01-01,\n"  # 4: direction and rate
        "MMS,OUTBOUND,-1,2027-13-01,\n"  # 5: negative rate, bad date
        "MMS,OUTBOUND,0.0000001,2027-01-01,2026-01-01\n"  # 6: 7 decimals, expires before effective
        "SMS,OUTBOUND,0.005,2027-06-01,\n"  # 7: overlaps line 2
        "SMS,OUTBOUND\n"  # 8: ragged
    )
    with pytest.raises(RatePlanImportError) as err, tenant.transaction(conn, STAFF):
        rate_plans.import_plan(conn, plan="RETAIL", path=bad_msg)
    problems = dict(err.value.problems)
    assert sorted(problems) == [3, 4, 5, 6, 7, 8]
    assert "message_type: 'RCS'" in problems[3]
    assert "direction: 'SIDEWAYS'" in problems[4] and "rate: 'abc' is not a number" in problems[4]
    assert "rate: -1 is negative" in problems[5] and "effective_date: '2027-13-01'" in problems[5]
    assert "more than 6 decimals" in problems[6] and "expires_date" in problems[6]
    assert "line 2" in problems[7]
    assert "line 7" in str(err.value) or "line 8" in str(err.value)

    bad_num = tmp_path / "bad_numbers.csv"
    bad_num.write_text("number_type,monthly_charge\nDID,1.005\nVANITY,1\n")
    with pytest.raises(RatePlanImportError) as err, tenant.transaction(conn, STAFF):
        rate_plans.import_plan(conn, plan="RETAIL", path=bad_num)
    assert [line for line, _ in err.value.problems] == [2, 3]
    for header in ("number_type,colour\n", "number_type\n"):  # unknown column; no price column
        (tmp_path / "h.csv").write_text(header + "DID\n")
        with pytest.raises(RatePlanImportError) as err, tenant.transaction(conn, STAFF):
            rate_plans.import_plan(conn, plan="RETAIL", path=tmp_path / "h.csv")
        assert [line for line, _ in err.value.problems] == [1]
    (tmp_path / "what.csv").write_text("colour,rate\nred,1\n")
    with pytest.raises(RatePlanImportError, match="cannot tell the kind"), tenant.transaction(conn, STAFF):
        rate_plans.import_plan(conn, plan="RETAIL", path=tmp_path / "what.csv")
    # nothing of the refused files was loaded
    assert conn.execute("SELECT count(*) FROM billing.messaging_rates").fetchone() == (4,)
    assert conn.execute("SELECT count(*) FROM billing.number_rates").fetchone() == (2,)


def test_cli_imports_a_messaging_file(seeded_url: str, tmp_path: Path, monkeypatch: Any) -> None:
    import json

    from typer.testing import CliRunner

    from warp.cli.main import app

    monkeypatch.setenv("WARP_DATABASE_URL", seeded_url)
    f = tmp_path / "m.csv"
    f.write_text("message_type,rate\nSMS,0.004\n")
    out = CliRunner().invoke(app, ["rate-plans", "import", "CLI-PLAN", str(f), "--json"])
    assert out.exit_code == 0, out.output
    assert {k: json.loads(out.stdout)[k] for k in ("kind", "created", "loaded")} == {
        "kind": "messaging",
        "created": True,
        "loaded": 1,
    }
    wrong = CliRunner().invoke(app, ["rate-plans", "import", "CLI-PLAN", str(f), "--kind", "numbers"])
    assert isinstance(wrong.exception, RatePlanImportError)
