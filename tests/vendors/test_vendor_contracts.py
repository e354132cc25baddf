"""Vendors and contracts: service validation, the `warp vendors` CLI, commitments against actual traffic."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from psycopg.rows import dict_row
from typer.testing import CliRunner

from warp.cli.main import app
from warp.db import tenant
from warp.errors import WarpError
from warp.vendors import contracts as svc
from warp.vendors.errors import (
    ContractNotFound,
    DuplicateVendor,
    InvalidContract,
    InvalidPeriod,
    InvalidVendor,
    VendorNotFound,
)

STAFF = tenant.Context(staff=True, actor_type="STAFF")


@pytest.fixture
def staff(db_url: str) -> Any:
    with psycopg.connect(db_url, row_factory=dict_row) as conn, tenant.transaction(conn, STAFF):
        yield conn


def test_vendor_create_list_update_and_errors_name_the_field(staff: psycopg.Connection[Any]) -> None:
    alpha = svc.create_vendor(
        staff, name=" Alpha Voice ", vendor_type="carrier", support_phone="+15551230000"
    )
    assert (alpha.name, alpha.vendor_type, alpha.status) == ("Alpha Voice", "CARRIER", "ACTIVE")
    echo = svc.create_vendor(staff, name="Echo SMS", vendor_type="MESSAGING")
    with pytest.raises(DuplicateVendor, match="name: a vendor called 'Alpha Voice' exists"):
        svc.create_vendor(staff, name="Alpha Voice", vendor_type="CARRIER")
    with pytest.raises(InvalidVendor, match="vendor_type: 'BANK' is not one of"):
        svc.create_vendor(staff, name="X", vendor_type="BANK")
    with pytest.raises(InvalidVendor, match=r"support_phone: '555-1234' is not E\.164"):
        svc.create_vendor(staff, name="X", vendor_type="OTHER", support_phone="555-1234")
    with pytest.raises(InvalidVendor, match="support_email"):
        svc.create_vendor(staff, name="X", vendor_type="OTHER", support_email="nobody")

    # one transaction: same created_at, so the id breaks the tie
    listed = svc.list_vendors(staff)
    assert [v.id for v in listed] == sorted([alpha.id, echo.id])
    assert [v.name for v in svc.list_vendors(staff, vendor_type="messaging")] == ["Echo SMS"]
    # keyset pagination: after the first, only the second
    first = svc.list_vendors(staff, limit=1)[0]
    assert [v.id for v in svc.list_vendors(staff, after=(first.created_at, first.id))] == [listed[1].id]

    changed = svc.update_vendor(staff, alpha.id, status="inactive", support_phone=None, notes="NOC 24/7")
    assert (changed.status, changed.support_phone, changed.notes) == ("INACTIVE", None, "NOC 24/7")
    assert changed.updated_at >= alpha.updated_at
    with pytest.raises(DuplicateVendor):
        svc.update_vendor(staff, alpha.id, name="Echo SMS")
    with pytest.raises(InvalidVendor, match="vendor_type: must not be null"):
        svc.update_vendor(staff, alpha.id, vendor_type=None)
    with pytest.raises(InvalidVendor, match="id: cannot be changed"):
        svc.update_vendor(staff, alpha.id, id=uuid4())
    with pytest.raises(VendorNotFound):
        svc.update_vendor(staff, uuid4(), notes="x")
    assert svc.find_vendor(staff, "Echo SMS").id == echo.id
    assert svc.find_vendor(staff, str(echo.id)).name == "Echo SMS"
    with pytest.raises(VendorNotFound, match="'Nobody'"):
        svc.find_vendor(staff, "Nobody")


def test_contract_dates_commitments_and_end(staff: psycopg.Connection[Any]) -> None:
    vendor = svc.create_vendor(staff, name="Alpha", vendor_type="CARRIER")
    other = svc.create_vendor(staff, name="Bravo", vendor_type="CARRIER")
    with pytest.raises(InvalidContract, match="end_date: 2025-01-31 is before start_date 2025-02-01"):
        svc.add_contract(
            staff, vendor.id, name="bad", start_date=date(2025, 2, 1), end_date=date(2025, 1, 31)
        )
    with pytest.raises(InvalidContract, match="commitment_period: required with a commitment"):
        svc.add_contract(
            staff, vendor.id, name="bad", start_date=date(2025, 1, 1), commitment_amount=Decimal(5)
        )
    with pytest.raises(InvalidContract, match="commitment_period: 'weekly' is not one of"):
        svc.add_contract(
            staff,
            vendor.id,
            name="bad",
            start_date=date(2025, 1, 1),
            commitment_minutes=10,
            commitment_period="weekly",
        )
    with pytest.raises(InvalidContract, match="commitment_amount: -1 must be >= 0"):
        svc.add_contract(
            staff,
            vendor.id,
            name="bad",
            start_date=date(2025, 1, 1),
            commitment_amount=Decimal(-1),
            commitment_period="MONTHLY",
        )
    with pytest.raises(InvalidContract, match="currency"):
        svc.add_contract(staff, vendor.id, name="bad", start_date=date(2025, 1, 1), currency="dollars")
    with pytest.raises(VendorNotFound):
        svc.add_contract(staff, uuid4(), name="orphan", start_date=date(2025, 1, 1))

    one_day = svc.add_contract(
        staff, vendor.id, name="trial", start_date=date(2025, 1, 1), end_date=date(2025, 1, 1)
    )
    assert one_day.end_date == one_day.start_date  # a one-day contract is allowed
    main = svc.add_contract(
        staff,
        vendor.id,
        name="Alpha 2025",
        start_date=date(2025, 1, 1),
        commitment_amount=Decimal("5000.00"),
        commitment_minutes=100_000,
        commitment_period="monthly",
        payment_terms_days=30,
        terms="US termination, 6/6 billing",
    )
    assert (main.status, main.commitment_period, main.commitment_amount) == (
        "ACTIVE",
        "MONTHLY",
        Decimal("5000.00"),
    )
    assert sorted(c.name for c in svc.list_contracts(staff, vendor.id)) == ["Alpha 2025", "trial"]
    assert svc.list_contracts(staff, other.id) == []
    with pytest.raises(ContractNotFound):
        svc.get_contract(staff, main.id, other.id)  # not that vendor's contract

    with pytest.raises(InvalidContract, match="end_date: 2024-12-31 is before start_date 2025-01-01"):
        svc.end_contract(staff, main.id, end_date=date(2024, 12, 31))
    ended = svc.end_contract(staff, main.id, end_date=date(2025, 6, 30))
    assert (ended.status, ended.end_date) == ("TERMINATED", date(2025, 6, 30))
    with pytest.raises(InvalidContract, match="status: contract 'Alpha 2025' is already TERMINATED"):
        svc.end_contract(staff, main.id)
    assert [c.name for c in svc.list_contracts(staff, vendor.id, status="terminated")] == ["Alpha 2025"]
    # the database refuses what the service would: the check constraints stay the last line
    with pytest.raises(psycopg.errors.CheckViolation), staff.transaction():
        staff.execute("UPDATE vendor_mgmt.contracts SET commitment_period = NULL WHERE id = %s", (main.id,))


def _traffic(conn: psycopg.Connection[Any]) -> dict[str, UUID]:
    """Alpha (contract with a monthly commitment) carries calls in Jan and Feb 2025; Bravo's calls must not count."""

    def one(q: str, p: Any = None) -> UUID:
        row = conn.execute(q, p).fetchone()
        assert row is not None
        return UUID(str(next(iter(row.values()))))

    alpha = svc.create_vendor(conn, name="Alpha", vendor_type="CARRIER")
    bravo = svc.create_vendor(conn, name="Bravo", vendor_type="CARRIER")
    contract = svc.add_contract(
        conn,
        alpha.id,
        name="Alpha 2025",
        start_date=date(2025, 1, 1),
        end_date=date(2025, 3, 15),
        commitment_amount=Decimal("100.00"),
        commitment_minutes=50,
        commitment_period="MONTHLY",
    )
    svc.add_contract(conn, bravo.id, name="Bravo open", start_date=date(2025, 1, 1))
    trunks = {}
    for name, vendor in (("alpha", alpha.id), ("bravo", bravo.id)):
        carrier = one("INSERT INTO routing.carriers (name) VALUES (%s) RETURNING id", (name,))
        conn.execute(
            "INSERT INTO vendor_mgmt.carriers (carrier_id, vendor_id) VALUES (%s, %s)", (carrier, vendor)
        )
        trunks[name] = one(
            "INSERT INTO routing.carrier_trunks (carrier_id, name, host) VALUES (%s, %s, 'sip.example') RETURNING id",
            (carrier, f"{name}-1"),
        )
    calls = [
        # (carrier, start, billable seconds, vendor cost)
        ("alpha", datetime(2025, 1, 10, 12, tzinfo=UTC), 1800, Decimal("60.000000")),
        ("alpha", datetime(2025, 1, 31, 23, 59, tzinfo=UTC), 1800, Decimal("45.500000")),
        ("alpha", datetime(2025, 2, 1, 0, 0, tzinfo=UTC), 600, Decimal("20.000000")),
        ("bravo", datetime(2025, 2, 3, tzinfo=UTC), 60000, Decimal("999.000000")),
        ("alpha", datetime(2025, 4, 2, tzinfo=UTC), 60000, Decimal("999.000000")),  # after the contract
    ]
    for i, (carrier, start, billable, cost) in enumerate(calls):
        raw = one(
            "INSERT INTO cdr.raw_cdr (start_time, call_id, sip_code, duration, carrier_trunk_id) "
            "VALUES (%s, %s, 200, %s, %s) RETURNING id",
            (start, f"c-{i}", billable, trunks[carrier]),
        )
        conn.execute(
            "INSERT INTO cdr.enriched_cdr (start_time, raw_cdr_id, carrier_trunk_id, answered, duration_seconds, "
            "billable_seconds, vendor_cost) VALUES (%s, %s, %s, true, %s, %s, %s)",
            (start, raw, trunks[carrier], billable, billable, cost),
        )
    return {"alpha": alpha.id, "contract": contract.id}


