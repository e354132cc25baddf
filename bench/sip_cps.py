"""Sustained calls per second through Kamailio with WARP routing (issue 11). Not a test: prints a table.

    .venv/bin/python bench/sip_cps.py [--rates 25,50,100,150,200,300,400] [--seconds 10] [--children 4]

Starts a private PostgreSQL cluster on loopback (pg_stat_statements loaded), migrates, builds the e2e
test's world (tests/e2e/sip/sip_harness.py: two customers, two carriers answered by SIPp UAS on
loopback, rate decks and plans; the customer trunk's limits raised out of the way), starts the
shipped deploy/kamailio/kamailio.cfg, then for each rate places rate x seconds calls from the
customer's address with SIPp (random 1-4 s holds) and stops at the first rate with a failure (a
call not answered, a SIPp error or timeout). For every rate it reports the INVITE -> 200 OK time seen
by SIPp (through Kamailio and the carrier UAS) and the time PostgreSQL spent in WARP's two per-call
queries (kamailio.identify_trunk, kamailio.route = routing.calculate_lcr), from pg_stat_statements,
i.e. WARP's share of call set-up latency.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import psycopg
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e" / "sip"))

from sip_harness import DNIS, Kamailio, Uas, WarpDb, build_world, ensure_tools, free_port, run_uac

console = Console(width=160)

STATS_SQL = """
SELECT CASE WHEN query ILIKE '%%kamailio.identify_trunk%%' THEN 'identify_trunk' ELSE 'route' END AS fn,
       sum(calls)::bigint, sum(total_exec_time) / nullif(sum(calls), 0)
FROM pg_stat_statements
WHERE query ILIKE '%%kamailio.identify_trunk%%' OR query ILIKE '%%kamailio.route(%%'
GROUP BY 1
"""


def rtt_ms(workdir: Path) -> list[float]:
    """Per-call INVITE -> 200 OK times (ms) from SIPp's -trace_rtt files, removed after reading."""
    values: list[float] = []
    for path in workdir.glob("*_rtt.csv"):
        for line in path.read_text().splitlines()[1:]:
            parts = line.split(";")
            if len(parts) >= 2:
                try:
                    values.append(float(parts[1]))
                except ValueError:
                    continue
        path.unlink()
    return values


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rates", default="25,50,100,150,200,300,400")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--children", type=int, default=4)
    args = parser.parse_args()
    reason = ensure_tools()
    if reason:
        raise SystemExit(reason)
    home = Path(tempfile.mkdtemp(prefix="warp-sip-bench-"))
    home.chmod(0o755)
    db = WarpDb(home / "pg")
    db.start()
    table = Table(title=f"SIP calls/s through Kamailio + WARP routing ({args.children} UDP workers)")
    for col in (
        "rate (calls/s)",
        "calls",
        "answered",
        "failed",
        "wall s",
        "INVITE->200 mean ms",
        "p95 ms",
        "identify_trunk ms",
        "route (LCR) ms",
        "WARP share",
    ):
        table.add_column(col, justify="right")
    best = 0
    kam: Kamailio | None = None
    uases: list[Uas] = []
    try:
        cheap = Uas(home, "cheap", port=free_port())
        pricey = Uas(home, "pricey", port=free_port())
        uases += [cheap, pricey]
        with psycopg.connect(db.url, autocommit=True) as conn:
            build_world(conn, cheap.port, pricey.port)
            conn.execute(
                "UPDATE routing.trunks SET max_concurrent_calls = 100000, max_calls_per_second = 100000"
            )
        cheap.start()
        pricey.start()
        kam = Kamailio(home / "kamailio", db.kamailio_url, children=args.children)
        kam.start()
        for rate in (int(r) for r in args.rates.split(",")):
            calls = rate * args.seconds
            with psycopg.connect(db.url, autocommit=True) as conn:
                conn.execute("SELECT pg_stat_statements_reset()")
            result = run_uac(
                home,
                f"r{rate}",
                kamailio_port=kam.port,
                source_ip="127.0.0.1",
                calls=calls,
                rate=rate,
                dnis=DNIS,
                timeout_s=args.seconds + 60,
                extra=["-trace_rtt", "-rtt_freq", "1"],
            )
            with psycopg.connect(db.url, autocommit=True) as conn:
                stats = {str(r[0]): (int(r[1]), float(r[2] or 0)) for r in conn.execute(STATS_SQL).fetchall()}
            times = rtt_ms(home)
            failed = calls - len(result.answered)
            mean = statistics.fmean(times) if times else float("nan")
            p95 = statistics.quantiles(times, n=20)[18] if len(times) >= 20 else float("nan")
            ident = stats.get("identify_trunk", (0, 0.0))[1]
            route = stats.get("route", (0, 0.0))[1]
            share = (ident + route) / mean if times and mean > 0 else float("nan")
            table.add_row(
                str(rate),
                str(calls),
                str(len(result.answered)),
                str(failed),
                f"{result.seconds:.1f}",
                f"{mean:.2f}",
                f"{p95:.2f}",
                f"{ident:.3f}",
                f"{route:.3f}",
                f"{share:.0%}",
            )
            clean = failed == 0 and result.returncode == 0
            if not clean:
                console.print(f"rate {rate}: {failed} calls not answered, sipp exit {result.returncode}")
                console.print(f"rejected: {result.rejected}\nsipp errors (tail):\n{result.errors[-1500:]}")
                break
            best = rate
    finally:
        if kam is not None:
            kam.stop()
        for uas in uases:
            uas.stop()
        db.stop()
        shutil.rmtree(home, ignore_errors=True)
    console.print(table)
    console.print(f"highest clean rate: {best} calls/s; load: {os.getloadavg()}")


if __name__ == "__main__":
    main()
