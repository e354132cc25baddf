"""CDR ingest throughput: Kamailio CSV -> cdr.raw_cdr end to end, against a bare COPY of the same rows.

Builds a scratch database (migrated schema, 200 customer trunks with /24 ACLs, one carrier trunk),
writes N Kamailio-format CDRs to a CSV file (this month, 2% from unknown addresses; each customer
sends from any host of its /24: up to 50,800 distinct source addresses, ~31,000 of them in 50,000
rows and nearly all from 200,000 rows on), then:
  bare COPY    the same rows, already typed, COPY'd straight into cdr.raw_cdr (same partitions and
               indexes, no validation, no dedup, no trunk identification)
  end to end   warp.cdr.ingest.import_file: every line parsed and validated (Python fast path for
               the shapes Kamailio writes, SQL rules for the rest), trunk identification per source
               address, number normalisation; a file this size loads over two connections of
               its own (split by Call-ID, each chunk a plain COPY, or staged and moved with
               INSERT ... ON CONFLICT when it holds stored CDRs, committed on its own) while the
               parser reads on; server CPU counts all three backends
  re-import    the same file again (every row a duplicate)
  stored rows  the rows as the import stored them (all the columns it writes), COPY'd back into the
               emptied table: the like-for-like reference (the bare COPY above carries 11 columns)
Prints a table (wall time, and the CPU time of the PostgreSQL backend and of this client) and the
load average before and after. Usage:

    .venv/bin/python bench/cdr_ingest.py [--rows 1000000]

Uses WARP_DATABASE_URL's server, else the embedded cluster under $WARP_HOME.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from rich.console import Console
from rich.table import Table

from warp.cdr.ingest import _TYPED_COLUMNS, ACC_COLUMNS, import_file
from warp.db import tenant
from warp.db.connection import database_url
from warp.db.migrate import migrate

# The columns Kamailio's acc module writes (the same contract the acc_cdrs worker reads).
HEADER = list(ACC_COLUMNS)


def backend_cpu(conn: psycopg.Connection[Any]) -> float:
    """CPU seconds used so far by the connection's server process (0 when it is not on this machine)."""
    try:
        with open(f"/proc/{conn.info.backend_pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class HelperCpu:
    """The CPU of the import's own connections (large files load over two): read as each one closes."""

    def __init__(self) -> None:
        self.seconds = 0.0
        close = psycopg.Connection.close

        def closing(conn: psycopg.Connection[Any]) -> None:
            if not conn.closed:
                self.seconds += backend_cpu(conn)
            close(conn)

        psycopg.Connection.close = closing  # type: ignore[method-assign]


def load() -> str:
    return ", ".join(f"{v:.2f}" for v in os.getloadavg())


def scratch_db(base_url: str, name: str) -> str:
    params = conninfo_to_dict(base_url)
    admin = make_conninfo(**{**params, "dbname": "postgres"})
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return make_conninfo(**{**params, "dbname": name})


def setup(url: str) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO accounts.accounts (ban, name) SELECT 'B' || g, 'Account ' || g FROM generate_series(1, 200) g"
        )
        conn.execute(
            "INSERT INTO routing.trunks (account_id, name, auth_type) SELECT id, 'trunk-' || ban, 'IP_ACL' "
            "FROM accounts.accounts WHERE ban LIKE 'B%'"
        )
        conn.execute(
            "INSERT INTO routing.trunk_acl (trunk_id, account_id, network) "
            "SELECT t.id, t.account_id, ('10.' || (n / 256) || '.' || (n % 256) || '.0/24')::inet "
            "FROM (SELECT id, account_id, row_number() OVER (ORDER BY name) AS n FROM routing.trunks) t"
        )
        conn.execute("INSERT INTO routing.carriers (name) VALUES ('alpha')")
        conn.execute(
            "INSERT INTO routing.carrier_trunks (carrier_id, name, host) SELECT id, 'alpha-1', 'sip.alpha' FROM routing.carriers"
        )


def write_cdrs(path: Path, n: int, month: datetime) -> tuple[Path, bytes]:
    """The Kamailio CSV file, and the same rows typed for a bare COPY into cdr.raw_cdr."""
    rnd = random.Random(7)
    raw = io.StringIO()
    typed = io.StringIO()
    w, t = csv.writer(raw, lineterminator="\n"), csv.writer(typed, lineterminator="\n")
    w.writerow(HEADER)
    seconds = 27 * 86400
    for i in range(n):
        start = month + timedelta(seconds=i * seconds // n)
        answered = rnd.random() < 0.7
        dur = f"{rnd.randint(1, 900)}.{rnd.randint(0, 999):03d}" if answered else "0"
        t_end = start + timedelta(seconds=float(dur))
        n_trunk = rnd.randint(1, 200)
        ip = (
            f"10.{n_trunk // 256}.{n_trunk % 256}.{rnd.randint(1, 254)}"
            if rnd.random() > 0.02
            else "192.0.2.9"
        )
        ani = f"+1{rnd.randint(201, 989)}{rnd.randint(200, 999)}{rnd.randint(0, 9999):04d}"
        dnis = f"1{rnd.randint(201, 989)}{rnd.randint(200, 999)}{rnd.randint(0, 9999):04d}"
        st, en = start.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3], t_end.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        code = "200" if answered else "486"
        w.writerow(
            [
                st,
                en,
                dur,
                f"{i:x}-{rnd.getrandbits(48):x}@sbc",
                ip,
                f"sip:{ani}@{ip}",
                dnis,
                code,
                "OK" if answered else "Busy Here",
                "alpha-1",
                rnd.randint(100, 4000),
            ]
        )
        t.writerow(
            [
                st + "+00",
                en + "+00",
                dur,
                f"{i:x}-x@sbc",
                ip,
                f"sip:{ani}@{ip}",
                dnis,
                ani,
                "+" + dnis,
                code,
                "KAMAILIO_CSV",
            ]
        )
    path.write_text(raw.getvalue())
    return path, typed.getvalue().encode()


