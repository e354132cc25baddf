"""Enrichment + rating (cdr process), prepaid debits, re-rating around issued invoices, hourly summaries."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cdr_helpers import World, build_world, cdr_rows, one, write_csv

from warp.cdr import rating
from warp.cdr.ingest import import_file
from warp.cdr.reference import LocalLrnProvider
from warp.db import tenant
from warp.db.tenant import Context


def staff_world(conn: psycopg.Connection[Any], *, prepaid: bool = False) -> World:
    world = build_world(conn, prepaid=prepaid)
    conn.autocommit = False
    tenant.apply(conn, Context(staff=True, actor_type="SYSTEM"))
    return world


def enriched(conn: psycopg.Connection[Any], call_id: str) -> dict[str, Any]:
    cur = conn.execute(
        "SELECT e.* FROM cdr.enriched_cdr e JOIN cdr.raw_cdr r ON r.id = e.raw_cdr_id AND r.start_time = e.start_time "
        "WHERE r.call_id = %s",
        (call_id,),
    )
    names = [d.name for d in cur.description or []]
    row = cur.fetchone()
    assert row is not None
    return dict(zip(names, row, strict=True))


def test_process_enriches_and_rates(conn: psycopg.Connection[Any], tmp_path: Path) -> None:
    staff_world(conn)
    import_file(conn, write_csv(tmp_path / "a.csv", cdr_rows(40)))
    result = rating.process(conn)
    assert result.cdrs == 40
    assert one(conn, "SELECT count(*) FROM cdr.enriched_cdr") == 40
    # call-0: Acme (10.1.0.7) -> +13035550100, NY -> CO interstate, 0.5 s answered
    e = enriched(conn, "call-0@switch")
    assert e["jurisdiction"] == "INTERSTATE" and e["origin_state"] == "NY" and e["terminating_state"] == "CO"
    assert e["rating_status"] == "RATED" and e["customer_rate_prefix"] == "1"
    assert e["customer_rate"] == Decimal("0.012000") and e["billable_seconds"] == 6
    assert e["customer_charge"] == Decimal("0.001200")  # 6 s at 0.012/min
    assert e["vendor_rate"] == Decimal("0.005000") and e["vendor_cost"] == Decimal("0.000083")  # 1/1: 1 s
    assert e["margin"] == Decimal("0.001117")
    # call-1: Acme (10.1.0.5) -> 2125550101 intrastate NY, longest prefix 1212; 1.5 s -> 2 s -> 6 s billed
    e = enriched(conn, "call-1@switch")
    assert e["jurisdiction"] == "INTRASTATE" and e["customer_rate_prefix"] == "1212"
    assert e["customer_rate"] == Decimal("0.009000") and e["customer_charge"] == Decimal("0.000900")
    # call-2: Globex has no plan
    e = enriched(conn, "call-2@switch")
    assert (
        e["rating_status"] == "UNRATED"
        and e["unrated_reason"] == "NO_RATE_PLAN"
        and e["customer_charge"] is None
    )
    # call-3: unanswered (486) from Globex; call-4: unknown source -> NO_ACCOUNT, never a silent zero
    e = enriched(conn, "call-4@switch")
    assert e["rating_status"] == "UNRATED" and e["unrated_reason"] == "NO_ACCOUNT" and e["account_id"] is None
    e = enriched(conn, "call-15@switch")  # 15 % 5 == 0 -> Acme, 15 % 4 == 3 -> unanswered
    assert e["rating_status"] == "RATED" and e["answered"] is False and e["customer_charge"] == Decimal("0")
    assert e["billable_seconds"] == 0
    assert result.reasons == {"NO_RATE_PLAN": 16, "NO_ACCOUNT": 8}
    # processing again finds nothing pending
    assert rating.process(conn).cdrs == 0


def test_lrn_provider_consulted_and_cached(conn: psycopg.Connection[Any], tmp_path: Path) -> None:
    staff_world(conn)
    import_file(conn, write_csv(tmp_path / "a.csv", cdr_rows(2)))
    # +12125550101 is ported to a Colorado switch
    provider = LocalLrnProvider({"+12125550101": "+13035550000"})
    rating.process(conn, provider=provider)
    assert enriched(conn, "call-1@switch")["jurisdiction"] == "INTERSTATE"
    assert enriched(conn, "call-1@switch")["lrn"] == "+13035550000"
    assert provider.calls == [["+12125550101", "+13035550100"]]
    assert (
        one(conn, "SELECT count(*) FROM cdr.lrn_cache WHERE source = 'PROVIDER' AND expires_at > now()") == 2
    )


def test_prepaid_debited_through_ledger(conn: psycopg.Connection[Any], tmp_path: Path) -> None:
    world = staff_world(conn, prepaid=True)
    import_file(conn, write_csv(tmp_path / "a.csv", cdr_rows(40)))
    result = rating.process(conn)
    charged = one(
        conn,
        "SELECT sum(customer_charge) FROM cdr.enriched_cdr WHERE account_id = %s AND customer_charge > 0",
        (world.acme,),
    )
    assert charged > 0 and result.prepaid_debited == charged
    balance = one(conn, "SELECT balance FROM billing.account_balance WHERE account_id = %s", (world.acme,))
    ledger = one(conn, "SELECT sum(amount) FROM billing.balance_ledger WHERE account_id = %s", (world.acme,))
    assert balance == ledger == Decimal(100) - charged
    last_after = one(
        conn,
        "SELECT balance_after FROM billing.balance_ledger WHERE account_id = %s AND source_type = 'CDR' "
        "ORDER BY balance_after LIMIT 1",
        (world.acme,),
    )
    assert last_after == balance
    n_ledger = one(conn, "SELECT count(*) FROM billing.balance_ledger WHERE source_type = 'CDR'")
    assert n_ledger == one(
        conn,
        "SELECT count(*) FROM cdr.enriched_cdr WHERE account_id = %s AND customer_charge > 0",
        (world.acme,),
    )


def test_rerate_skips_issued_invoices(conn: psycopg.Connection[Any], tmp_path: Path) -> None:
    world = staff_world(conn, prepaid=True)
    import_file(conn, write_csv(tmp_path / "a.csv", cdr_rows(40)))
    rating.process(conn)
    before = enriched(conn, "call-0@switch")["customer_charge"]
    # rate correction: interstate doubles
    conn.execute("UPDATE billing.voice_rates SET interstate_rate = 0.024 WHERE prefix = '1'")
    start, end = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
    result = rating.rerate(conn, start=start, end=end, account_id=world.acme)
    assert enriched(conn, "call-0@switch")["customer_charge"] == before * 2
    assert result.changed > 0 and result.locked == []
    balance = one(conn, "SELECT balance FROM billing.account_balance WHERE account_id = %s", (world.acme,))
    ledger = one(conn, "SELECT sum(amount) FROM billing.balance_ledger WHERE account_id = %s", (world.acme,))
    assert balance == ledger
    # an issued invoice for November freezes Acme's CDRs
    conn.execute(
        "INSERT INTO billing.invoices (account_id, invoice_number, status, period_start, period_end) "
        "VALUES (%s, '2026-000001', 'ISSUED', '2026-11-01', '2026-11-30')",
        (world.acme,),
    )
    conn.execute("UPDATE billing.voice_rates SET interstate_rate = 0.5 WHERE prefix = '1'")
    result = rating.rerate(conn, start=start, end=end)
    assert enriched(conn, "call-0@switch")["customer_charge"] == before * 2
    assert result.locked == [{"invoice_number": "2026-000001", "ban": "ACME", "cdrs": 16}]
    assert result.cdrs == 24  # Globex + unattributed still re-rated


def test_hourly_summary_idempotent(conn: psycopg.Connection[Any], tmp_path: Path) -> None:
    staff_world(conn)
    import_file(conn, write_csv(tmp_path / "a.csv", cdr_rows(40)))
    hour = datetime(2026, 11, 10, 12, 30, tzinfo=UTC)
    # before enrichment: everything UNKNOWN, unattributed counted separately
    assert one(conn, "SELECT cdr.calculate_hourly_summary(%s)", (hour,)) == 3
    rating.process(conn)
    n = one(conn, "SELECT cdr.calculate_hourly_summary(%s)", (hour,))
    snapshot = conn.execute(
        "SELECT account_id, direction, jurisdiction, attempts, answered, asr, acd_seconds, billable_minutes, revenue, "
        "cost, margin FROM cdr.hourly_summary ORDER BY 1, 2, 3"
    ).fetchall()
    assert one(conn, "SELECT cdr.calculate_hourly_summary(%s)", (hour,)) == n
    again = conn.execute(
        "SELECT account_id, direction, jurisdiction, attempts, answered, asr, acd_seconds, billable_minutes, revenue, "
        "cost, margin FROM cdr.hourly_summary ORDER BY 1, 2, 3"
    ).fetchall()
    assert snapshot == again and len(again) == n
    assert one(conn, "SELECT count(*) FROM cdr.hourly_summary WHERE jurisdiction = 'UNKNOWN'") == 0
    assert one(conn, "SELECT sum(attempts) FROM cdr.hourly_summary") == 40
    assert one(conn, "SELECT sum(attempts) FROM cdr.hourly_summary WHERE account_id IS NULL") == 8
    revenue = one(conn, "SELECT sum(revenue) FROM cdr.hourly_summary")
    assert revenue == one(conn, "SELECT sum(customer_charge) FROM cdr.enriched_cdr")
    acme = one(
        conn,
        "SELECT sum(answered)::numeric / sum(attempts) FROM cdr.hourly_summary h JOIN accounts.accounts a ON a.id = h.account_id WHERE a.ban = 'ACME'",
    )
    assert acme == pytest.approx(Decimal("0.75"))
