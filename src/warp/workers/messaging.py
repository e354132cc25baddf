"""Vendor dispatch worker: sends QUEUED messages to SMS/MMS providers, forever or once.

Run ``warp worker messaging`` (or several of them: claims use ``FOR UPDATE SKIP LOCKED`` so workers
never send the same message). Each loop: put messages stuck in SENDING for longer than the lease back
to QUEUED (a worker died mid-batch), reload the providers now and then (configuration and health
changes apply without a restart), claim a batch and send it with failover
(:mod:`warp.messaging.dispatch`). ``--once`` drains what is queued and exits. SIGTERM/SIGINT stop it
gracefully: the batch in flight is finished and recorded, then the worker prints its summary and
exits 0.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import psycopg

from warp.db import tenant
from warp.messaging.dispatch import (
    DISPATCH,
    Candidate,
    DispatchResult,
    dispatch_batch,
    load_candidates,
    recover_stuck,
)
from warp.vendors.secrets import SecretResolver

log = logging.getLogger("warp.workers.messaging")


@dataclass(frozen=True)
class MessagingWorkerSettings:
    """Tunables of the dispatch loop."""

    batch: int = 100
    interval: float = 1.0  # seconds to wait when nothing is queued
    stale_after: timedelta = timedelta(minutes=5)  # SENDING for longer than this is requeued
    recover_every: float = 30.0  # seconds between recovery sweeps
    reload_every: float = 30.0  # seconds between provider reloads
    circuit_after: int = 3  # failures in a row before a provider is skipped for the rest of a batch


@dataclass
class RunSummary:
    """What a run did, for the final report."""

    batches: int = 0
    seconds: float = 0.0
    stopped_by_signal: bool = False

    def as_dict(self, result: DispatchResult) -> dict[str, Any]:
        return {
            "batches": self.batches,
            "seconds": round(self.seconds, 3),
            "stopped_by_signal": self.stopped_by_signal,
            **result.as_dict(),
        }


def _describe(result: DispatchResult) -> str:
    providers = ", ".join(f"{name} {n}" for name, n in sorted(result.by_provider.items()))
    return (
        f"claimed {result.claimed}, sent {result.sent}, failed {result.failed}, "
        f"failovers {result.failovers}" + (f" ({providers})" if providers else "")
    )


class MessagingWorker:
    """One dispatch loop on one connection."""

    def __init__(
        self,
        url: str,
        settings: MessagingWorkerSettings | None = None,
        secrets: SecretResolver | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.url = url
        self.settings = settings or MessagingWorkerSettings()
        self.secrets = secrets if secrets is not None else SecretResolver()
        self.progress = progress or (lambda line: log.info("%s", line))
        self.total = DispatchResult()
        self.summary = RunSummary()

    def _candidates(self, conn: psycopg.Connection[Any]) -> list[Candidate]:
        with tenant.transaction(conn, DISPATCH):
            return load_candidates(conn, self.secrets)

    def run(self, stop: threading.Event, *, once: bool = False) -> DispatchResult:
        """Dispatch until ``stop`` is set (or, with ``once``, until the queue is empty)."""
        started = time.monotonic()
        try:
            self._loop(stop, once)
        finally:
            self.summary.seconds = time.monotonic() - started
            self.summary.stopped_by_signal = stop.is_set()
        return self.total

    def _loop(self, stop: threading.Event, once: bool) -> None:
        s = self.settings
        while not stop.is_set():
            try:
                with psycopg.connect(self.url) as conn:
                    self._session(conn, stop, once)
                    return
            except psycopg.OperationalError as exc:
                if once:
                    raise
                log.warning("messaging worker: database unavailable (%s); retrying", exc)
                stop.wait(max(s.interval, 1.0))

    def _session(self, conn: psycopg.Connection[Any], stop: threading.Event, once: bool) -> None:
        s = self.settings
        last_recovery = last_reload = float("-inf")
        candidates: list[Candidate] = []
        while not stop.is_set():
            now = time.monotonic()
            if now - last_recovery >= s.recover_every:
                recovered = recover_stuck(conn, s.stale_after)
                last_recovery = now
                if recovered:
                    self.total.recovered += recovered
                    self.progress(f"recovered {recovered} message(s) stuck in SENDING; queued again")
            if now - last_reload >= s.reload_every:
                candidates = self._candidates(conn)
                last_reload = now
            result = dispatch_batch(conn, candidates, s.batch, circuit_after=s.circuit_after)
            if result.claimed:
                self.summary.batches += 1
                self.total.add(result)
                self.progress(f"batch {self.summary.batches}: {_describe(result)}")
            if result.claimed < s.batch:
                if once:
                    return
                stop.wait(s.interval)

    def describe_total(self) -> str:
        return (
            f"messaging worker: {self.summary.batches} batch(es) in {self.summary.seconds:.1f} s, "
            f"{_describe(self.total)}, recovered {self.total.recovered}"
            + (" (stopped by signal)" if self.summary.stopped_by_signal else "")
        )