def timed_copy(
    conn: psycopg.Connection[Any], statement: sql.Composable, data: bytes
) -> tuple[float, float, float]:
    """COPY ``data`` with ``statement`` and commit: (seconds, server CPU s, client CPU s)."""
    t0, c0, p0 = time.monotonic(), backend_cpu(conn), time.process_time()
    with conn.cursor().copy(statement) as cp:
        for i in range(0, len(data), 1 << 20):
            cp.write(data[i : i + (1 << 20)])
    conn.commit()
    return time.monotonic() - t0, backend_cpu(conn) - c0, time.process_time() - p0


def empty_raw_cdr(conn: psycopg.Connection[Any]) -> None:
    """Empty cdr.raw_cdr and checkpoint, so the next load starts from the same state."""
    conn.execute("TRUNCATE cdr.raw_cdr CASCADE")
    conn.commit()
    conn.execute("CHECKPOINT")
    conn.commit()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    console = Console(width=180)
    console.print(f"load average before: {load()}")
    url = scratch_db(database_url(), "warp_bench_cdr_ingest")
    migrate(url)
    setup(url)
    month = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.monotonic()
        path, typed = write_cdrs(Path(tmp) / "acc_cdrs.csv", args.rows, month)
        console.print(
            f"generated {args.rows:,} CDRs ({path.stat().st_size / 1e6:.0f} MB) in {time.monotonic() - t0:.1f} s"
        )
        rows = []
        helpers = HelperCpu()
        with psycopg.connect(url) as conn:
            conn.execute("CHECKPOINT")
            bare, *cpu = timed_copy(
                conn,
                sql.SQL(
                    "COPY cdr.raw_cdr (start_time, end_time, duration, call_id, source_ip, raw_ani, raw_dnis, "
                    "ani, dnis, sip_code, ingest_source) FROM STDIN (FORMAT csv)"
                ),
                typed,
            )
            rows.append(("bare COPY into cdr.raw_cdr", args.rows, args.rows, 0, bare, *cpu))
            empty_raw_cdr(conn)
            for label in ("end to end (warp cdr import)", "re-import (all duplicates)"):
                t0, c0, p0 = time.monotonic(), backend_cpu(conn), time.process_time()
                h0 = helpers.seconds
                with tenant.transaction(conn, tenant.Context(staff=True, actor_type="SYSTEM")):
                    result = import_file(conn, path)
                secs = time.monotonic() - t0
                cpu = (backend_cpu(conn) - c0 + helpers.seconds - h0, time.process_time() - p0)
                rows.append((label, result.rows, result.inserted, result.duplicates, secs, *cpu))
            # The bare COPY above carries 11 of the columns the import stores. The same rows as the
            # import stored them (every column it writes: line, ids, carrier trunk, extra, file),
            # COPY'd back into the emptied table, is the like-for-like reference.
            cols = sql.SQL(", ").join(map(sql.Identifier, _TYPED_COLUMNS))
            stored = io.BytesIO()
            with conn.cursor().copy(
                sql.SQL("COPY (SELECT {} FROM cdr.raw_cdr) TO STDOUT").format(cols)
            ) as cp:
                for block in cp:
                    stored.write(block)
            empty_raw_cdr(conn)
            stored_secs, *cpu = timed_copy(
                conn, sql.SQL("COPY cdr.raw_cdr ({}) FROM STDIN").format(cols), stored.getvalue()
            )
            rows.append(
                (
                    "bare COPY of the rows as the import stored them",
                    args.rows,
                    args.rows,
                    0,
                    stored_secs,
                    *cpu,
                )
            )
    table = Table(title=f"CDR ingest, {args.rows:,} Kamailio CDRs")
    for col in (
        "path",
        "rows",
        "inserted",
        "dups",
        "seconds",
        "server CPU s",
        "client CPU s",
        "CDRs/s",
        "vs COPY",
        "vs stored-rows COPY",
    ):
        table.add_column(col, justify="left" if col == "path" else "right")
    for label, n, ins, dup, secs, server, client in rows:
        table.add_row(
            label,
            f"{n:,}",
            f"{ins:,}",
            f"{dup:,}",
            f"{secs:.2f}",
            f"{server:.2f}",
            f"{client:.2f}",
            f"{n / secs:,.0f}",
            f"{bare / secs:.2f}",
            f"{stored_secs / secs:.2f}",
        )
    console.print(table)
    console.print(f"load average after: {load()}")


if __name__ == "__main__":
    main()
