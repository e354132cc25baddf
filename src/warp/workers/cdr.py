"""The CDR pipeline worker: ingest new Kamailio acc_cdrs rows, enrich + rate them, refresh hourly summaries.

One *cycle* is one transaction: the next ``batch`` acc_cdrs rows above the watermark are ingested
(the watermark, cdr.ingest_watermarks, advances in the same transaction), the new raw CDRs are
enriched and rated (prepaid ledgers debited; every pending CDR, e.g. from file imports, on the first
cycle and every ``sweep_s`` seconds), and the hourly summaries of the hours those CDRs fall in are
recomputed. A crash or kill at any point therefore loses nothing, duplicates nothing and
leaves no CDR ingested-but-unrated or rated-but-unsummarised: the next run continues where the last
commit ended. ``run`` repeats cycles (without pausing while acc_cdrs has a backlog, ``interval_s``
apart when idle) until ``stop`` is set; a SIGTERM/SIGINT handler sets it, so the cycle in progress
finishes and commits before the loop ends.

LRNs of destinations not in the cache are asked of the vendor_mgmt ``lrn_lookup`` providers, by
priority with failover (:class:`warp.cdr.reference.RegistryLrnProvider`), when any is enabled.

``warp worker cdr [--interval 1s] [--once] [--batch N]`` and ``python -m warp.workers.cdr`` run it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import psycopg

from warp.cdr import rating, summary
from warp.cdr.ingest import IngestResult, ingest_acc_batch
from warp.cdr.reference import LrnProvider, registry_lrn_provider
from warp.db import tenant

log = logging.getLogger(__name__)

WORKER = tenant.Context(staff=True, actor_type="SYSTEM")
DEFAULT_BATCH = 10_000


@dataclass
class CycleResult:
    """What one cycle (one transaction) did."""

    ingest: IngestResult
    rating: rating.RatingResult
    hours: int = 0
    summary_rows: int = 0
    seconds: float = 0.0

    @property
    def busy(self) -> bool:
        return bool(self.ingest.rows or self.rating.cdrs)

    def line(self) -> str:
        """One progress line."""
        r, i = self.rating, self.ingest
        text = (
            f"acc rows {i.rows} (new {i.inserted}, duplicates {i.duplicates}, bad {i.bad}, "
            f"unidentified {i.unidentified}) | rated {r.rated}, unrated {r.unrated} | revenue {r.revenue} "
            f"cost {r.cost} | hours summarised {self.hours} | {self.seconds:.2f} s"
        )
        if r.lrn_errors:
            text += f" | LRN look-up failed: {r.lrn_errors[0]}"
        return text


@dataclass
class WorkerTotals:
    """Totals since the worker started."""

    cycles: int = 0
    acc_rows: int = 0
    inserted: int = 0
    duplicates: int = 0
    bad: int = 0
    unidentified: int = 0
    rated: int = 0
    unrated: int = 0
    revenue: Decimal = Decimal(0)
    cost: Decimal = Decimal(0)
    prepaid_debited: Decimal = Decimal(0)
    hours_summarised: int = 0
    lrn_looked_up: int = 0
    errors: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def add(self, cycle: CycleResult) -> None:
        self.cycles += 1
        self.acc_rows += cycle.ingest.rows
        self.inserted += cycle.ingest.inserted
        self.duplicates += cycle.ingest.duplicates
        self.bad += cycle.ingest.bad
        self.unidentified += cycle.ingest.unidentified
        self.rated += cycle.rating.rated
        self.unrated += cycle.rating.unrated
        self.revenue += Decimal(cycle.rating.revenue)
        self.cost += Decimal(cycle.rating.cost)
        self.prepaid_debited += Decimal(cycle.rating.prepaid_debited)
        self.hours_summarised += cycle.hours
        self.lrn_looked_up += cycle.rating.lrn_looked_up

    def as_dict(self) -> dict[str, Any]:
        return {
            "cycles": self.cycles,
            "acc_rows": self.acc_rows,
            "inserted": self.inserted,
            "duplicates": self.duplicates,
            "bad": self.bad,
            "unidentified": self.unidentified,
            "rated": self.rated,
            "unrated": self.unrated,
            "revenue": str(self.revenue),
            "cost": str(self.cost),
            "prepaid_debited": str(self.prepaid_debited),
            "hours_summarised": self.hours_summarised,
            "lrn_looked_up": self.lrn_looked_up,
            "errors": self.errors,
            "seconds": round(time.monotonic() - self.started, 3),
        }


def run_cycle(
    conn: psycopg.Connection[Any],
    *,
    source: str = "acc_cdrs",
    table: str = "acc_cdrs",
    source_conn: psycopg.Connection[Any] | None = None,
    batch: int = DEFAULT_BATCH,
    rate: bool = True,
    provider: LrnProvider | None = None,
    use_registry: bool = True,
    sweep: bool = True,
) -> CycleResult:
    """Ingest up to ``batch`` acc_cdrs rows, rate, refresh the touched hours: ONE transaction.

    With ``sweep`` every pending CDR is rated (file imports, CDRs left by an earlier failure: a scan
    of all raw CDRs); without, only those starting at or after the batch's earliest start time (the
    batch itself, cheap: partitions and the BRIN index on start_time limit the scan). ``provider``
    answers LRN look-ups; without one, the vendor_mgmt ``lrn_lookup`` providers are used when
    ``use_registry`` and any is enabled.
    """
    started = time.monotonic()
    with tenant.transaction(conn, WORKER):
        ingested = ingest_acc_batch(conn, source=source, table=table, source_conn=source_conn, batch=batch)
        rated = rating.RatingResult(revenue=Decimal(0), cost=Decimal(0), prepaid_debited=Decimal(0))
        hours = {"hours": 0, "rows": 0}
        if rate and (sweep or ingested.first_start is not None):
            lrn = (
                provider if provider is not None else (registry_lrn_provider(conn) if use_registry else None)
            )
            rated = rating.process(conn, provider=lrn, since=None if sweep else ingested.first_start)
            hours = summary.summarize_hour_set(conn, rated.hours)
    return CycleResult(
        ingest=ingested,
        rating=rated,
        hours=hours["hours"],
        summary_rows=hours["rows"],
        seconds=time.monotonic() - started,
    )


def run_once(
    conn: psycopg.Connection[Any],
    *,
    source: str = "acc_cdrs",
    table: str = "acc_cdrs",
    source_conn: psycopg.Connection[Any] | None = None,
    batch: int = DEFAULT_BATCH,
    rate: bool = True,
    provider: LrnProvider | None = None,
) -> IngestResult:
    """Cycles until acc_cdrs has nothing above the watermark; returns the ingest totals."""
    total = IngestResult(source=source)
    sweep = True
    while True:
        cycle = run_cycle(
            conn,
            source=source,
            table=table,
            source_conn=source_conn,
            batch=batch,
            rate=rate,
            provider=provider,
            sweep=sweep,
        )
        sweep = False
        total.add(cycle.ingest)
        if cycle.ingest.rows < batch:
            return total


def run(
    url: str,
    *,
    stop: threading.Event,
    source_url: str | None = None,
    source: str = "acc_cdrs",
    table: str = "acc_cdrs",
    interval_s: float = 5.0,
    batch: int = DEFAULT_BATCH,
    once: bool = False,
    sweep_s: float = 300.0,
    provider: LrnProvider | None = None,
    on_cycle: Callable[[CycleResult], None] | None = None,
    on_error: Callable[[str], None] | None = None,
) -> WorkerTotals:
    """Run cycles until ``stop`` is set (or, with ``once``, until acc_cdrs is drained).

    Between cycles the loop does not pause while the last batch was full (a backlog), and waits
    ``interval_s`` (woken early by ``stop``) when it was not. ``stop`` is only looked at between
    cycles: a cycle in progress always commits (or rolls back as a whole). The first cycle, and then
    one every ``sweep_s`` seconds, rates every pending CDR; the others rate what they ingested.
    Database errors are reported to ``on_error`` and retried after ``interval_s`` (with ``once``
    they are raised).
    """
    totals = WorkerTotals()
    last_sweep: float | None = None
    while not stop.is_set():
        try:
            with psycopg.connect(url) as conn:
                source_conn = psycopg.connect(source_url, autocommit=True) if source_url else None
                try:
                    while not stop.is_set():
                        sweep = last_sweep is None or time.monotonic() - last_sweep >= sweep_s
                        cycle = run_cycle(
                            conn,
                            source=source,
                            table=table,
                            source_conn=source_conn,
                            batch=batch,
                            provider=provider,
                            sweep=sweep,
                        )
                        if sweep:
                            last_sweep = time.monotonic()
                        totals.add(cycle)
                        if cycle.busy and on_cycle is not None:
                            on_cycle(cycle)
                        if cycle.ingest.rows < batch:
                            if once:
                                return totals
                            stop.wait(interval_s)
                finally:
                    if source_conn is not None:
                        source_conn.close()
        except psycopg.Error as exc:
            if once:
                raise
            message = f"database error: {exc}".strip()
            totals.errors.append(message)
            del totals.errors[:-20]
            log.exception("CDR worker: database error; retrying in %s s", interval_s)
            if on_error is not None:
                on_error(message)
            stop.wait(interval_s)
    return totals


def run_forever(
    url: str,
    *,
    source_url: str | None = None,
    table: str = "acc_cdrs",
    interval_s: float = 5.0,
    stop: Callable[[], bool] = lambda: False,
) -> None:
    """Compatibility wrapper: :func:`run` until ``stop()`` returns true (polled once a second)."""
    event = threading.Event()

    def watch() -> None:
        while not event.wait(1.0):
            if stop():
                event.set()

    threading.Thread(target=watch, daemon=True).start()
    run(url, stop=event, source_url=source_url, table=table, interval_s=interval_s)


def parse_interval(value: str) -> float:
    """Seconds in ``500ms``, ``1s``, ``2m``, ``1h`` or a plain number of seconds; ValueError otherwise."""
    text = value.strip().lower()
    units = (("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0))
    for suffix, factor in units:
        if text.endswith(suffix):
            number, scale = text[: -len(suffix)], factor
            break
    else:
        number, scale = text, 1.0
    try:
        seconds = float(number) * scale
    except ValueError:
        seconds = -1.0
    if not seconds > 0 or seconds != seconds:  # rejects 0, negatives and NaN
        raise ValueError(f"interval: {value!r} is not a positive duration such as 500ms, 1s, 5m or 1h")
    return seconds


def main() -> None:
    """``python -m warp.workers.cdr [OPTIONS]``: the same as ``warp worker cdr [OPTIONS]``."""
    import sys

    from warp.cli.main import main as cli_main

    sys.argv = [sys.argv[0], "worker", "cdr", *sys.argv[1:]]
    cli_main()


if __name__ == "__main__":
    main()
