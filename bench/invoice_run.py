"""Benchmark: invoice run over 10,000 accounts, 1,000,000 rated CDRs and 100,000 MDRs (synthetic, SQL-generated),
and concurrent debits per second on one account and across accounts.

    .venv/bin/python bench/invoice_run.py [--accounts 10000] [--cdrs 1000000] [--mdrs 100000] [--late 10000]
        [--workers 8]

Uses a scratch database on the embedded cluster (or WARP_BENCH_ADMIN_URL), migrated and seeded with reference data.
The generated data is ANALYZEd after loading (autovacuum would have done it in production); the run itself
refreshes the statistics of the tables it writes (billing.analyze_run_tables).
"""

from __future__ import annotations

import argparse
import os
import threading
import time
import uuid
from datetime import date
from decimal import Decimal

import psycopg
from rich.console import Console
from rich.table import Table

from warp.billing import invoices, ledger
from warp.billing.errors import InsufficientFunds
from warp.db import tenant
from warp.db.migrate import migrate
from warp.db.seed import seed

STAFF = tenant.Context(staff=True, actor_type="SYSTEM")


def admin_url() -> str:
    url = os.environ.get("WARP_BENCH_ADMIN_URL")
    if url:
        return url
    from warp.db.connection import database_url

    return database_url()


def scratch(admin: str) -> str:
    name = f"warp_bench_inv_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = admin.rpartition("/")
    query = ""
    if "?" in admin:
        query = "?" + admin.split("?", 1)[1]
    return f"{base}/{name}{query}"


def generate(url: str, accounts: int, cdrs: int, mdrs: int, vacuum: bool = False) -> float:
    started = time.monotonic()
    with psycopg.connect(url, autocommit=True) as c:
        c.execute(
            "INSERT INTO accounts.accounts (ban, name, account_type, billing_state) "
            "SELECT 'BENCH-' || g, 'Bench ' || g, 'CUSTOMER', (ARRAY['CO','NY','TX','IL'])[1 + g %% 4] "
            "FROM generate_series(1, %s) g",
            (accounts,),
        )
        c.execute(
            "INSERT INTO billing.account_balance (account_id, billing_cycle) "
            "SELECT id, CASE WHEN row_number() OVER (ORDER BY ban) % 10 = 0 THEN 'PREPAID' ELSE 'POSTPAID' END "
            "FROM accounts.accounts WHERE ban LIKE 'BENCH-%'"
        )
        c.execute(
            "CREATE TEMP TABLE accts AS SELECT row_number() OVER (ORDER BY id) AS n, id FROM accounts.accounts "
            "WHERE ban LIKE 'BENCH-%'"
        )
        c.execute("CREATE INDEX ON accts (n)")
        c.execute(
            "CREATE TEMP TABLE gen AS SELECT g, timestamptz '2026-11-01' + (g %% 2592000) * interval '1 second' AS t, "
            "uuid_generate_v4() AS rid FROM generate_series(1, %s) g",
            (cdrs,),
        )
        c.execute(
            "INSERT INTO cdr.raw_cdr (id, start_time, call_id, duration, sip_code, ani, dnis, account_id, source_ip) "
            "SELECT rid, t, 'bench-' || g, 60, 200, '+13035550100', '+12125550100', a.id, '10.0.0.1' "
            "FROM gen JOIN accts a ON a.n = 1 + g %% %s",
            (accounts,),
        )
        c.execute(
            "INSERT INTO cdr.enriched_cdr (start_time, raw_cdr_id, account_id, dnis, jurisdiction, answered, "
            "duration_seconds, billable_seconds, customer_rate, customer_charge, vendor_cost, rating_status, rated_at) "
            "SELECT t, rid, a.id, '+12125550100', (ARRAY['INTERSTATE','INTRASTATE','INTERNATIONAL','INDETERMINATE'])"
            "[1 + g %% 4], true, 60, 60, 0.01, 0.010000 + (g %% 7) * 0.000123, 0.005, 'RATED', now() "
            "FROM gen JOIN accts a ON a.n = 1 + g %% %s",
            (accounts,),
        )
        c.execute(
            "INSERT INTO messaging.mdr (created_at, account_id, direction, message_type, from_number, to_number, "
            "segments, status, rate, charge) SELECT timestamptz '2026-11-01' + (g %% 2592000) * interval '1 second', "
            "a.id, 'OUTBOUND', CASE WHEN g %% 10 = 0 THEN 'MMS' ELSE 'SMS' END, '+13035550100', '+12125550100', "
            "1 + g %% 3, 'DELIVERED', 0.004, 0.004 * (1 + g %% 3) FROM generate_series(1, %s) g "
            "JOIN accts a ON a.n = 1 + g %% %s",
            (mdrs, accounts),
        )
        # two DIDs per account, one activated mid-month
        c.execute(
            "INSERT INTO numbers.inventory (number, number_type, status) SELECT '+1720' || lpad(g::text, 7, '0'), "
            "'DID', 'ACTIVE' FROM generate_series(1, %s) g",
            (2 * accounts,),
        )
        c.execute(
            "INSERT INTO numbers.did_assignments (account_id, inventory_id, number, activated_at, monthly_charge, "
            "setup_charge) SELECT a.id, i.id, i.number, CASE WHEN g % 2 = 0 THEN timestamptz '2026-10-01' "
            "ELSE timestamptz '2026-11-16' END, 1.00, CASE WHEN g % 2 = 0 THEN NULL ELSE 2.00 END "
            "FROM (SELECT id, number, row_number() OVER (ORDER BY number) AS g FROM numbers.inventory "
            "WHERE number LIKE '+1720%') i JOIN accts a ON a.n = 1 + (i.g - 1) / 2"
        )
        # What autovacuum would have done to month-old data in production: statistics (always) and, with
        # --vacuum, hint bits and the visibility map too (the first scan of fresh rows otherwise writes them).
        c.execute("VACUUM ANALYZE" if vacuum else "ANALYZE")
    return time.monotonic() - started


