"""Available-number search latency and reservation throughput under contention (issue 5).

Not a test: prints tables. Usage:

    .venv/bin/python bench/numbers_search.py [--numbers 1000000] [--queries 500] [--clients 8,50] [--seconds 5]
        [--skip-load] [--only 'FILTER NAME PART'] [--skip-reservations] [--ab-prepared]

Builds a scratch database (``warp_bench_numbers``) on WARP_DATABASE_URL's server, else the embedded
cluster under $WARP_HOME, migrates it and generates the inventory with generate_series (95% DIDs over
95 NPAs x 10 NXX x 1,000 lines spread over 20 states, 5% toll-free; every fifth number ACTIVE). Then:

1. search: ``warp.numbers.service.search_available`` -- the function behind GET /v1/available-numbers --
   inside a tenant transaction as warp_app (RLS applies), random parameters per query, for each filter
   kind; p50/p99/max of the query (the per-transaction set_config is not included, ~0.07 ms);
2. reservations: N threads, each with its own connection and tenant, for ``--seconds``:
   a) ``reserve`` of 1-3 random numbers from a pool of 20,000 (a refusal: one of them already taken; all or nothing),
   b) ``reserve_matching`` (filter npa + quantity 5: every client wants the same first numbers);
   c) the race: N clients reserve the same 10 numbers at once; exactly one must win each.
"""

from __future__ import annotations

import argparse
import os
import random
import threading
import time
import uuid
from collections.abc import Callable
from datetime import date
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from rich.console import Console
from rich.table import Table

from warp.db import tenant
from warp.db.connection import database_url
from warp.db.migrate import migrate
from warp.numbers import service
from warp.numbers.errors import NumbersNotAvailable
from warp.numbers.service import SearchFilter

console = Console()

DID_NPAS = [str(201 + 7 * i) for i in range(95)]  # 201..859, none of them toll-free
TF_NPAS = ["800", "833", "844", "855", "866"]
STATES = ["CA", "CO", "TX", "NY", "FL", "IL", "WA", "GA", "NC", "OH", "PA", "MI", "AZ", "MA", "NJ",
          "VA", "TN", "MN", "OR", "MO"]  # fmt: skip
NXX_STEP = 37  # NXX of NPA i: 200 + (37 * k + 53 * i) % 800, k = 0..9; lines scattered over 0000-9999


def scratch_db(base_url: str, name: str) -> str:
    params = conninfo_to_dict(base_url)
    admin = make_conninfo(**{**params, "dbname": "postgres"})
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return make_conninfo(**{**params, "dbname": name})


