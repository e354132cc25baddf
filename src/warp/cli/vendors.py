"""``warp vendors``: carrier performance metrics and SLA checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import typer
from rich.table import Table

from warp.cli.output import console, print_json
from warp.cli.session import staff_connection
from warp.errors import WarpError
from warp.vendors import metrics

app = typer.Typer(
    help="Vendor performance: hourly carrier metrics from CDRs and SLA breaches.", no_args_is_help=True
)


def _when(value: str | None, default: datetime) -> datetime:
    if value is None:
        return default
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise WarpError(f"{value!r}: not an ISO date or date-time") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@app.command("metrics")
def metrics_cmd(
    start: str | None = typer.Option(
        None, "--from", help="Start (ISO, UTC by default); default 24 hours ago."
    ),
    end: str | None = typer.Option(None, "--to", help="End (exclusive); default now."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Recompute hourly carrier metrics for the period, check SLAs, show the metrics and new incidents."""
    now = datetime.now(UTC)
    t0, t1 = _when(start, now - timedelta(hours=24)), _when(end, now)
    with staff_connection() as conn:
        written = metrics.compute_metrics(conn, t0, t1)
        incidents = metrics.check_slas(conn, t0, t1)
        rows = metrics.carrier_metrics(conn, t0, t1)
    if as_json:
        print_json({"metrics_written": written, "metrics": rows, "incidents_opened": incidents})
        return
    table = Table(title=f"Carrier metrics {t0:%Y-%m-%d %H:%M} .. {t1:%Y-%m-%d %H:%M} UTC")
    for col in ("hour", "carrier", "attempts", "ASR %", "ACD s", "PDD ms", "NER %"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            f"{r['hour_start']:%Y-%m-%d %H:00}",
            r["carrier"],
            str(r["attempts"]),
            str(r["asr"]),
            str(r["acd_seconds"] or ""),
            str(r["pdd_ms"] or ""),
            str(r["ner"]),
        )
    console.print(table)
    for i in incidents:
        console.print(f"[red]incident:[/] {i['title']} ({i['severity']}, observed {i['observed_value']})")
