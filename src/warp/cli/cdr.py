"""``warp cdr``, ``warp lerg``, ``warp lrn``, ``warp vendor-cdr``, ``warp reconcile``, ``warp maintenance``,
``warp worker cdr``."""

from __future__ import annotations

import signal
import threading
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from warp.accounts.service import get_account_by_ban
from warp.cdr import ingest, maintenance, rating, reconcile, reference, summary
from warp.cdr.errors import InvalidCdrInput
from warp.cli.output import console, err_console, print_json
from warp.cli.session import staff_connection
from warp.db.connection import database_url
from warp.workers import cdr as cdr_worker

app = typer.Typer(
    help="Call detail records: import, process (enrich + rate), re-rate, failed calls.", no_args_is_help=True
)
lerg_app = typer.Typer(help="LERG reference data.", no_args_is_help=True)
lrn_app = typer.Typer(help="LRN (number portability) cache.", no_args_is_help=True)
vendor_app = typer.Typer(help="Carrier CDRs for reconciliation.", no_args_is_help=True)
maintenance_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)


def _when(value: str, name: str) -> datetime:
    """A CLI date or date-time (UTC when no offset is given)."""
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(), tzinfo=UTC)
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidCdrInput(f"{name}: {value!r} is not a date (YYYY-MM-DD) or ISO date-time") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _table(title: str, data: dict[str, Any]) -> Table:
    table = Table(title=title, show_header=False)
    for key, value in data.items():
        if not isinstance(value, (list, dict)):
            table.add_row(key, str(value))
    return table


def _problems(problems: list[dict[str, Any]], limit: int = 50) -> None:
    for p in problems[:limit]:
        where = f"{p['file']}: " if "file" in p else ""
        err_console.print(
            f"[yellow]{where}line {p['line']}:[/] {p['error']}", highlight=False, soft_wrap=True
        )
    if len(problems) > limit:
        err_console.print(f"... and {len(problems) - limit} more (use --json for all)")


def _report_import(title: str, data: dict[str, Any], as_json: bool) -> None:
    """An import's counts as JSON, or as a table with its bad lines on stderr."""
    if as_json:
        print_json(data)
        return
    console.print(_table(title, data))
    _problems(data["problems"])