def load(url: str, total: int, accounts: int) -> list[uuid.UUID]:
    """Generate ``total`` inventory rows (set-based) and ``accounts`` customer accounts."""
    per_npa = 10_000
    tf_total = total // 20
    did_total = total - tf_total
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO accounts.accounts (ban, name, account_type)"
            " SELECT 'BN' || g, 'Bench ' || g, 'CUSTOMER' FROM generate_series(1, %s) AS g",
            (accounts,),
        )
        # Set-up, not what is measured: no audit rows for a million generated numbers.
        conn.execute("ALTER TABLE numbers.inventory DISABLE TRIGGER inventory_audit_trg")
        conn.execute(
            """
            INSERT INTO numbers.inventory (number, number_type, status, npa, nxx, rate_center, state, lata,
                                           ocn, features)
            SELECT '+1' || npa || nxx || lpad((((g %% 1000) * 9973 + i * 31) %% 10000)::text, 4, '0'), kind,
                   CASE WHEN g %% 5 = 0 THEN 'ACTIVE' ELSE 'AVAILABLE' END,
                   npa, nxx, CASE WHEN kind = 'DID' THEN 'RC ' || npa || '-' || (k %% 3) END,
                   CASE WHEN kind = 'DID' THEN (%(states)s::text[])[1 + (i %% 20)] END,
                   lpad((100 + i * 3)::text, 3, '0'), 'B' || lpad((i %% 1000)::text, 3, '0'),
                   CASE WHEN g %% 3 = 0 THEN '{VOICE,SMS,MMS}'::text[] ELSE '{VOICE,SMS}'::text[] END
            FROM (
                SELECT g, i, k, kind,
                       CASE WHEN kind = 'DID' THEN (%(did)s::text[])[1 + i %% 95]
                            ELSE (%(tf)s::text[])[1 + i %% 5] END AS npa,
                       (200 + (%(step)s * k + 53 * i) %% 800)::text AS nxx
                FROM (
                    SELECT g, CASE WHEN g < %(did_total)s THEN 'DID' ELSE 'TOLL_FREE' END AS kind,
                           CASE WHEN g < %(did_total)s THEN g / %(per_npa)s
                                ELSE (g - %(did_total)s) / %(per_npa)s END AS i,
                           (g / 1000) %% 10 AS k
                    FROM generate_series(0, %(total)s - 1) AS g
                ) AS s
            ) AS t
            ON CONFLICT (number) DO NOTHING
            """,
            {
                "states": STATES,
                "did": DID_NPAS,
                "tf": TF_NPAS,
                "step": NXX_STEP,
                "did_total": did_total,
                "per_npa": per_npa,
                "total": total,
            },
        )
        conn.execute("ALTER TABLE numbers.inventory ENABLE TRIGGER inventory_audit_trg")
        conn.commit()
        ids = [r[0] for r in conn.execute("SELECT id FROM accounts.accounts ORDER BY ban")]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE numbers.inventory")
    return ids


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def filters(rng: random.Random) -> dict[str, Callable[[], SearchFilter]]:
    def npa() -> str:
        return rng.choice(DID_NPAS[:95])

    def npanxx() -> str:
        i = rng.randrange(95)
        return DID_NPAS[i] + str(200 + (NXX_STEP * rng.randrange(10) + 53 * i) % 800)

    def digits(n: int) -> str:
        return "".join(rng.choice("0123456789") for _ in range(n))

    return {
        "npa": lambda: SearchFilter(npa=npa()),
        "npanxx": lambda: SearchFilter(npanxx=npanxx()),
        "state": lambda: SearchFilter(state=rng.choice(STATES)),
        "state + rate_center": lambda: (
            lambda i: SearchFilter(state=STATES[i % 20], rate_center=f"RC {DID_NPAS[i]}-{rng.randrange(3)}")
        )(rng.randrange(95)),
        "lata": lambda: SearchFilter(lata=f"{100 + rng.randrange(95) * 3:03d}"),
        "contains 4 digits": lambda: SearchFilter(contains=digits(4)),
        "contains 7 digits (vanity)": lambda: SearchFilter(contains=digits(7)),
        "contains with * (555*0*)": lambda: SearchFilter(contains="555*0*"),
        "npa + contains 4 digits": lambda: SearchFilter(npa=npa(), contains=digits(4)),
        "number_type TOLL_FREE": lambda: SearchFilter(number_type="TOLL_FREE"),
        "TOLL_FREE + contains 4": lambda: SearchFilter(number_type="TOLL_FREE", contains=digits(4)),
        "features MMS + state": lambda: SearchFilter(state=rng.choice(STATES), features=("MMS",)),
        "no match (npa 999)": lambda: SearchFilter(npa="999"),
        "npa + contains short runs (d*dd*d)": lambda: SearchFilter(
            npa=npa(), contains=f"{digits(1)}*{digits(2)}*{digits(1)}"
        ),
        "npa + contains rare, short runs (9*9*9*9*9)": lambda: SearchFilter(npa=npa(), contains="9*9*9*9*9"),
    }


def bench_search(
    url: str, account: uuid.UUID, queries: int, only: str | None = None
) -> list[tuple[str, ...]]:
    rng = random.Random(5)
    rows: list[tuple[str, ...]] = []
    ctx = tenant.Context(account_id=account, actor_type="SYSTEM")
    # One long-lived connection, as in the API's pool: psycopg would prepare a query text after its 5th
    # run, which is how the generic-plan problem of the npa + 9*9*9*9*9 row was found (service.py).
    with psycopg.connect(url) as conn:
        for name, make in filters(rng).items():
            if only is not None and only not in name:
                continue
            samples: list[float] = []
            found = 0
            for i in range(queries + 20):
                f = make()
                with tenant.transaction(conn, ctx):
                    start = time.perf_counter()
                    result = service.search_available(conn, f, 20)
                    elapsed = (time.perf_counter() - start) * 1000
                if i >= 20:  # warm-up
                    samples.append(elapsed)
                    found += len(result)
            p99 = pct(samples, 0.99)
            rows.append(
                (
                    name,
                    f"{pct(samples, 0.50):.2f}",
                    f"{p99:.2f}",
                    f"{max(samples):.2f}",
                    f"{found / len(samples):.1f}",
                    "yes" if p99 <= 20 else "NO",
                )
            )
    return rows


