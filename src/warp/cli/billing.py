"""``warp rate-plans`` and ``warp invoices``: customer price imports and invoice runs."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from warp.billing import invoices, rate_plans
from warp.billing.documents import render_csv, render_pdf
from warp.cli.output import console, err_console, print_json
from warp.cli.session import staff_connection

rate_plans_app = typer.Typer(help="Customer rate plans.", no_args_is_help=True)
invoices_app = typer.Typer(help="Invoices: runs, issue, documents.", no_args_is_help=True)


@rate_plans_app.command("import")
def import_plan(
    plan: str = typer.Argument(..., help="Rate plan name (created when missing)."),
    file: Path = typer.Argument(..., help="CSV with a header: prefix, rate (or jurisdictional rates), ..."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable summary."),
) -> None:
    """Import the voice rates of a plan (all or nothing; every bad line reported with its number)."""
    with staff_connection() as conn:
        result = rate_plans.import_plan(conn, plan=plan, path=file)
    if as_json:
        print_json(result.as_dict())
        return
    table = Table("plan", "created", "rows", "loaded", "closed", "superseded", "seconds")
    table.add_row(
        result.plan,
        "yes" if result.created else "no",
        str(result.rows),
        str(result.loaded),
        str(result.closed),
        str(result.superseded),
        f"{result.seconds:.2f}",
    )
    console.print(table)


@invoices_app.command("run")
def run(
    period: str = typer.Option(..., "--period", help="Billing month, YYYY-MM."),
    account: str | None = typer.Option(None, "--account", help="Only this account (BAN)."),
    issue: bool = typer.Option(False, "--issue", help="Issue the drafts (numbers, ledger charge)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable summary."),
) -> None:
    """Build (or regenerate) one DRAFT invoice per account for the period; issued invoices are left alone."""
    start, end = invoices.parse_period(period)
    progress = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        disable=as_json,
        transient=True,
    )
    with progress:
        task = progress.add_task("usage and lines", total=None)

        def advance(step: str, done: int, total: int) -> None:
            progress.update(task, description=step, completed=done, total=total)

        with staff_connection() as conn:
            account_id = invoices.account_id_for(conn, account) if account else None
            result = invoices.run(
                conn, period_start=start, period_end=end, account_id=account_id, issue=issue, progress=advance
            )
    if as_json:
        print_json(result.as_dict())
        return
    table = Table(
        "period",
        "invoices",
        "created",
        "regenerated",
        "issued",
        "left issued",
        "tax lines",
        "total",
        "seconds",
    )
    table.add_row(
        f"{result.period_start} .. {result.period_end}",
        str(result.invoices),
        str(result.created),
        str(result.regenerated),
        str(result.issued),
        str(result.skipped_issued),
        str(result.tax_lines),
        f"{result.total:,.2f}",
        f"{result.seconds:.1f}",
    )
    console.print(table)
    steps = Table("step", "seconds")
    for name, seconds in result.steps.items():
        steps.add_row(name, f"{seconds:.2f}")
    console.print(steps)


@invoices_app.command("render")
def render(
    invoice_id: UUID = typer.Argument(..., help="Invoice id."),
    out: Path = typer.Option(..., "--out", help="Output file (.pdf or .csv)."),
) -> None:
    """Write an invoice's PDF or CSV detail to a file."""
    with staff_connection() as conn:
        invoice = invoices.get_invoice(conn, invoice_id)
    if out.suffix.lower() == ".csv":
        out.write_text(render_csv(invoice), encoding="utf-8")
    else:
        out.write_bytes(render_pdf(invoice))
    console.print(f"wrote {out}")
