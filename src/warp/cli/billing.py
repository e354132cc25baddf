"""``warp rate-plans``, ``warp invoices``, ``warp payments`` and ``warp worker billing``: customer price imports,
invoice runs, payments and refunds, the cycle-end worker."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from uuid import UUID

import typer
from rich.progress import TaskID
from rich.table import Table

from warp.billing import cycles, invoices, payments, rate_plans
from warp.billing.documents import render_csv, render_pdf
from warp.billing.errors import InvalidBilling
from warp.cli.output import console, err_console, print_json, step_progress
from warp.cli.session import staff_connection

rate_plans_app = typer.Typer(help="Customer rate plans.", no_args_is_help=True)
invoices_app = typer.Typer(help="Invoices: runs, issue, documents.", no_args_is_help=True)


@rate_plans_app.command("import")
def import_plan(
    plan: str = typer.Argument(..., help="Rate plan name (created when missing)."),
    file: Path = typer.Argument(
        ...,
        help="CSV with a header: voice (prefix, rate or jurisdictional rates, ...), messaging (message_type, "
        "direction, destination_type, rate) or numbers (number_type, monthly_charge, setup_charge, port_in_fee).",
    ),
    kind: str | None = typer.Option(
        None, "--kind", help="voice, messaging or numbers (default: told by the header)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable summary."),
) -> None:
    """Import the voice, messaging or number rates of a plan (all or nothing; every bad line reported with its
    number and field)."""
    with staff_connection() as conn:
        result = rate_plans.import_plan(conn, plan=plan, path=file, kind=kind.lower() if kind else None)
    if as_json:
        print_json(result.as_dict())
        return
    table = Table("plan", "kind", "created", "rows", "loaded", "closed", "superseded", "seconds")
    table.add_row(
        result.plan,
        result.kind,
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
    progress = step_progress(disable=as_json)
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


# ---------------------------------------------------------------------------------------------
# warp worker billing (registered on the ``worker`` group in warp.cli.main)


def billing_worker(
    once: bool = typer.Option(False, "--once", help="One pass over the ended cycles, then exit."),
    interval: float = typer.Option(300.0, "--interval", min=1.0, help="Seconds between passes."),
    grace_hours: float = typer.Option(
        6.0,
        "--grace-hours",
        min=0.0,
        help="Wait this long after a cycle ends (late CDRs) before invoicing it.",
    ),
    lookback: int = typer.Option(
        2, "--lookback", min=1, help="Ended months to look at (catch-up after downtime)."
    ),
    draft_only: bool = typer.Option(False, "--draft-only", help="Build drafts; do not issue."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable summary."),
) -> None:
    """Invoice every billing cycle that ended (calendar months): run + issue, idempotent, safe with several
    workers; SIGTERM finishes the cycle in progress, prints the summary and exits."""
    from datetime import timedelta

    from warp.db.connection import database_url
    from warp.workers.billing import BillingWorker

    progress = step_progress(disable=as_json)
    tasks: dict[str, TaskID] = {}

    def advance(period: date, step: str, done: int, total: int) -> None:
        key = period.strftime("%Y-%m")
        if key not in tasks:
            tasks[key] = progress.add_task(key, total=total)
        progress.update(tasks[key], description=f"{key} {step}", completed=done, total=total)

    def on_pass(result: cycles.PassResult) -> None:
        if as_json:
            return
        for o in result.cycles:
            colour = {"COMPLETED": "green", "FAILED": "red"}.get(o.status, "yellow")
            err_console.print(
                f"cycle {o.period_start:%Y-%m}: [{colour}]{o.status}[/] {o.invoices} invoices, "
                f"{o.issued} issued, total {o.total:,.2f}, {o.seconds:.1f} s"
                + (f" - {o.error}" if o.error else ""),
                highlight=False,
            )

    worker = BillingWorker(
        database_url(),
        interval=interval,
        grace=timedelta(hours=grace_hours),
        lookback=lookback,
        issue=not draft_only,
        progress=advance,
        on_pass=on_pass,
    )
    worker.install_signal_handlers()
    if not as_json:
        err_console.print(
            f"billing worker: {'one pass' if once else f'every {interval:g} s'}, lookback {lookback} months, "
            f"grace {grace_hours:g} h",
            highlight=False,
        )
    with progress:
        summary = worker.run(once=once)
    if as_json:
        print_json(summary.as_dict())
        return
    table = Table(
        "cycle", "status", "invoices", "created", "issued", "total", "seconds", title="billing worker"
    )
    for o in summary.outcomes:
        table.add_row(
            f"{o.period_start:%Y-%m}",
            o.status,
            str(o.invoices),
            str(o.created),
            str(o.issued),
            f"{o.total:,.2f}",
            f"{o.seconds:.1f}",
        )
    console.print(table)
    failed = sum(1 for o in summary.outcomes if o.status == "FAILED")
    console.print(
        f"{summary.passes} pass(es), {len(summary.outcomes)} cycle run(s), {failed} failed, "
        f"{summary.events_queued} billing event(s) awaiting webhook delivery"
        + (", stopped by signal" if summary.stopped_by_signal else ""),
        highlight=False,
    )
    if failed:
        raise typer.Exit(1)


# ---------------------------------------------------------------------------------------------
# warp payments record | list | show | refund

payments_app = typer.Typer(help="Payments received and refunds.", no_args_is_help=True)


@payments_app.command("record")
def record_payment(
    account: str = typer.Option(..., "--account", help="Account BAN."),
    amount: str = typer.Option(..., "--amount", help="Amount received, e.g. 125.00."),
    method: str = typer.Option(..., "--method", help="ACH, WIRE, CARD, CHECK or OTHER."),
    reference: str | None = typer.Option(
        None, "--reference", help="Processor's reference (unique per processor)."
    ),
    processor: str = typer.Option("manual", "--processor", help="Payment processor."),
    received_at: datetime | None = typer.Option(
        None, "--received-at", help="When it was received (default now)."
    ),
    notes: str | None = typer.Option(None, "--notes"),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable result."),
) -> None:
    """Record a payment and apply it to the account's oldest open invoices (the rest becomes credit)."""
    value = _money("amount", amount)
    when = received_at.replace(tzinfo=UTC) if received_at and received_at.tzinfo is None else received_at
    with staff_connection() as conn:
        account_id = invoices.account_id_for(conn, account)
        payment_id, applied = payments.record_payment(
            conn,
            account_id=account_id,
            amount=value,
            method=method.upper(),
            processor=processor,
            external_reference=reference,
            received_at=when,
            notes=notes,
        )
        detail = payments.get_payment(conn, payment_id)
    if as_json:
        print_json(detail)
        return
    console.print(f"payment {payment_id}: {value:,.2f} from {account} ({method.upper()})", highlight=False)
    table = Table("applied to", "amount")
    for a in applied:
        table.add_row(
            "account credit" if a.invoice_id is None else _invoice_label(detail, a.invoice_id),
            f"{a.amount:,.2f}",
        )
    console.print(table)