def bench_prepared_ab(url: str, account: uuid.UUID, queries: int, only: str | None) -> list[tuple[str, ...]]:
    """The search as shipped (never server-side prepared) against psycopg's default (prepared from the
    5th run, so PostgreSQL may switch to a generic plan), query by query on two long-lived connections,
    so both see the same machine load. The default is emulated by dropping the ``prepare=False``."""
    original = psycopg.Cursor.execute

    def default_prepare(
        self: Any, query: Any, params: Any = None, *, prepare: Any = None, binary: Any = None
    ) -> Any:
        return original(self, query, params, binary=binary)

    rng = random.Random(5)
    rows: list[tuple[str, ...]] = []
    ctx = tenant.Context(account_id=account, actor_type="SYSTEM")
    with psycopg.connect(url) as old_conn, psycopg.connect(url) as new_conn:
        for name, make in filters(rng).items():
            if only is not None and only not in name:
                continue
            old: list[float] = []
            new: list[float] = []
            for i in range(queries + 20):
                f = make()
                for conn, samples, patched in ((old_conn, old, True), (new_conn, new, False)):
                    psycopg.Cursor.execute = default_prepare if patched else original  # type: ignore[method-assign]
                    try:
                        with tenant.transaction(conn, ctx):
                            start = time.perf_counter()
                            service.search_available(conn, f, 20)
                            elapsed = (time.perf_counter() - start) * 1000
                    finally:
                        psycopg.Cursor.execute = original  # type: ignore[method-assign]
                    if i >= 20:
                        samples.append(elapsed)
            rows.append(
                (
                    name,
                    f"{pct(old, 0.5):.2f}",
                    f"{pct(old, 0.99):.2f}",
                    f"{pct(new, 0.5):.2f}",
                    f"{pct(new, 0.99):.2f}",
                )
            )
    return rows


def reset_reservations(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE numbers.inventory SET status = 'AVAILABLE' WHERE status = 'RESERVED'")


def run_clients(
    url: str,
    accounts: list[uuid.UUID],
    clients: int,
    seconds: float,
    work: Callable[[Any, random.Random], int],
) -> tuple[int, int, int, float]:
    """(attempts, successes, numbers reserved, elapsed s) of ``clients`` threads calling ``work``."""
    barrier = threading.Barrier(clients)
    lock = threading.Lock()
    totals = [0, 0, 0]
    started: list[float] = []

    def client(idx: int) -> None:
        rng = random.Random(idx)
        ctx = tenant.Context(account_id=accounts[idx % len(accounts)], actor_type="SYSTEM")
        attempts = ok = reserved = 0
        with psycopg.connect(url) as conn:
            barrier.wait()
            if idx == 0:
                started.append(time.perf_counter())
            deadline = time.perf_counter() + seconds
            while time.perf_counter() < deadline:
                attempts += 1
                try:
                    with tenant.transaction(conn, ctx):
                        n = work(conn, rng)
                    ok += 1
                    reserved += n
                except NumbersNotAvailable:
                    pass
        with lock:
            totals[0] += attempts
            totals[1] += ok
            totals[2] += reserved

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return totals[0], totals[1], totals[2], time.perf_counter() - started[0]


def race(url: str, accounts: list[uuid.UUID], clients: int) -> tuple[int, int]:
    """``clients`` connections reserve the same 10 numbers at once: (winners, numbers held by >1 account)."""
    with psycopg.connect(url) as conn:
        wanted = [
            r[0]
            for r in conn.execute(
                "SELECT number FROM numbers.inventory WHERE status = 'AVAILABLE' AND npa = %s ORDER BY number "
                "OFFSET 5000 LIMIT 10",
                (DID_NPAS[7],),
            )
        ]
    barrier = threading.Barrier(clients)
    winners: list[int] = []

    def client(idx: int) -> None:
        ctx = tenant.Context(account_id=accounts[idx % len(accounts)], actor_type="SYSTEM")
        with psycopg.connect(url) as conn:
            barrier.wait()
            try:
                with tenant.transaction(conn, ctx):
                    service.reserve(conn, wanted)
                winners.append(idx)
            except NumbersNotAvailable:
                pass

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(DISTINCT reserved_by_account_id) FROM numbers.inventory WHERE number = ANY (%s)",
            (wanted,),
        ).fetchone()
    holders = int(row[0]) if row else 0
    return len(winners), holders