def test_commitments_compare_committed_with_actual(staff: psycopg.Connection[Any]) -> None:
    ids = _traffic(staff)
    # calls are read from reporting.carrier_performance: nothing until it is refreshed
    stale = svc.commitments(staff, date(2025, 1, 1), date(2025, 12, 31))
    assert [r["actual_spend"] for r in stale] == [Decimal("0.00")] * 3
    rows = svc.commitments(staff, date(2025, 1, 1), date(2025, 12, 31), refresh=True)
    assert [(r["contract_name"], r["period_start"], r["period_end"]) for r in rows] == [
        ("Alpha 2025", date(2025, 1, 1), date(2025, 2, 1)),
        ("Alpha 2025", date(2025, 2, 1), date(2025, 3, 1)),
        ("Alpha 2025", date(2025, 3, 1), date(2025, 3, 16)),  # stops at the (inclusive) end date
    ]
    jan, feb, mar = rows
    assert (jan["actual_spend"], jan["spend_shortfall"], jan["actual_minutes"], jan["met"]) == (
        Decimal("105.50"),
        Decimal("0.00"),
        Decimal("60.00"),
        True,
    )
    assert (feb["actual_spend"], feb["spend_shortfall"], feb["actual_minutes"]) == (
        Decimal("20.00"),
        Decimal("80.00"),
        Decimal("10.00"),
    )
    assert feb["minutes_shortfall"] == Decimal("40.00") and feb["met"] is False
    assert mar["actual_spend"] == Decimal("0.00") and mar["in_progress"] is False
    # only the periods overlapping the asked range, and one vendor/contract filter
    only_feb = svc.commitments(staff, date(2025, 2, 10), date(2025, 2, 11), contract_id=ids["contract"])
    assert [r["period_start"] for r in only_feb] == [date(2025, 2, 1)]
    assert svc.commitments(staff, date(2026, 1, 1), date(2026, 2, 1)) == []
    with pytest.raises(InvalidPeriod, match="to: 2025-01-01 must be after from 2025-02-01"):
        svc.commitments(staff, date(2025, 2, 1), date(2025, 1, 1))


