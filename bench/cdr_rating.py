"""Enrich + rate throughput: `warp cdr process` over N raw CDRs with a large vendor deck and customer plan.

Builds a scratch database: LERG with every NPA-NXX used (~300k rows), a customer rate plan of 300,000
NPA-NXX prefixes (jurisdictional rates, 6/6 increments) plus country-code rows, 10 carrier trunks
whose decks total 3,000,000 rows (300k NPA-NXX prefixes each, jurisdictional), 100 accounts on
the plan (10 prepaid, so the ledger is written), 10,000 cached LRNs, and N raw CDRs this month
(97% US, 3% international, 70% answered). The decks' exclusion constraints are dropped in the scratch
database to keep set-up short (they guard writes; rating reads through the btree indexes). Then times warp.cdr.rating.process over all of them and
prints a table. Usage:

    .venv/bin/python bench/cdr_rating.py [--cdrs 1000000]

Uses WARP_DATABASE_URL's server, else the embedded cluster under $WARP_HOME.
"""

from __future__ import annotations

import argparse
import time

import psycopg
from cdr_ingest import scratch_db
from rich.console import Console
from rich.table import Table

from warp.cdr import rating
from warp.db import tenant
from warp.db.connection import database_url
from warp.db.migrate import migrate

SETUP = [
    # 300 NPAs x 1000 NXX = 300,000 NPA-NXX in LERG, 50 states
    (
        "lerg",
        "INSERT INTO cdr.lerg (npa, nxx, state, lata, ocn, country) "
        "SELECT (200 + a)::text, lpad(b::text, 3, '0'), chr(65 + a %% 26) || chr(65 + (a / 26) %% 2), '132', '9102', 'US' "
        "FROM generate_series(1, 300) a, generate_series(0, 999) b",
    ),
    ("plan", "INSERT INTO billing.rate_plans (name) VALUES ('bench')"),
    (
        "customer plan 300k",
        "INSERT INTO billing.voice_rates (rate_plan_id, prefix, rate, interstate_rate, intrastate_rate, "
        "indeterminate_rate, initial_increment, subsequent_increment, effective_date) "
        "SELECT p.id, '1' || (200 + a)::text || lpad(b::text, 3, '0'), 0.01, 0.012, 0.008, 0.011, 6, 6, '2020-01-01' "
        "FROM billing.rate_plans p, generate_series(1, 300) a, generate_series(0, 999) b",
    ),
    (
        "customer plan intl",
        "INSERT INTO billing.voice_rates (rate_plan_id, prefix, rate, initial_increment, subsequent_increment, "
        "effective_date) SELECT p.id, c::text, 0.05, 60, 60, '2020-01-01' FROM billing.rate_plans p, generate_series(20, 99) c",
    ),
    (
        "accounts",
        "INSERT INTO accounts.accounts (ban, name) SELECT 'B' || g, 'A' || g FROM generate_series(1, 100) g",
    ),
    (
        "plan assignment",
        "INSERT INTO billing.account_rate_plans (account_id, rate_plan_id, effective_at) "
        "SELECT a.id, p.id, '2020-01-01' FROM accounts.accounts a, billing.rate_plans p",
    ),
    (
        "prepaid",
        "INSERT INTO billing.account_balance (account_id, balance, billing_cycle) "
        "SELECT id, 0, 'PREPAID' FROM accounts.accounts WHERE ban IN ('B1','B2','B3','B4','B5','B6','B7','B8','B9','B10')",
    ),
    ("carriers", "INSERT INTO routing.carriers (name) VALUES ('alpha')"),
    (
        "carrier trunks",
        "INSERT INTO routing.carrier_trunks (carrier_id, name, host) "
        "SELECT c.id, 'alpha-' || g, 'sip' || g || '.alpha' FROM routing.carriers c, generate_series(1, 10) g",
    ),
    (
        "vendor decks 3M",
        "INSERT INTO routing.rate_deck (carrier_trunk_id, prefix, rate, interstate_rate, intrastate_rate, "
        "indeterminate_rate, effective_date) "
        "SELECT ct.id, '1' || (200 + a)::text || lpad(b::text, 3, '0'), 0.004, 0.005, 0.003, 0.0045, '2020-01-01' "
        "FROM routing.carrier_trunks ct, generate_series(1, 300) a, generate_series(0, 999) b",
    ),
    (
        "vendor intl",
        "INSERT INTO routing.rate_deck (carrier_trunk_id, prefix, rate, effective_date) "
        "SELECT ct.id, c::text, 0.03, '2020-01-01' FROM routing.carrier_trunks ct, generate_series(20, 99) c",
    ),
    (
        "raw CDRs",
        "INSERT INTO cdr.raw_cdr (start_time, call_id, duration, sip_code, ani, dnis, account_id, "
        "carrier_trunk_id, trunk_identified, source_ip) "
        "SELECT date_trunc('month', now()) + (g * interval '2 seconds'), 'c' || g, "
        "CASE WHEN g %% 10 < 7 THEN (g %% 600) + 0.5 ELSE 0 END, CASE WHEN g %% 10 < 7 THEN 200 ELSE 486 END, "
        "'+1' || (201 + g %% 300) || lpad(((g / 7) %% 1000)::text, 3, '0') || '1234', "
        "CASE WHEN g %% 33 = 0 THEN '+44207946' || lpad((g %% 10000)::text, 4, '0') "
        "     ELSE '+1' || (201 + (g / 3) %% 300) || lpad(((g / 11) %% 1000)::text, 3, '0') || lpad((g %% 10000)::text, 4, '0') END, "
        "a.ids[1 + g %% 100], ct.ids[1 + g %% 10], false, '10.0.0.1' "
        "FROM generate_series(1, %(cdrs)s) g, "
        "(SELECT array_agg(id ORDER BY ban) AS ids FROM accounts.accounts) a, "
        "(SELECT array_agg(id ORDER BY name) AS ids FROM routing.carrier_trunks) ct",
    ),
    (
        "LRN cache 10k",
        "INSERT INTO cdr.lrn_cache (number, lrn) SELECT DISTINCT ON (dnis) dnis, '+12015550000' "
        "FROM cdr.raw_cdr WHERE dnis LIKE '+1%%' LIMIT 10000",
    ),
]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cdrs", type=int, default=1_000_000)
    args = parser.parse_args()
    console = Console()
    url = scratch_db(database_url(), "warp_bench_cdr_rating")
    migrate(url)
    with psycopg.connect(url) as conn:
        # Set-up only: the decks' GiST exclusion constraints (no overlapping periods per prefix) make
        # a 3.3M-row bulk insert take tens of minutes on this machine; rating reads through the btree
        # (carrier_trunk_id | rate_plan_id, prefix, effective_date) indexes, which stay.
        conn.execute("ALTER TABLE routing.rate_deck DROP CONSTRAINT rate_deck_carrier_trunk_id_prefix_excl")
        conn.execute("ALTER TABLE billing.voice_rates DROP CONSTRAINT voice_rates_rate_plan_id_prefix_excl")
        # Set-up only: reference data loads without per-row audit and foreign-key triggers (a 3M-row
        # deck would otherwise write 3M audit rows first); the rating run below has every trigger.
        conn.execute("SET session_replication_role = replica")
        for label, stmt in SETUP:
            t0 = time.monotonic()
            conn.execute(stmt, {"cdrs": args.cdrs})
            conn.commit()
            console.print(f"set-up {label}: {time.monotonic() - t0:.1f} s")
        conn.execute("SET session_replication_role = origin")
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")
        # The set-up wrote gigabytes of WAL; a checkpoint lets the server recycle those segment files, as
        # a running server does, so the timed run does not create (zero-fill) new ones (XLogFileInit).
        conn.execute("CHECKPOINT")
        conn.autocommit = False
        deck = conn.execute("SELECT count(*) FROM routing.rate_deck").fetchone()[0]  # type: ignore[index]
        plan = conn.execute("SELECT count(*) FROM billing.voice_rates").fetchone()[0]  # type: ignore[index]
        t0 = time.monotonic()
        with tenant.transaction(conn, tenant.Context(staff=True, actor_type="SYSTEM")):
            result = rating.process(conn)
        secs = time.monotonic() - t0
        ledger = conn.execute("SELECT count(*) FROM billing.balance_ledger").fetchone()[0]  # type: ignore[index]
    table = Table(
        title=f"Enrich + rate, {result.cdrs:,} CDRs (vendor deck {deck:,} rows, customer plan {plan:,} rows)"
    )
    for col in (
        "CDRs",
        "rated",
        "unrated",
        "uncosted",
        "prepaid ledger rows",
        "windows",
        "seconds",
        "CDRs/s",
    ):
        table.add_column(col, justify="right")
    table.add_row(
        f"{result.cdrs:,}",
        f"{result.rated:,}",
        f"{result.unrated:,}",
        f"{result.uncosted:,}",
        f"{ledger:,}",
        str(result.windows),
        f"{secs:.1f}",
        f"{result.cdrs / secs:,.0f}",
    )
    console.print(table)
    console.print(f"unrated reasons: {result.reasons}; revenue {result.revenue}, cost {result.cost}")


if __name__ == "__main__":
    main()