def add_late_usage(url: str, accounts: int, late: int) -> None:
    """``late`` CDRs of November (rated after November was invoiced) and one December CDR per account."""
    with psycopg.connect(url, autocommit=True) as c:
        c.execute(
            "CREATE TEMP TABLE accts AS SELECT row_number() OVER (ORDER BY id) AS n, id FROM accounts.accounts "
            "WHERE ban LIKE 'BENCH-%'"
        )
        c.execute(
            "CREATE TEMP TABLE gen AS SELECT g, t, uuid_generate_v4() AS rid FROM ("
            "SELECT g, timestamptz '2026-11-01' + (g * 7 %% 2592000) * interval '1 second' AS t "
            "FROM generate_series(1, %s) g UNION ALL "
            "SELECT %s + g, timestamptz '2026-12-01' + g * interval '1 second' FROM generate_series(1, %s) g) x",
            (late, late, accounts),
        )
        c.execute(
            "INSERT INTO cdr.raw_cdr (id, start_time, call_id, duration, sip_code, ani, dnis, account_id, source_ip) "
            "SELECT rid, t, 'bench-late-' || g, 60, 200, '+13035550100', '+12125550100', a.id, '10.0.0.1' "
            "FROM gen JOIN accts a ON a.n = 1 + g %% %s",
            (accounts,),
        )
        c.execute(
            "INSERT INTO cdr.enriched_cdr (start_time, raw_cdr_id, account_id, dnis, jurisdiction, answered, "
            "duration_seconds, billable_seconds, customer_rate, customer_charge, vendor_cost, rating_status, rated_at) "
            "SELECT t, rid, a.id, '+12125550100', 'INTERSTATE', true, 60, 60, 0.01, 0.010000, 0.005, 'RATED', now() "
            "FROM gen JOIN accts a ON a.n = 1 + g %% %s",
            (accounts,),
        )
        c.execute("ANALYZE cdr.enriched_cdr")