def test_quarterly_periods_follow_the_start_date_without_drift(staff: psycopg.Connection[Any]) -> None:
    vendor = svc.create_vendor(staff, name="Charlie", vendor_type="CARRIER")
    svc.add_contract(
        staff,
        vendor.id,
        name="Q",
        start_date=date(2025, 1, 31),
        commitment_amount=Decimal("1.00"),
        commitment_period="QUARTERLY",
    )
    rows = svc.commitments(staff, date(2025, 1, 1), date(2026, 1, 1))
    assert [r["period_start"] for r in rows] == [
        date(2025, 1, 31),
        date(2025, 4, 30),
        date(2025, 7, 31),
        date(2025, 10, 31),
    ]
    assert all(r["actual_spend"] == 0 and r["met"] is False for r in rows[:3])


def test_contracts_due_for_a_decision(staff: psycopg.Connection[Any]) -> None:
    today = date(2025, 6, 1)
    vendor = svc.create_vendor(staff, name="Kilo", vendor_type="CARRIER")
    start = date(2025, 1, 1)

    def add(name: str, end: date | None, **kw: Any) -> None:
        svc.add_contract(staff, vendor.id, name=name, start_date=start, end_date=end, **kw)

    add("ends-in-10", today + timedelta(days=10))  # default notice 30 days
    add("short-notice", today + timedelta(days=10), renewal_notice_days=5)  # not yet
    add("lapsed", today - timedelta(days=1))  # ended but still ACTIVE
    add("renews", today + timedelta(days=20), auto_renew=True, renewal_notice_days=60)
    add("terminated", today - timedelta(days=3), status="TERMINATED")
    add("open-ended", None)
    rows = svc.contracts_due(staff, today)
    assert [(r["contract_name"], r["days_left"], r["reason"]) for r in rows] == [
        ("lapsed", -1, "ENDED_STILL_ACTIVE"),
        ("ends-in-10", 10, "ENDS_SOON"),
        ("renews", 20, "AUTO_RENEWS_SOON"),
    ]