@app.command("import")
def import_cmd(
    files: list[Path] = typer.Argument(..., help="CDR files."),
    fmt: str = typer.Option("kamailio-csv", "--format", help="kamailio-csv or jsonl."),
    tz: str = typer.Option(
        "UTC", "--tz", help="Time zone of times without an offset (Kamailio writes local time)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Import CDR files, each in its own transaction (8 MB and more: committed chunk by chunk); re-running is safe."""
    results: list[dict[str, Any]] = []
    total = ingest.IngestResult(source="total")
    for path in files:
        with staff_connection() as conn:
            one = ingest.import_file(conn, path, fmt=fmt, tz=tz)
        total.add(one)
        results.append(one.as_dict())
    data = {**total.as_dict(), "files": results}
    if as_json:
        print_json(data)
        return
    table = Table(title="CDR import")
    for col in ("file", "rows", "inserted", "duplicates", "bad", "unidentified", "seconds"):
        table.add_column(col, justify="left" if col == "file" else "right")
    for r in [*results, {**total.as_dict(), "source": "total"}]:
        table.add_row(
            r["source"],
            *(str(r[c]) for c in ("rows", "inserted", "duplicates", "bad", "unidentified", "seconds")),
        )
    console.print(table)
    _problems(data["problems"])


@app.command()
def process(
    since: str | None = typer.Option(None, "--since", help="Only CDRs starting at/after this date(-time)."),
    window_hours: int | None = typer.Option(
        None, "--window-hours", help="Hours of CDRs per step (default: ~1M CDRs per step)."
    ),
    no_lrn: bool = typer.Option(
        False, "--no-lrn-lookup", help="Use only the LRN cache (do not ask the lrn_lookup providers)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Enrich and rate every pending CDR (set-based), debiting prepaid accounts.

    Destinations missing from the LRN cache are looked up through the enabled lrn_lookup providers
    (by priority, failing over to the next) and cached."""
    start = _when(since, "since") if since else None
    with (
        staff_connection() as conn,
        Progress(
            TextColumn("rating"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=err_console,
            disable=as_json,
        ) as bar,
    ):
        task = bar.add_task("rating", total=None)
        result = rating.process(
            conn,
            provider=None if no_lrn else reference.registry_lrn_provider(conn),
            since=start,
            window=timedelta(hours=window_hours) if window_hours else None,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    data = result.as_dict()
    if as_json:
        print_json(data)
    else:
        console.print(_table("CDR processing", data))
        if result.reasons:
            console.print(_table("Unrated (reason: CDRs)", result.reasons))
        for error in result.lrn_errors:
            err_console.print(f"[yellow]LRN look-up failed:[/] {error}", highlight=False, soft_wrap=True)


@app.command()
def rerate(
    start: str = typer.Option(..., "--from", help="From date(-time), inclusive."),
    end: str = typer.Option(..., "--to", help="To date(-time), exclusive."),
    ban: str | None = typer.Option(None, "--account", help="Only this account (BAN)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Recompute charges after a rate correction; CDRs on issued invoices are left alone and reported."""
    with staff_connection() as conn:
        account_id = get_account_by_ban(conn, ban).id if ban else None
        result = rating.rerate(conn, start=_when(start, "from"), end=_when(end, "to"), account_id=account_id)
    data = result.as_dict()
    if as_json:
        print_json(data)
        return
    console.print(_table("CDR re-rating", data))
    for lock in result.locked:
        err_console.print(
            f"[yellow]not changed:[/] {lock['cdrs']} CDRs of {lock['ban']} on issued invoice {lock['invoice_number']}"
        )


@app.command()
def failed(
    limit: int = typer.Option(50, "--limit", help="Rows to show."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """CDRs whose trunk could not be identified (cdr.failed_calls), by source address."""
    with staff_connection() as conn:
        rows = conn.execute(
            "SELECT host(source_ip) AS source_ip, reason, count(*) AS cdrs, min(start_time) AS first, "
            "max(start_time) AS last FROM cdr.failed_calls GROUP BY 1, 2 ORDER BY cdrs DESC LIMIT %s",
            (limit,),
        ).fetchall()
    if as_json:
        print_json(rows)
        return
    table = Table(title="Unidentified CDRs")
    for col in ("source_ip", "reason", "cdrs", "first", "last"):
        table.add_column(col)
    for r in rows:
        table.add_row(*(str(r[c]) for c in ("source_ip", "reason", "cdrs", "first", "last")))
    console.print(table)


@app.command()
def summarize(
    start: str = typer.Option(..., "--from", help="From date(-time)."),
    end: str = typer.Option(..., "--to", help="To date(-time), exclusive."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Recompute hourly summaries (idempotent)."""
    with staff_connection() as conn:
        data = summary.summarize_hours(conn, _when(start, "from"), _when(end, "to"))
    print_json(data) if as_json else console.print(_table("Hourly summaries", data))


@lerg_app.command("import")
def lerg_import(
    file: Path = typer.Argument(..., help="CSV: npa,nxx,state,lata,ocn,rate_center[,country][,company]"),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Load the good lines, report the bad."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Import LERG data (NPA-NXX rows are inserted or updated)."""
    with staff_connection() as conn:
        data = reference.import_lerg(conn, file, skip_bad=skip_bad).as_dict()
    _report_import("LERG import", data, as_json)


@lrn_app.command("import")
def lrn_import(
    file: Path = typer.Argument(..., help="CSV: number,lrn"),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Load the good lines, report the bad."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Import LNP data into the LRN cache."""
    with staff_connection() as conn:
        data = reference.import_lrn(conn, file, skip_bad=skip_bad).as_dict()
    _report_import("LRN import", data, as_json)


@vendor_app.command("import")
def vendor_import(
    file: Path = typer.Argument(..., help="CSV: [call_id,]ani,dnis,start_time,duration,cost"),
    carrier: str = typer.Option(..., "--carrier", help="Carrier name."),
    tz: str = typer.Option("UTC", "--tz", help="Time zone of times without an offset."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Import a carrier's CDRs (a file re-imported replaces its rows)."""
    with staff_connection() as conn:
        data = reconcile.import_vendor_cdrs(conn, carrier, file, tz=tz).as_dict()
    _report_import("Vendor CDR import", data, as_json)


def reconcile_cmd(
    carrier: str = typer.Option(..., "--carrier", help="Carrier name."),
    start: str = typer.Option(..., "--from", help="From date(-time), inclusive."),
    end: str = typer.Option(..., "--to", help="To date(-time), exclusive."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Reconcile a carrier's CDRs against ours (Call-ID, else DNIS + ANI + start within 2 s)."""
    with staff_connection() as conn:
        report = reconcile.reconcile(conn, carrier, _when(start, "from"), _when(end, "to"))
    if as_json:
        print_json(report)
        return
    console.print(_table(f"Reconciliation: {carrier}", report))
    table = Table(title="Largest disputes")
    for col in (
        "call_id",
        "dnis",
        "start_time",
        "our_duration",
        "their_duration",
        "our_cost",
        "their_cost",
        "difference",
    ):
        table.add_column(col)
    for d in report["disputes"]:
        table.add_row(
            *(
                str(d[c])
                for c in (
                    "call_id",
                    "dnis",
                    "start_time",
                    "our_duration",
                    "their_duration",
                    "our_cost",
                    "their_cost",
                    "difference",
                )
            )
        )
    console.print(table)


@maintenance_app.command()
def partitions(
    ahead: int = typer.Option(3, "--ahead", help="Months ahead to create."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Create monthly partitions ahead and move rows out of the default partitions (one transaction)."""
    with staff_connection() as conn:
        created = maintenance.maintain_partitions(conn, ahead)
        left = maintenance.default_partition_rows(conn)
    if as_json:
        print_json({"created": created, "default_rows": left})
        return
    console.print(f"created {len(created)} partition(s)" + ("".join(f"\n  {c}" for c in created)))
    console.print(_table("Rows left in default partitions", left))


def worker_cmd(
    interval: str = typer.Option("5s", "--interval", help="Pause when acc_cdrs is idle (500ms, 1s, 5m)."),
    once: bool = typer.Option(False, "--once", help="Drain acc_cdrs, rate, summarise, then exit."),
    batch: int = typer.Option(
        cdr_worker.DEFAULT_BATCH, "--batch", min=1, help="acc_cdrs rows per cycle (one transaction)."
    ),
    table: str = typer.Option("acc_cdrs", "--table", help="Kamailio's CDR table (schema.table allowed)."),
    source: str = typer.Option("acc_cdrs", "--source", help="Watermark name of this acc_cdrs source."),
    source_url: str | None = typer.Option(
        None,
        "--source-url",
        envvar="WARP_ACC_DATABASE_URL",
        help="Database holding acc_cdrs when it is not WARP's own.",
    ),
    sweep: str = typer.Option(
        "5m",
        "--sweep",
        help="How often a cycle rates every pending CDR (file imports, earlier failures); "
        "the others rate the CDRs they ingested.",
    ),
    quiet: bool = typer.Option(False, "--quiet", help="No line per cycle, only the final summary."),
    as_json: bool = typer.Option(False, "--json", help="Final summary as JSON."),
) -> None:
    """Ingest Kamailio acc_cdrs continuously: each cycle ingests a batch above the watermark, rates every
    pending CDR and refreshes the touched hourly summaries in one transaction. SIGTERM/SIGINT finish the
    cycle in progress, then exit 0."""
    try:
        interval_s = cdr_worker.parse_interval(interval)
        sweep_s = cdr_worker.parse_interval(sweep)
    except ValueError as exc:
        raise InvalidCdrInput(str(exc)) from exc
    stop = threading.Event()

    def _stop(signum: int, _frame: Any) -> None:
        if not stop.is_set():
            err_console.print(f"{signal.Signals(signum).name}: finishing the current batch, then exiting")
        stop.set()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}

    def _cycle(cycle: cdr_worker.CycleResult) -> None:
        if not quiet:
            stamp = datetime.now(UTC).strftime("%H:%M:%S")
            err_console.print(f"{stamp} {cycle.line()}", highlight=False, soft_wrap=True)

    def _error(message: str) -> None:
        err_console.print(
            f"[red]{message}[/] (retrying in {interval_s:g} s)", highlight=False, soft_wrap=True
        )

    url = database_url()
    if not quiet and not once:
        err_console.print(f"CDR worker: {table} every {interval_s:g} s when idle, {batch} rows per cycle")
    try:
        totals = cdr_worker.run(
            url,
            stop=stop,
            source_url=source_url,
            source=source,
            table=table,
            interval_s=interval_s,
            batch=batch,
            once=once,
            sweep_s=sweep_s,
            on_cycle=_cycle,
            on_error=_error,
        )
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    data = totals.as_dict()
    if as_json:
        print_json(data)
    else:
        console.print(_table("CDR worker", data))
