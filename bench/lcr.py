"""LCR and rate-deck import benchmark (issue 6). Not a test: prints a table.

    .venv/bin/python bench/lcr.py [--prefixes 300000] [--trunks 10] [--calls 20000]

Starts a private PostgreSQL cluster in a temporary directory (or uses WARP_BENCH_ADMIN_URL, a server
where it may create a database), migrates a fresh database, then:
1. imports a 10 x prefixes-row CSV deck (default 3,000,000 rows) for one carrier trunk through
   ``warp.routing.rate_import`` (COPY -> staging -> checks -> deck), timed end to end, as ``warp rates
   import`` does (two connections; ``--serial-import``: one transaction). The private cluster first writes
   and recycles as much WAL as the import needs, as a running server has (``--cold-wal`` skips that);
2. generates ``trunks`` decks of ``prefixes`` rows each with generate_series (the LCR partition);
3. times routing.calculate_lcr from one connection (sequential client loop, prepared; and pipeline
   mode, batches of --batch calls), server-side (one plpgsql loop timing each call with
   clock_timestamp()), and the naive ``LIKE prefix || '%'`` query on the same data, and prints the ratio.

The import row also gives the server backend's CPU seconds (from /proc, when the server is local):
on a shared machine that, not the wall time, is the comparable number.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from psycopg import sql
from rich.console import Console
from rich.table import Table

from warp.db import tenant
from warp.db.cluster import LocalCluster
from warp.db.migrate import migrate
from warp.routing.rate_import import import_rates, resolve_prepared

console = Console()

NAIVE_SQL = """
SELECT DISTINCT ON (d.carrier_trunk_id) d.carrier_trunk_id, d.prefix, d.rate
FROM routing.rate_deck d
WHERE %(dest)s LIKE d.prefix || '%%'
  AND d.carrier_trunk_id IN (SELECT carrier_trunk_id FROM routing.partition_carrier_trunks
                             WHERE partition_id = %(partition)s)
  AND d.effective_date <= current_date AND (d.expires_date IS NULL OR d.expires_date > current_date)
ORDER BY d.carrier_trunk_id, length(d.prefix) DESC
"""

SERVER_LOOP = """
DO $$
DECLARE
    dests text[] := {dests};
    acct uuid := {account};
    t0 timestamptz;
    i integer;
BEGIN
    CREATE TEMP TABLE IF NOT EXISTS lcr_timings (us double precision);
    TRUNCATE lcr_timings;
    FOR i IN 1 .. array_length(dests, 1) LOOP
        t0 := clock_timestamp();
        PERFORM * FROM routing.calculate_lcr(dests[i], acct, 5);
        INSERT INTO lcr_timings VALUES (extract(epoch FROM clock_timestamp() - t0) * 1e6);
    END LOOP;
