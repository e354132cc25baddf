"""``warp worker messaging``: the vendor dispatch worker (registered on the ``warp worker`` group)."""

from __future__ import annotations

import logging
import signal
import threading
from datetime import timedelta
from types import FrameType

import typer

from warp.cli.output import console, err_console, print_json


def messaging(
    once: bool = typer.Option(False, "--once", help="Send what is queued now, then exit."),
    interval: float = typer.Option(
        1.0, "--interval", min=0.01, help="Seconds to wait when the queue is empty."
    ),
    batch: int = typer.Option(100, "--batch", min=1, max=10_000, help="Messages claimed per batch."),
    stale_after: float = typer.Option(
        300.0, "--stale-after", min=0, help="Seconds after which a message left SENDING is queued again."
    ),
    quiet: bool = typer.Option(False, "--quiet", help="No per-batch progress lines."),
    as_json: bool = typer.Option(False, "--json", help="Print the final summary as JSON."),
) -> None:
    """Dispatch queued SMS/MMS to vendors with failover; several workers may run side by side."""
    from warp.db.connection import database_url
    from warp.workers.messaging import MessagingWorker, MessagingWorkerSettings

    logging.basicConfig(level=logging.WARNING)
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        if not stop.is_set():
            err_console.print(f"{signal.Signals(signum).name}: finishing the batch in flight, then stopping")
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    settings = MessagingWorkerSettings(
        batch=batch, interval=interval, stale_after=timedelta(seconds=stale_after)
    )

    def progress(line: str) -> None:
        if not quiet:
            err_console.print(line, highlight=False, soft_wrap=True)

    worker = MessagingWorker(database_url(), settings, progress=progress)
    total = worker.run(stop, once=once)
    if as_json:
        print_json(worker.summary.as_dict(total))
    else:
        console.print(worker.describe_total(), highlight=False, soft_wrap=True)
