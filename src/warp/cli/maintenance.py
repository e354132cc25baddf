"""``warp maintenance run``: routine maintenance, once or on a schedule."""

from __future__ import annotations

import time

import typer
from rich.table import Table

from warp.cli.output import console, err_console, print_json
from warp.db.connection import database_url
from warp.errors import ConfigError
from warp.maintenance import service


def _render(report: service.RunReport) -> None:
    if report.skipped:
        console.print("another maintenance run holds the lock: skipped")
        return
    table = Table(title=f"Maintenance {report.started_at:%Y-%m-%d %H:%M:%S} UTC")
    for col in ("step", "seconds", "result", "detail"):
        table.add_column(col)
    for s in report.steps:
        table.add_row(s.name, f"{s.seconds:.3f}", "[green]ok[/]" if s.ok else "[red]failed[/]", s.detail)
    console.print(table)


def run(
    every: str | None = typer.Option(None, "--every", help="Repeat forever at this interval (30s, 5m, 1h)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Create partitions ahead, apply retention, clean sessions and reservations, refresh views, ANALYZE."""
    try:
        interval = service.parse_every(every) if every else None
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    url = database_url()
    while True:
        report = service.run(url)
        if as_json:
            print_json(report.as_dict())
        else:
            _render(report)
        if interval is None:
            if not report.ok:
                raise typer.Exit(1)
            return
        if not report.ok:
            err_console.print("[yellow]some steps failed; retrying at the next run[/]")
        time.sleep(interval)