def run(args: list[str]) -> Any:
    return CliRunner().invoke(app, args)


def failed(result: Any, message: str) -> bool:
    """The command stopped on a WarpError (``warp`` prints it as one line) carrying ``message``."""
    return (
        result.exit_code != 0 and isinstance(result.exception, WarpError) and message in str(result.exception)
    )


def test_cli_vendor_and_contract_lifecycle(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARP_DATABASE_URL", db_url)
    out = run(
        ["vendors", "create", "Delta Voice", "--type", "carrier", "--support-email", "noc@delta.example"]
    )
    assert out.exit_code == 0, out.output
    out = run(["vendors", "list", "--json"])
    assert [v["name"] for v in json.loads(out.stdout)] == ["Delta Voice"]
    out = run(["vendors", "update", "Delta Voice", "--status", "INACTIVE", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["status"] == "INACTIVE"

    bad = run(
        [
            "vendors",
            "contracts",
            "add",
            "Delta Voice",
            "--name",
            "x",
            "--start",
            "2025-03-01",
            "--end",
            "2025-02-01",
        ]
    )
    assert failed(bad, "end_date: 2025-02-01 is before start_date 2025-03-01")
    bad = run(["vendors", "contracts", "add", "Delta Voice", "--name", "x", "--start", "March"])
    assert failed(bad, "--start: 'March' is not a date")

    out = run(
        [
            "vendors",
            "contracts",
            "add",
            "Delta Voice",
            "--name",
            "Delta 2025",
            "--start",
            "2025-01-01",
            "--commit-amount",
            "2500.00",
            "--commit-period",
            "monthly",
            "--terms",
            "1/1 billing",
            "--json",
        ]
    )
    assert out.exit_code == 0, out.output
    contract = json.loads(out.stdout)
    assert contract["commitment_amount"] == "2500.00" and contract["commitment_period"] == "MONTHLY"
    out = run(["vendors", "contracts", "list", "Delta Voice", "--json"])
    assert [c["id"] for c in json.loads(out.stdout)] == [contract["id"]]
    out = run(["vendors", "show", "Delta Voice", "--json"])
    shown = json.loads(out.stdout)
    assert shown["vendor"]["status"] == "INACTIVE" and [c["name"] for c in shown["contracts"]] == [
        "Delta 2025"
    ]

    out = run(["vendors", "commitments", "--from", "2025-01-01", "--to", "2025-02-01", "--json"])
    assert out.exit_code == 1  # January has ended without the committed 2500.00 of spend
    (jan,) = json.loads(out.stdout)
    assert jan["spend_shortfall"] == "2500.00" and jan["met"] is False

    assert run(["vendors", "contracts", "due", "--json"]).exit_code == 0  # open-ended: nothing due
    out = run(["vendors", "contracts", "end", contract["id"], "--on", "2025-06-30", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["status"] == "TERMINATED"
    again = run(["vendors", "contracts", "end", contract["id"]])
    assert failed(again, "already TERMINATED")
    missing = run(["vendors", "show", "Nobody"])
    assert failed(missing, "'Nobody': not found")