@payments_app.command("list")
def list_payments(
    account: str | None = typer.Option(None, "--account", help="Only this account (BAN)."),
    limit: int = typer.Option(50, "--limit", min=1, max=10_000),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable list."),
) -> None:
    """Payments, newest first, with what was applied and refunded."""
    with staff_connection() as conn:
        account_id = invoices.account_id_for(conn, account) if account else None
        rows = payments.list_payments(conn, account_id=account_id, limit=limit)
    if as_json:
        print_json(rows)
        return
    table = Table(
        "id", "account", "received", "method", "reference", "amount", "applied", "refunded", "status"
    )
    for r in rows:
        table.add_row(
            str(r["id"]),
            r["ban"],
            f"{r['received_at']:%Y-%m-%d %H:%M}",
            r["method"],
            r["external_reference"] or "",
            f"{r['amount']:,.2f}",
            f"{r['applied']:,.2f}",
            f"{r['refunded_amount']:,.2f}",
            r["status"],
        )
    console.print(table)


@payments_app.command("show")
def show_payment(
    payment_id: UUID = typer.Argument(..., help="Payment id."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable detail."),
) -> None:
    """One payment and its applications to invoices."""
    with staff_connection() as conn:
        detail = payments.get_payment(conn, payment_id)
    if as_json:
        print_json(detail)
        return
    console.print(
        f"payment {detail['id']}: {detail['amount']:,.2f} {detail['currency']} {detail['method']} "
        f"{detail['external_reference'] or ''} - {detail['status']}, refunded {detail['refunded_amount']:,.2f}",
        highlight=False,
    )
    table = Table("invoice", "applied", "refunded")
    for a in detail["applications"]:
        table.add_row(
            a["invoice_number"] or str(a["invoice_id"]), f"{a['amount']:,.2f}", f"{a['refunded_amount']:,.2f}"
        )
    console.print(table)


@payments_app.command("refund")
def refund_payment(
    payment_id: UUID = typer.Argument(..., help="Payment id."),
    amount: str = typer.Option(..., "--amount", help="Amount to refund."),
    reason: str = typer.Option(..., "--reason", help="Why (kept on the ledger entry)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable result."),
) -> None:
    """Refund part or all of a payment: its unused credit first, then the invoices it paid (newest first) are
    open again for what is taken back; the balance goes down through the ledger."""
    value = _money("amount", amount)
    with staff_connection() as conn:
        after = payments.refund_payment(conn, payment_id, value, reason)
        detail = payments.get_payment(conn, payment_id)
    if as_json:
        print_json({"payment": detail, "balance_after": after})
        return
    console.print(
        f"refunded {value:,.2f} of payment {payment_id} ({detail['status']}); balance now {after:,.2f}",
        highlight=False,
    )
    table = Table("invoice", "status", "paid", "total")
    for a in detail["applications"]:
        if a["refunded_amount"] > 0:
            table.add_row(
                a["invoice_number"] or str(a["invoice_id"]),
                a["invoice_status"],
                f"{a['invoice_paid_amount']:,.2f}",
                f"{a['invoice_total']:,.2f}",
            )
    console.print(table)


def _money(name: str, text: str) -> Decimal:
    try:
        value = Decimal(text.strip().replace(",", ""))
    except InvalidOperation:
        raise InvalidBilling(f"{name}: {text!r} is not an amount") from None
    if not value.is_finite() or value <= 0 or value != value.quantize(Decimal("0.01")):
        raise InvalidBilling(f"{name}: {text!r} must be positive with at most 2 decimals")
    return value


def _invoice_label(detail: dict[str, object], invoice_id: UUID) -> str:
    apps = detail.get("applications")
    for a in apps if isinstance(apps, list) else []:
        if a["invoice_id"] == invoice_id:
            return str(a["invoice_number"] or invoice_id)
    return str(invoice_id)
