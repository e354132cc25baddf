"""Billing cycle-end worker: invoices every ended billing cycle (calendar month), then waits for the next.

``warp worker billing [--once]``. Each pass (:func:`warp.billing.cycles.run_pass`) registers the ended
cycles, runs and issues the ones not completed yet (one set-based run per cycle, locked with
``FOR UPDATE SKIP LOCKED`` so several workers can run at once), and reports. Billing events (invoice
issued, low balance, payments) are queued on the webhook outbox by the database in the transaction that
writes them; ``warp.workers.webhooks`` delivers them.

SIGTERM / SIGINT stop it gracefully: a cycle being run finishes (its transaction commits) and no new one
starts; the worker then prints its summary and exits 0.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import FrameType
from typing import Any

import psycopg

from warp.billing import cycles

log = logging.getLogger("warp.workers.billing")


@dataclass
class WorkerSummary:
    """Totals over the passes of one worker process."""

    passes: int = 0
    outcomes: list[cycles.CycleOutcome] = field(default_factory=list)
    events_queued: int = 0
    stopped_by_signal: bool = False

    def add(self, result: cycles.PassResult) -> None:
        self.passes += 1
        self.outcomes.extend(result.cycles)
        self.events_queued = result.events_queued

    def as_dict(self) -> dict[str, Any]:
        return {
            "passes": self.passes,
            "cycles": [o.as_dict() for o in self.outcomes],
            "events_queued": self.events_queued,
            "stopped_by_signal": self.stopped_by_signal,
        }


class BillingWorker:
    """The loop: a pass, then wait ``interval`` seconds (or until stopped)."""

    def __init__(
        self,
        url: str,
        *,
        interval: float = 300.0,
        grace: timedelta = cycles.DEFAULT_GRACE,
        lookback: int = cycles.DEFAULT_LOOKBACK,
        issue: bool = True,
        clock: Callable[[], datetime] | None = None,
        progress: Callable[[Any, str, int, int], None] | None = None,
        on_pass: Callable[[cycles.PassResult], None] | None = None,
    ) -> None:
        self.url = url
        self.interval = interval
        self.grace = grace
        self.lookback = lookback
        self.issue = issue
        self.clock = clock
        self.progress = progress
        self.on_pass = on_pass
        self.stop = threading.Event()
        self.summary = WorkerSummary()

    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT set the stop flag (the current cycle run completes first)."""

        def handler(signum: int, frame: FrameType | None) -> None:
            log.info("billing worker: signal %s, stopping after the current cycle", signum)
            self.summary.stopped_by_signal = True
            self.stop.set()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)

    def run_once(self, conn: psycopg.Connection[Any]) -> cycles.PassResult:
        result = cycles.run_pass(
            conn,
            now=self.clock() if self.clock else None,
            grace=self.grace,
            lookback=self.lookback,
            issue=self.issue,
            progress=self.progress,
            stop=self.stop.is_set,
        )
        self.summary.add(result)
        if self.on_pass:
            self.on_pass(result)
        for o in result.cycles:
            log.info(
                "cycle %s..%s: %s, %s invoices (%s issued), total %s, %.1f s%s",
                o.period_start,
                o.period_end,
                o.status,
                o.invoices,
                o.issued,
                o.total,
                o.seconds,
                f": {o.error}" if o.error else "",
            )
        return result

    def run(self, *, once: bool = False) -> WorkerSummary:
        """Passes until stopped (or one pass with ``once``); database outages are retried."""
        while not self.stop.is_set():
            try:
                with psycopg.connect(self.url) as conn:
                    while not self.stop.is_set():
                        self.run_once(conn)
                        if once:
                            return self.summary
                        self.stop.wait(self.interval)
            except psycopg.OperationalError:
                log.exception("billing worker: database unavailable; retrying")
                if once:
                    raise
                self.stop.wait(min(self.interval, 5.0))
        return self.summary