def bench_reservations(
    url: str, accounts: list[uuid.UUID], clients_list: list[int], seconds: float
) -> list[tuple[str, ...]]:
    with psycopg.connect(url) as conn:
        pool = [
            r[0]
            for r in conn.execute(
                "SELECT number FROM numbers.inventory WHERE status = 'AVAILABLE' AND number_type = 'DID' "
                "AND number > %s ORDER BY number LIMIT 20000",
                ("+1" + DID_NPAS[20],),
            )
        ]

    def hot_pool(conn: Any, rng: random.Random) -> int:
        return len(service.reserve(conn, rng.sample(pool, rng.randint(1, 3)), ttl=_ttl()))

    def by_filter(conn: Any, rng: random.Random) -> int:
        f = SearchFilter(npa=DID_NPAS[rng.randrange(2)])
        return len(service.reserve_matching(conn, f, 5, ttl=_ttl()))

    rows: list[tuple[str, ...]] = []
    for clients in clients_list:
        for name, work in (
            ("reserve 1-3 of a 20,000-number pool", hot_pool),
            ("reserve npa filter x5", by_filter),
        ):
            reset_reservations(url)
            attempts, ok, reserved, elapsed = run_clients(url, accounts, clients, seconds, work)
            rows.append(
                (
                    name,
                    str(clients),
                    f"{attempts:,}",
                    f"{ok / elapsed:,.0f}",
                    f"{reserved / elapsed:,.0f}",
                    f"{(attempts - ok) / max(attempts, 1):.1%}",
                )
            )
        reset_reservations(url)
        winners, holders = race(url, accounts, clients)
        rows.append(
            (
                "race: same 10 numbers",
                str(clients),
                str(clients),
                f"winners={winners}",
                f"holders={holders}",
                "ok" if winners == 1 and holders == 1 else "WRONG",
            )
        )
    reset_reservations(url)
    return rows


def _ttl() -> Any:
    from datetime import timedelta

    return timedelta(minutes=15)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--numbers", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=500, help="queries per filter kind")
    parser.add_argument("--clients", default="8,50", help="comma-separated concurrent connections")
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each reservation run")
    parser.add_argument("--skip-load", action="store_true", help="reuse the scratch database")
    parser.add_argument("--only", help="search: only the filter kinds whose name contains this text")
    parser.add_argument("--skip-reservations", action="store_true", help="search latency only")
    parser.add_argument(
        "--ab-prepared",
        action="store_true",
        help="search only: shipped (never prepared) vs psycopg's default preparation, interleaved",
    )
    args = parser.parse_args()

    base = database_url()
    params = conninfo_to_dict(base)
    url = make_conninfo(**{**params, "dbname": "warp_bench_numbers"})
    if not args.skip_load:
        url = scratch_db(base, "warp_bench_numbers")
        migrate(url)
        t0 = time.perf_counter()
        accounts = load(url, args.numbers, 50)
        console.print(f"generated {args.numbers:,} numbers in {time.perf_counter() - t0:.1f} s")
    else:
        with psycopg.connect(url) as conn:
            accounts = [r[0] for r in conn.execute("SELECT id FROM accounts.accounts ORDER BY ban")]
    with psycopg.connect(url) as conn:
        count = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE status = 'AVAILABLE') FROM numbers.inventory"
        )
        total, available = count.fetchone() or (0, 0)

    if args.ab_prepared:
        table = Table(
            title=f"Search p50/p99 ms, {args.queries} queries per filter: prepared after 5 runs vs never"
        )
        for col in ("filter", "prepared p50", "prepared p99", "never p50", "never p99"):
            table.add_column(col, justify="right")
        for row in bench_prepared_ab(url, accounts[0], args.queries, args.only):
            table.add_row(*row)
        console.print(table)
        load1, load5, load15 = os.getloadavg()
        console.print(
            f"{date.today()} load average {load1:.2f} {load5:.2f} {load15:.2f}, {os.cpu_count()} CPUs"
        )
        return
    search = bench_search(url, accounts[0], args.queries, args.only)
    table = Table(
        title=f"Available-number search: {total:,} numbers ({available:,} AVAILABLE), "
        f"{args.queries} queries per filter, limit 20, tenant transaction as warp_app"
    )
    for col in ("filter", "p50 ms", "p99 ms", "max ms", "rows/query", "p99 <= 20 ms"):
        table.add_column(col, justify="right")
    for row in search:
        table.add_row(*row)
    console.print(table)

    if not args.skip_reservations:
        clients = [int(x) for x in args.clients.split(",") if x]
        res = bench_reservations(url, accounts, clients, args.seconds)
        table = Table(
            title=f"Reservations under contention ({args.seconds:.0f} s per run, one connection per client)"
        )
        for col in ("workload", "clients", "attempts", "reservations/s", "numbers/s", "refused"):
            table.add_column(col, justify="right")
        for row in res:
            table.add_row(*row)
        console.print(table)
    load1, load5, load15 = os.getloadavg()
    console.print(f"{date.today()} load average {load1:.2f} {load5:.2f} {load15:.2f}, {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