def debit_rate(url: str, accounts: list[uuid.UUID], workers: int, per_worker: int) -> float:
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []

    def work(i: int) -> None:
        acct = accounts[i % len(accounts)]
        try:
            with psycopg.connect(url) as c:
                barrier.wait()
                for _ in range(per_worker):
                    with tenant.transaction(c, tenant.Context(account_id=acct)):
                        ledger.debit(c, acct, Decimal("0.001"))
        except InsufficientFunds:
            pass
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    if errors:
        raise errors[0]
    return workers * per_worker / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--cdrs", type=int, default=1_000_000)
    parser.add_argument("--mdrs", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--debits", type=int, default=250, help="debits per worker")
    parser.add_argument(
        "--late", type=int, default=10_000, help="CDRs of November rated after it was invoiced (late usage)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument(
        "--vacuum", action="store_true", help="VACUUM ANALYZE the generated data (not only ANALYZE)"
    )
    parser.add_argument(
        "--no-line-audit",
        action="store_true",
        help="measurement only: disable the audit trigger of billing.invoice_items in the scratch database",
    )
    args = parser.parse_args()
    console = Console()
    admin = admin_url()
    url = scratch(admin)
    try:
        migrate(url)
        seed(url)
        gen = generate(url, args.accounts, args.cdrs, args.mdrs, args.vacuum)
        console.print(f"generated data in {gen:.1f} s")
        if args.no_line_audit:
            with psycopg.connect(url, autocommit=True) as c:
                c.execute("ALTER TABLE billing.invoice_items DISABLE TRIGGER invoice_items_audit_trg")
        with psycopg.connect(url) as conn, tenant.transaction(conn, STAFF):
            result = invoices.run(conn, period_start=date(2026, 11, 1), period_end=date(2026, 11, 30))
        with psycopg.connect(url) as conn, tenant.transaction(conn, STAFF):
            rerun = invoices.run(
                conn, period_start=date(2026, 11, 1), period_end=date(2026, 11, 30), issue=True
            )
        add_late_usage(url, args.accounts, args.late)
        with psycopg.connect(url) as conn, tenant.transaction(conn, STAFF):
            december = invoices.run(
                conn, period_start=date(2026, 12, 1), period_end=date(2026, 12, 31), issue=True
            )
        with psycopg.connect(url) as conn:
            billed = conn.execute(
                "SELECT coalesce(sum(quantity), 0) FROM billing.invoice_items it JOIN billing.invoices i "
                "ON i.id = it.invoice_id WHERE i.period_start = '2026-12-01' AND it.item_type = 'VOICE' "
                "AND it.period_start = '2026-11-01'"
            ).fetchone()
            ok = conn.execute("SELECT count(*) FROM billing.check_ledger()").fetchone()
            rows = conn.execute(
                "SELECT account_id FROM billing.account_balance ORDER BY account_id LIMIT %s", (args.workers,)
            ).fetchall()
            conn.execute("UPDATE billing.account_balance SET billing_cycle = 'POSTPAID'")
            conn.commit()
        accts = [uuid.UUID(str(r[0])) for r in rows]
        one = debit_rate(url, accts[:1], args.workers, args.debits)
        many = debit_rate(url, accts, args.workers, args.debits)
        table = Table("measure", "value", "target")
        table.add_row(
            f"invoice run (drafts): {args.accounts:,} accounts, {args.cdrs:,} CDRs, {args.mdrs:,} MDRs",
            f"{result.seconds:.1f} s ({result.invoices:,} invoices, {result.tax_lines:,} tax lines)",
            "< 60 s",
        )
        for name, secs in result.steps.items():
            table.add_row(f"  step: {name}", f"{secs:.1f} s", "")
        table.add_row(
            "re-run + issue all (regenerate drafts, numbers, ledger, events)",
            f"{rerun.seconds:.1f} s (created {rerun.created}, issued {rerun.issued:,})",
            "",
        )
        for name, secs in rerun.steps.items():
            table.add_row(f"  step: {name}", f"{secs:.1f} s", "")
        table.add_row(
            f"next run (2026-12, issue) with {args.late:,} late CDRs of the issued 2026-11",
            f"{december.seconds:.1f} s ({december.invoices:,} invoices, "
            f"late minutes billed {billed[0] if billed else '?'} of {args.late:,})",
            "",
        )
        for name, secs in december.steps.items():
            table.add_row(f"  step: {name}", f"{secs:.1f} s", "")
        table.add_row("ledger check after the runs (mismatching accounts)", str(ok[0] if ok else "?"), "0")
        table.add_row(f"debits/s, one account, {args.workers} connections", f"{one:,.0f}", "")
        table.add_row(f"debits/s, {args.workers} accounts, {args.workers} connections", f"{many:,.0f}", "")
        console.print(table)
    finally:
        if not args.keep:
            with psycopg.connect(admin, autocommit=True) as c:
                c.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                    (url.rsplit("/", 1)[1].split("?")[0],),
                )
                c.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1].split("?")[0]}"')


if __name__ == "__main__":
    main()