END
$$
"""


def backend_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) used so far by a server backend on this machine, if readable.

    On a shared machine the wall time of a long statement mostly measures the other processes; the
    backend's own CPU time does not."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class ImportOnlyDone(Exception):
    """--import-only: the import is timed, skip the LCR measurements."""


def server_cpu(data_dir: Path | None) -> float | None:
    """CPU seconds used so far by the whole local server: the postmaster, its live processes and the
    ones that already exited (the postmaster's reaped-children counters). Covers a parallel import's
    helper connections, which end before the import returns."""
    if data_dir is None:
        return None
    try:
        pid = int((data_dir / "postmaster.pid").read_text().split()[0])
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = sum(int(f) for f in fields[11:15])
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except (OSError, ValueError):
        return None
    total = ticks / os.sysconf("SC_CLK_TCK")
    for child in children:
        total += backend_cpu(int(child)) or 0.0
    return total


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--prefixes", type=int, default=300_000, help="prefixes per carrier trunk")
    parser.add_argument("--trunks", type=int, default=10, help="carrier trunks in the partition")
    parser.add_argument("--calls", type=int, default=20_000, help="calculate_lcr calls per measurement")
    parser.add_argument("--naive-calls", type=int, default=5, help="naive LIKE queries to time")
    parser.add_argument("--batch", type=int, default=100, help="calls per pipeline batch")
    parser.add_argument("--skip-import", action="store_true", help="do not time the CSV import")
    parser.add_argument("--import-only", action="store_true", help="time the CSV import, nothing else")
    parser.add_argument(
        "--cold-wal",
        action="store_true",
        help="skip the WAL warm-up of the private cluster (the import then also creates its WAL files)",
    )
    parser.add_argument(
        "--serial-import",
        action="store_true",
        help="import on one connection (rates import --single-transaction) instead of two",
    )
    args = parser.parse_args()

    load_start = os.getloadavg()
    home: Path | None = None
    cluster: LocalCluster | None = None
    admin = os.environ.get("WARP_BENCH_ADMIN_URL")
    if not admin:
        home = Path(tempfile.mkdtemp(prefix="warp-bench-"))
        home.chmod(0o755)
        # min_wal_size keeps the WAL segment files of the warm-up below for reuse (see --cold-wal).
        cluster = LocalCluster(
            home=home,
            port=55499,
            server_options={"shared_buffers": "2GB", "max_wal_size": "8GB", "min_wal_size": "4GB"},
        )
        cluster.start()
        admin = cluster.url("postgres")
    dbname = f"warp_bench_lcr_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{dbname}"')
    url = (
        admin.replace("/postgres?", f"/{dbname}?")
        if "/postgres?" in admin
        else admin.rsplit("/", 1)[0] + "/" + dbname
    )
    results: list[tuple[str, str, str, str]] = []
    try:
        migrate(url)
        rows_total = args.prefixes * args.trunks
        with psycopg.connect(url, autocommit=True) as conn:
            account_id = conn.execute(
                "INSERT INTO accounts.accounts (ban, name) VALUES ('BENCH', 'Bench') RETURNING id"
            ).fetchone()[0]  # type: ignore[index]
            conn.execute(
                "INSERT INTO routing.carriers (name) SELECT 'carrier-' || g FROM generate_series(0, %s) g",
                (args.trunks,),
            )
            conn.execute(
                "INSERT INTO routing.carrier_trunks (carrier_id, name, host, priority, weight) "
                "SELECT c.id, 'trunk-' || substr(c.name, 9), 'sip' || substr(c.name, 9) || '.example', "
                "100 + substr(c.name, 9)::int, 100 FROM routing.carriers c"
            )

            # 1. Import a rows_total-row CSV deck for trunk-0 (not in the partition).
            csv_path = (home or Path(tempfile.gettempdir())) / "bench_deck.csv"
            with (
                csv_path.open("wb") as fh,
                conn.cursor().copy(
                    "COPY (SELECT (1000000 + g)::text AS prefix, round((g %% 997) / 100000.0 + 0.001, 6) AS rate, "
                    "'Dest ' || (g %% 500) AS destination_name FROM generate_series(1, %s) g) "
                    "TO STDOUT (FORMAT csv, HEADER true)",
                    (rows_total,),
                ) as cp,
            ):
                for chunk in cp:
                    fh.write(chunk)
        if not args.skip_import and cluster is not None and not args.cold_wal:
            # A running server reuses (recycles) its WAL segment files; a fresh cluster has none, and the
            # import's backends would create ~3 GB of them, zero-filling each 16 MB file under the WAL
            # write lock (perf: XLogFileInit; both inserting backends stall). Write and recycle that much
            # WAL first, so the import is timed as on a server that has been running.
            t0 = time.perf_counter()
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(
                    "CREATE TABLE bench_wal_warmup AS SELECT g, repeat('x', 400) AS pad "
                    "FROM generate_series(1, %s) g",
                    (max(rows_total * 7 // 3, 100_000),),
                )
                conn.execute("DROP TABLE bench_wal_warmup")
                conn.execute("CHECKPOINT")
                wal = conn.execute("SELECT pg_size_pretty(sum(size)) FROM pg_ls_waldir()").fetchone()
            results.append(
                (
                    "WAL warm-up (set-up, not the import; --cold-wal skips it)",
                    f"{wal[0] if wal else '?'} of WAL files ready in {time.perf_counter() - t0:.1f} s",
                    "",
                    "",
                )
            )
        if not args.skip_import:
            with psycopg.connect(url) as conn:
                pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
                conn.commit()
                data_dir = None if cluster is None else cluster.data_dir
                cpu0, all0, client0 = backend_cpu(pid), server_cpu(data_dir), time.process_time()
                t0 = time.perf_counter()
                # As `warp rates import`: parallel (two connections) unless --serial-import, then the
                # prepared helper half is resolved after the commit.
                with tenant.transaction(conn, tenant.STAFF):
                    result = import_rates(
                        conn,
                        carrier_trunk="trunk-0",
                        path=csv_path,
                        mode="replace",
                        url=None if args.serial_import else url,
                    )
                with psycopg.connect(url, autocommit=True) as side:
                    resolve_prepared(side)
                import_s = time.perf_counter() - t0
                cpu1, all1, client1 = backend_cpu(pid), server_cpu(data_dir), time.process_time()
            assert result.loaded == rows_total, result
            cpu = "" if cpu0 is None or cpu1 is None else f"; caller's backend CPU {cpu1 - cpu0:.1f} s"
            if all0 is not None and all1 is not None:
                cpu += f", whole server CPU {all1 - all0:.1f} s"
            cpu += f", client CPU {client1 - client0:.1f} s; load {os.getloadavg()[0]:.2f}"
            results.append(
                (
                    f"rates import (CSV, one trunk, {'serial' if args.serial_import else 'parallel'})",
                    f"{rows_total:,} rows in {import_s:.1f} s ({rows_total / import_s:,.0f} rows/s){cpu}",
                    "< 60 s",
                    "yes" if import_s < 60 else "NO",
                )
            )

        if args.import_only:
            raise ImportOnlyDone
        with psycopg.connect(url, autocommit=True) as conn:
            # 2. The partition's decks: `prefixes` NANP-style 7-digit prefixes per trunk, plus short ones.
            t0 = time.perf_counter()
            conn.execute(
                "INSERT INTO routing.rate_deck (carrier_trunk_id, prefix, rate) "
                "SELECT ct.id, p.prefix, round(0.001 + random()::numeric * 0.02, 6) FROM routing.carrier_trunks ct "
                "CROSS JOIN (SELECT ('1' || (2000000 + g * 7 %% 8000000))::text AS prefix "
                "            FROM generate_series(1, %s) g "
                "            UNION SELECT unnest(ARRAY['1', '12', '120', '44', '441', '4420', '33', '49'])) p "
                "WHERE ct.name <> 'trunk-0'",
                (args.prefixes - 8,),
            )
            gen_s = time.perf_counter() - t0
            conn.execute("ANALYZE routing.rate_deck")
            partition_id = conn.execute(
                "INSERT INTO routing.partitions (name, is_default) VALUES ('bench', true) RETURNING id"
            ).fetchone()[0]  # type: ignore[index]
            conn.execute(
                "INSERT INTO routing.partition_carrier_trunks (partition_id, carrier_trunk_id) "
                "SELECT %s, id FROM routing.carrier_trunks WHERE name <> 'trunk-0'",
                (partition_id,),
            )
            deck_rows = conn.execute("SELECT count(*) FROM routing.rate_deck").fetchone()[0]  # type: ignore[index]
            results.append(
                (
                    "generate partition decks (SQL)",
                    f"{deck_rows - (0 if args.skip_import else rows_total):,} rows in {gen_s:.1f} s",
                    "",
                    "",
                )
            )

            rng = random.Random(6)
            prefixes = [
                r[0]
                for r in conn.execute(
                    "SELECT prefix FROM routing.rate_deck WHERE length(prefix) = 8 ORDER BY random() LIMIT 5000"
                )
            ]
            dests = ["+" + rng.choice(prefixes) + f"{rng.randrange(10_000):04d}" for _ in range(args.calls)]
            # warm-up
            for d in dests[:500]:
                conn.execute("SELECT * FROM routing.calculate_lcr(%s, %s, 5)", (d, account_id), prepare=True)
            sample = conn.execute(
                "SELECT carrier_trunk, prefix, rate FROM routing.calculate_lcr(%s, %s, 5)",
                (dests[0], account_id),
            ).fetchall()
            assert len(sample) == 5 and all(len(r[1]) == 8 for r in sample), sample

            # 3a. Client loop, one connection.
            lat: list[float] = []
            t0 = time.perf_counter()
            for d in dests:
                s = time.perf_counter()
                conn.execute(
                    "SELECT * FROM routing.calculate_lcr(%s, %s, 5)", (d, account_id), prepare=True
                ).fetchall()
                lat.append((time.perf_counter() - s) * 1e6)
            client_s = time.perf_counter() - t0
            client_rate = len(dests) / client_s
            results.append(
                (
                    "calculate_lcr, sequential client loop (1 conn)",
                    f"{client_rate:,.0f} calls/s; p50 "
                    f"{percentile(lat, 0.5):.0f} us, p99 {percentile(lat, 0.99):.0f} us",
                    ">= 5,000 calls/s",
                    "yes" if client_rate >= 5000 else "NO",
                )
            )

            # 3a'. Pipeline mode, one connection: batches of calls sent without waiting for each answer
            #      (psycopg Connection.pipeline(); prepared), so the round trip is paid once per batch.
            t0 = time.perf_counter()
            for i in range(0, len(dests), args.batch):
                with conn.pipeline():
                    curs = [
                        conn.execute(
                            "SELECT * FROM routing.calculate_lcr(%s, %s, 5)", (d, account_id), prepare=True
                        )
                        for d in dests[i : i + args.batch]
                    ]
                for cur in curs:
                    cur.fetchall()
            piped_rate = len(dests) / (time.perf_counter() - t0)
            results.append(
                (
                    f"calculate_lcr, pipelined (1 conn, batches of {args.batch})",
                    f"{piped_rate:,.0f} calls/s",
                    ">= 5,000 calls/s",
                    "yes" if piped_rate >= 5000 else "NO",
                )
            )

            # 3b. Server side: each call timed inside one plpgsql loop.
            t0 = time.perf_counter()
            conn.execute(
                sql.SQL(SERVER_LOOP).format(dests=sql.Literal(dests), account=sql.Literal(account_id))
            )
            server_wall = time.perf_counter() - t0
            server = [float(r[0]) for r in conn.execute("SELECT us FROM lcr_timings")]
            server_rate = len(server) / (sum(server) / 1e6)
            p99 = percentile(server, 0.99)
            results.append(
                (
                    "calculate_lcr, server side",
                    f"{server_rate:,.0f} calls/s (loop wall "
                    f"{len(dests) / server_wall:,.0f}/s); p50 {percentile(server, 0.5):.0f} us, "
                    f"p99 {p99:.0f} us, max {max(server):.0f} us",
                    "p99 <= 1,000 us",
                    "yes" if p99 <= 1000 else "NO",
                )
            )

            # 3c. Staff context (role warp_staff, as the CLI/API run it).
            conn.autocommit = False
            lat_staff: list[float] = []
            with tenant.transaction(conn, tenant.STAFF):
                t0 = time.perf_counter()
                for d in dests[:5000]:
                    conn.execute(
                        "SELECT * FROM routing.calculate_lcr(%s, %s, 5)", (d, account_id), prepare=True
                    ).fetchall()
                staff_rate = 5000 / (time.perf_counter() - t0)
            conn.autocommit = True
            results.append(("calculate_lcr, staff role (RLS on)", f"{staff_rate:,.0f} calls/s", "", ""))
            del lat_staff

            # 3d. Naive LIKE over the deck.
            naive: list[float] = []
            for d in dests[: args.naive_calls]:
                s = time.perf_counter()
                rows = conn.execute(NAIVE_SQL, {"dest": d.lstrip("+"), "partition": partition_id}).fetchall()
                naive.append(time.perf_counter() - s)
                assert len(rows) == args.trunks
            naive_ms = statistics.mean(naive) * 1000
            fast_ms = statistics.mean(server) / 1000
            results.append(
                (
                    "naive LIKE prefix || '%' (same data)",
                    f"{naive_ms:,.1f} ms/call ({1000 / naive_ms:,.1f} calls/s)",
                    "",
                    "",
                )
            )
            results.append(("ratio naive / calculate_lcr", f"{naive_ms / fast_ms:,.0f}x faster", "", ""))
    except ImportOnlyDone:
        pass
    finally:
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        if cluster is not None and home is not None:
            cluster.stop()
            shutil.rmtree(home, ignore_errors=True)

    table = Table(
        "benchmark",
        "result",
        "target",
        "met",
        title=f"LCR benchmark: {args.trunks} trunks x {args.prefixes:,} prefixes, {args.calls:,} calls; "
        f"load average at start {load_start[0]:.2f}, at end {os.getloadavg()[0]:.2f}",
    )
    for row in results:
        table.add_row(*row)
    console.print(table)


if __name__ == "__main__":
    main()
