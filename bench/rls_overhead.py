"""Row-level security overhead on a typical indexed tenant query.

Builds a scratch database (migrated schema, N accounts x M contacts), then times the same tenant
query three ways from one connection:
  no-rls     superuser, explicit WHERE account_id = $1 (RLS bypassed)
  rls        warp_app with warp.account_id set, no WHERE clause (the policy filters)
  rls+where  warp_app with the tenant set and the explicit WHERE as well
Each way runs inside one transaction per query, as the API does, and the per-transaction
set_config is timed separately. Prints a table. Usage:

    .venv/bin/python bench/rls_overhead.py [--accounts 500] [--contacts 400] [--queries 5000]

Uses WARP_DATABASE_URL's server, else the embedded cluster under $WARP_HOME.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import uuid

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from rich.console import Console
from rich.table import Table

from warp.db.connection import database_url
from warp.db.migrate import migrate

QUERY_RLS = "SELECT id, name FROM accounts.contacts ORDER BY name LIMIT 20"
QUERY_WHERE = "SELECT id, name FROM accounts.contacts WHERE account_id = %s ORDER BY name LIMIT 20"


def scratch_db(base_url: str, name: str) -> str:
    params = conninfo_to_dict(base_url)
    admin = make_conninfo(**{**params, "dbname": "postgres"})
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return make_conninfo(**{**params, "dbname": name})


def load(url: str, accounts: int, contacts: int) -> list[uuid.UUID]:
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO accounts.accounts (ban, name)"
            " SELECT 'B' || g, 'Account ' || g FROM generate_series(1, %s) AS g",
            (accounts,),
        )
        # Bulk load without the audit trigger: this is set-up, not what is measured.
        conn.execute("ALTER TABLE accounts.contacts DISABLE TRIGGER contacts_audit_trg")
        conn.execute(
            "INSERT INTO accounts.contacts (account_id, name, email)"
            " SELECT a.id, 'Contact ' || g, 'c' || g || '@example.com'"
            " FROM accounts.accounts a CROSS JOIN generate_series(1, %s) AS g",
            (contacts,),
        )
        conn.execute("ALTER TABLE accounts.contacts ENABLE TRIGGER contacts_audit_trg")
        conn.commit()
        conn.execute("ANALYZE accounts.contacts")
        conn.commit()
        return [r[0] for r in conn.execute("SELECT id FROM accounts.accounts")]


def timed(samples: list[float], fn: object) -> None:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    samples.append((time.perf_counter() - start) * 1000)


def run(url: str, ids: list[uuid.UUID], queries: int) -> dict[str, dict[str, list[float]]]:
    rng = random.Random(7)
    results: dict[str, dict[str, list[float]]] = {}
    with psycopg.connect(url) as conn:
        for mode in ("no-rls", "rls", "rls+where"):
            setup: list[float] = []
            query: list[float] = []
            for _ in range(queries):
                account = rng.choice(ids)
                with conn.transaction():
                    if mode != "no-rls":
                        timed(
                            setup,
                            lambda a=account: conn.execute(
                                "SELECT set_config('role', 'warp_app', true),"
                                " set_config('warp.account_id', %s, true)",
                                (str(a),),
                            ),
                        )
                    if mode == "rls":
                        timed(query, lambda: conn.execute(QUERY_RLS, prepare=True).fetchall())
                    else:
                        timed(
                            query,
                            lambda a=account: conn.execute(QUERY_WHERE, (a,), prepare=True).fetchall(),
                        )
            results[mode] = {"setup": setup, "query": query}
        with conn.transaction():
            conn.execute(
                "SELECT set_config('role', 'warp_app', true), set_config('warp.account_id', %s, true)",
                (str(ids[0]),),
            )
            plan = conn.execute("EXPLAIN " + QUERY_RLS).fetchall()
    Console().print("plan under RLS:\n  " + "\n  ".join(r[0] for r in plan))
    return results


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=500)
    parser.add_argument("--contacts", type=int, default=400, help="contacts per account")
    parser.add_argument("--queries", type=int, default=5000)
    args = parser.parse_args()

    url = scratch_db(database_url(), "warp_bench_rls")
    migrate(url)
    ids = load(url, args.accounts, args.contacts)
    results = run(url, ids, args.queries)

    table = Table(
        title=f"RLS overhead: {args.accounts} accounts x {args.contacts} contacts, {args.queries} queries each"
    )
    for col in ("mode", "query p50 ms", "query p99 ms", "query mean ms", "set_config mean ms"):
        table.add_column(col, justify="right")
    base = statistics.mean(results["no-rls"]["query"])
    for mode, r in results.items():
        q = r["query"]
        table.add_row(
            mode,
            f"{pct(q, 0.50):.3f}",
            f"{pct(q, 0.99):.3f}",
            f"{statistics.mean(q):.3f} ({statistics.mean(q) / base:.2f}x)",
            f"{statistics.mean(r['setup']):.3f}" if r["setup"] else "-",
        )
    Console().print(table)


if __name__ == "__main__":
    main()
