"""The CDR pipeline worker: ingest new Kamailio acc_cdrs rows, then enrich + rate them, forever.

Restart-safe: each batch of acc_cdrs rows is ingested in one transaction that also advances the
watermark (cdr.ingest_watermarks), and rating takes whatever has no enriched row yet, so a crash at
any point loses nothing and duplicates nothing; the next run continues where the last commit ended.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import psycopg

from warp.cdr import rating
from warp.cdr.ingest import IngestResult, ingest_acc_batch
from warp.cdr.reference import LrnProvider
from warp.db import tenant

log = logging.getLogger(__name__)


def run_once(
    conn: psycopg.Connection[Any],
    *,
    source: str = "acc_cdrs",
    table: str = "acc_cdrs",
    source_conn: psycopg.Connection[Any] | None = None,
    batch: int = 10_000,
    rate: bool = True,
    provider: LrnProvider | None = None,
) -> IngestResult:
    """Drain acc_cdrs above the watermark in batches (one staff transaction each), then rate pending CDRs."""
    total = IngestResult(source=source)
    while True:
        with tenant.transaction(conn, tenant.Context(staff=True, actor_type="SYSTEM")):
            one = ingest_acc_batch(conn, source=source, table=table, source_conn=source_conn, batch=batch)
        total.add(one)
        if one.rows < batch:
            break
    if rate:
        with tenant.transaction(conn, tenant.Context(staff=True, actor_type="SYSTEM")):
            rating.process(conn, provider=provider)
    return total


def run_forever(
    url: str,
    *,
    source_url: str | None = None,
    table: str = "acc_cdrs",
    interval_s: float = 5.0,
    stop: Callable[[], bool] = lambda: False,
) -> None:
    """Poll acc_cdrs every ``interval_s`` seconds until ``stop()``; errors are logged and retried."""
    while not stop():
        try:
            with psycopg.connect(url) as conn:
                source_conn = psycopg.connect(source_url, autocommit=True) if source_url else None
                try:
                    while not stop():
                        result = run_once(conn, table=table, source_conn=source_conn)
                        if result.rows:
                            log.info(
                                "acc_cdrs: %s rows, %s new, %s duplicates",
                                result.rows,
                                result.inserted,
                                result.duplicates,
                            )
                        time.sleep(interval_s)
                finally:
                    if source_conn is not None:
                        source_conn.close()
        except psycopg.Error:
            log.exception("CDR worker: database error; retrying in %s s", interval_s)
            time.sleep(interval_s)
