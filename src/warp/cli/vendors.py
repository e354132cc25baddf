"""``warp vendors``: vendors and their contracts, commitments, carrier performance metrics and SLA checks."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from uuid import UUID

import typer
from rich.table import Table

from warp.cli.output import console, print_json
from warp.cli.session import staff_connection
from warp.errors import WarpError
from warp.vendors import contracts as svc
from warp.vendors import metrics, slas
from warp.vendors.errors import InvalidContract, InvalidSla

app = typer.Typer(
    help="Vendors, contracts and commitments; hourly carrier metrics from CDRs and SLA breaches.",
    no_args_is_help=True,
)
contracts_app = typer.Typer(help="A vendor's contracts: add, list, end.", no_args_is_help=True)
app.add_typer(contracts_app, name="contracts")


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


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidContract(f"{option}: {value!r} is not a date (YYYY-MM-DD)") from exc


def _money(value: str | None, option: str) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(value)
    except InvalidOperation as exc:
        raise InvalidContract(f"{option}: {value!r} is not an amount (1234.50)") from exc


def _vendor_table(rows: list[svc.Vendor], title: str) -> None:
    table = Table(title=title)
    for col in ("name", "type", "status", "support", "id"):
        table.add_column(col)
    for v in rows:
        support = ", ".join(x for x in (v.support_email, v.support_phone) if x)
        table.add_row(v.name, v.vendor_type, v.status, support, str(v.id))
    console.print(table)


def _contract_table(rows: list[svc.Contract], title: str) -> None:
    table = Table(title=title)
    for col in ("name", "status", "start", "end", "commitment", "terms", "id"):
        table.add_column(col)
    for c in rows:
        parts = []
        if c.commitment_amount is not None:
            parts.append(f"{c.commitment_amount} {c.currency}")
        if c.commitment_minutes is not None:
            parts.append(f"{c.commitment_minutes} min")
        commitment = (" + ".join(parts) + f" {c.commitment_period.lower()}") if c.commitment_period else ""
        table.add_row(
            c.name, c.status, str(c.start_date), str(c.end_date or ""), commitment, c.terms or "", str(c.id)
        )
    console.print(table)


@app.command("create")
def create_cmd(
    name: str = typer.Argument(..., help="Unique vendor name."),
    vendor_type: str = typer.Option(
        ..., "--type", help="CARRIER, MESSAGING, NUMBERING, LRN, E911, CNAM, TAX, PAYMENTS or OTHER."
    ),
    status: str = typer.Option("ACTIVE", "--status", help="ACTIVE, INACTIVE or TERMINATED."),
    website: str | None = typer.Option(None, "--website"),
    support_email: str | None = typer.Option(None, "--support-email"),
    support_phone: str | None = typer.Option(None, "--support-phone", help="E.164."),
    notes: str | None = typer.Option(None, "--notes"),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Create a vendor."""
    with staff_connection() as conn:
        vendor = svc.create_vendor(
            conn,
            name=name,
            vendor_type=vendor_type,
            status=status,
            website=website,
            support_email=support_email,
            support_phone=support_phone,
            notes=notes,
        )
    if as_json:
        print_json(asdict(vendor))
    else:
        console.print(f"created vendor {vendor.name} ({vendor.vendor_type}) {vendor.id}")


@app.command("list")
def list_cmd(
    vendor_type: str | None = typer.Option(None, "--type", help="Only vendors of this type."),
    status: str | None = typer.Option(None, "--status", help="Only vendors with this status."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """List vendors (oldest first)."""
    with staff_connection() as conn:
        rows = svc.list_vendors(conn, vendor_type=vendor_type, status=status, limit=100_000)
    if as_json:
        print_json([asdict(v) for v in rows])
    else:
        _vendor_table(rows, f"Vendors: {len(rows)}")


@app.command("show")
def show_cmd(
    vendor: str = typer.Argument(..., help="Vendor name or id."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """A vendor with its contracts, SLAs, carriers, service providers and open incidents."""
    with staff_connection() as conn:
        data = svc.vendor_overview(conn, svc.find_vendor(conn, vendor).id)
    if as_json:
        print_json(
            {**data, "vendor": asdict(data["vendor"]), "contracts": [asdict(c) for c in data["contracts"]]}
        )
        return
    _vendor_table([data["vendor"]], f"Vendor {data['vendor'].name}")
    _contract_table(data["contracts"], "Contracts")
    for sla in data["slas"]:
        op = ">=" if sla["comparator"] == "GTE" else "<="
        state = "" if sla["enabled"] else " (disabled)"
        console.print(
            f"SLA {sla['metric']} {op} {sla['target_value']} per {sla['measurement_window'].lower()}{state}"
        )
    console.print("carriers: " + (", ".join(c["name"] for c in data["carriers"]) or "none"))
    console.print("providers: " + (", ".join(p["name"] for p in data["providers"]) or "none"))
    for i in data["open_incidents"]:
        console.print(f"[red]open incident:[/] {i['title']} ({i['severity']}, {i['status']})")


@app.command("update")
def update_cmd(
    vendor: str = typer.Argument(..., help="Vendor name or id."),
    name: str | None = typer.Option(None, "--name", help="New name."),
    vendor_type: str | None = typer.Option(None, "--type"),
    status: str | None = typer.Option(None, "--status"),
    website: str | None = typer.Option(None, "--website"),
    support_email: str | None = typer.Option(None, "--support-email"),
    support_phone: str | None = typer.Option(None, "--support-phone"),
    notes: str | None = typer.Option(None, "--notes"),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Change a vendor's fields (only the options given)."""
    given = {
        "name": name,
        "vendor_type": vendor_type,
        "status": status,
        "website": website,
        "support_email": support_email,
        "support_phone": support_phone,
        "notes": notes,
    }
    with staff_connection() as conn:
        current = svc.find_vendor(conn, vendor)
        updated = svc.update_vendor(conn, current.id, **{k: v for k, v in given.items() if v is not None})
    if as_json:
        print_json(asdict(updated))
    else:
        console.print(f"updated vendor {updated.name} ({updated.vendor_type}, {updated.status})")


@contracts_app.command("add")
def contract_add(
    vendor: str = typer.Argument(..., help="Vendor name or id."),
    name: str = typer.Option(..., "--name", help="Contract name."),
    start: str = typer.Option(..., "--start", help="Start date (YYYY-MM-DD)."),
    end: str | None = typer.Option(None, "--end", help="End date, inclusive (YYYY-MM-DD); none: open-ended."),
    status: str = typer.Option("ACTIVE", "--status", help="DRAFT, ACTIVE, EXPIRED or TERMINATED."),
    commit_amount: str | None = typer.Option(None, "--commit-amount", help="Minimum spend per period."),
    commit_minutes: int | None = typer.Option(None, "--commit-minutes", help="Minimum minutes per period."),
    commit_period: str | None = typer.Option(None, "--commit-period", help="MONTHLY, QUARTERLY or ANNUAL."),
    currency: str = typer.Option("USD", "--currency"),
    payment_terms_days: int | None = typer.Option(None, "--payment-terms-days"),
    auto_renew: bool = typer.Option(False, "--auto-renew"),
    renewal_notice_days: int | None = typer.Option(None, "--renewal-notice-days"),
    terms: str | None = typer.Option(None, "--terms", help="Terms in words (billing increments, scope...)."),
    document_ref: str | None = typer.Option(None, "--document", help="Where the signed document is."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Add a contract to a vendor (end on or after start; a commitment needs --commit-period)."""
    start_day = _day(start, "--start")
    assert start_day is not None
    with staff_connection() as conn:
        contract = svc.add_contract(
            conn,
            svc.find_vendor(conn, vendor).id,
            name=name,
            start_date=start_day,
            end_date=_day(end, "--end"),
            status=status,
            auto_renew=auto_renew,
            renewal_notice_days=renewal_notice_days,
            commitment_amount=_money(commit_amount, "--commit-amount"),
            commitment_period=commit_period,
            commitment_minutes=commit_minutes,
            currency=currency,
            payment_terms_days=payment_terms_days,
            terms=terms,
            document_ref=document_ref,
        )
    if as_json:
        print_json(asdict(contract))
    else:
        console.print(
            f"added contract {contract.name} ({contract.status}, from {contract.start_date}) {contract.id}"
        )


@contracts_app.command("list")
def contract_list(
    vendor: str = typer.Argument(..., help="Vendor name or id."),
    status: str | None = typer.Option(None, "--status", help="Only contracts with this status."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """A vendor's contracts."""
    with staff_connection() as conn:
        v = svc.find_vendor(conn, vendor)
        rows = svc.list_contracts(conn, v.id, status=status)
    if as_json:
        print_json([asdict(c) for c in rows])
    else:
        _contract_table(rows, f"Contracts of {v.name}: {len(rows)}")


@contracts_app.command("end")
def contract_end(
    contract_id: str = typer.Argument(..., help="Contract id."),
    on: str | None = typer.Option(None, "--on", help="Last day (YYYY-MM-DD); default today (UTC)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Terminate a contract (status TERMINATED, end date set)."""
    try:
        cid = UUID(contract_id)
    except ValueError as exc:
        raise InvalidContract(f"contract_id: {contract_id!r} is not a contract id") from exc
    with staff_connection() as conn:
        contract = svc.end_contract(conn, cid, end_date=_day(on, "--on"))
    if as_json:
        print_json(asdict(contract))
    else:
        console.print(f"contract {contract.name}: {contract.status}, ended {contract.end_date}")


@contracts_app.command("due")
def contract_due(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """ACTIVE contracts ending within their renewal notice, or past their end date; exit 1 when any."""
    with staff_connection() as conn:
        rows = svc.contracts_due(conn)
    if as_json:
        print_json(rows)
    else:
        table = Table(title=f"Contracts needing a decision: {len(rows)}")
        for col in ("vendor", "contract", "ends", "days left", "auto-renew", "reason"):
            table.add_column(col)
        for r in rows:
            table.add_row(
                r["vendor_name"],
                r["contract_name"],
                str(r["end_date"]),
                str(r["days_left"]),
                "yes" if r["auto_renew"] else "no",
                r["reason"],
            )
        console.print(table)
    if rows:
        raise typer.Exit(1)


@app.command("commitments")
def commitments_cmd(
    start: str | None = typer.Option(None, "--from", help="First day (default: first of this month)."),
    end: str | None = typer.Option(None, "--to", help="Day after the last (default: first of next month)."),
    vendor: str | None = typer.Option(None, "--vendor", help="Only this vendor (name or id)."),
    refresh: bool = typer.Option(
        False, "--refresh", help="Refresh reporting.carrier_performance first (else: as of maintenance)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Committed spend/minutes per contract period against actual vendor cost and minutes.

    Exit status 1 when a period that has ended missed its commitment.
    """
    today = datetime.now(UTC).date()
    first = today.replace(day=1)
    t0 = _day(start, "--from") or first
    t1 = _day(end, "--to") or (first + timedelta(days=32)).replace(day=1)
    with staff_connection() as conn:
        vendor_id = svc.find_vendor(conn, vendor).id if vendor else None
        rows = svc.commitments(conn, t0, t1, vendor_id=vendor_id, refresh=refresh)
    if as_json:
        print_json(rows)
    else:
        table = Table(title=f"Contract commitments {t0} .. {t1}")
        for col in ("vendor", "contract", "period", "committed", "actual", "shortfall", "minutes", "status"):
            table.add_column(col)
        for r in rows:
            minutes = (
                f"{r['actual_minutes']} / {r['committed_minutes']}"
                if r["committed_minutes"] is not None
                else ""
            )
            state = "in progress" if r["in_progress"] else ("met" if r["met"] else "[red]MISSED[/]")
            table.add_row(
                r["vendor_name"],
                r["contract_name"],
                f"{r['period_start']} .. {r['period_end']}",
                "" if r["committed_amount"] is None else f"{r['committed_amount']} {r['currency']}",
                f"{r['actual_spend']} {r['currency']}",
                "" if r["spend_shortfall"] is None else str(r["spend_shortfall"]),
                minutes,
                state,
            )
        console.print(table)
    if any(not r["met"] and not r["in_progress"] for r in rows):
        raise typer.Exit(1)


slas_app = typer.Typer(help="SLA targets: add, list, enable/disable.", no_args_is_help=True)
incidents_app = typer.Typer(help="Vendor incidents (SLA breaches...): list, move along the workflow.")
app.add_typer(slas_app, name="slas")
app.add_typer(incidents_app, name="incidents", no_args_is_help=True)


def _uuid(value: str | None, option: str) -> UUID | None:
    if value is None:
        return None
    try:
        return UUID(value)
    except ValueError as exc:
        raise InvalidSla(f"{option}: {value!r} is not an id") from exc


@slas_app.command("add")
def sla_add(
    vendor: str = typer.Argument(..., help="Vendor name or id."),
    metric: str = typer.Option(..., "--metric", help="ASR, ACD, PDD, NER, UPTIME or DELIVERY_RATE."),
    target: str = typer.Option(..., "--target", help="Target (percent for ASR/NER/UPTIME/DELIVERY_RATE)."),
    window: str = typer.Option("DAY", "--window", help="HOUR, DAY or MONTH."),
    comparator: str | None = typer.Option(None, "--comparator", help="GTE or LTE (default: LTE for PDD)."),
    carrier: str | None = typer.Option(None, "--carrier", help="Carrier id (required for ASR/ACD/PDD/NER)."),
    contract: str | None = typer.Option(None, "--contract", help="Contract id the SLA belongs to."),
    description: str | None = typer.Option(None, "--description"),
    effective: str | None = typer.Option(None, "--effective", help="First day (default today)."),
    expires: str | None = typer.Option(None, "--expires", help="Day it stops applying."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Add an SLA target to a vendor (or one of its carriers)."""
    with staff_connection() as conn:
        row = slas.add_sla(
            conn,
            svc.find_vendor(conn, vendor).id,
            metric=metric,
            target_value=_money(target, "--target") or Decimal(0),
            comparator=comparator,
            measurement_window=window,
            carrier_id=_uuid(carrier, "--carrier"),
            contract_id=_uuid(contract, "--contract"),
            description=description,
            effective_date=_day(effective, "--effective"),
            expires_date=_day(expires, "--expires"),
        )
    if as_json:
        print_json(asdict(row))
    else:
        op = ">=" if row.comparator == "GTE" else "<="
        console.print(
            f"SLA {row.metric} {op} {row.target_value} per {row.measurement_window.lower()}: {row.id}"
        )


@slas_app.command("list")
def sla_list(
    vendor: str | None = typer.Argument(None, help="Vendor name or id (default: all)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """SLA targets."""
    with staff_connection() as conn:
        vendor_id = svc.find_vendor(conn, vendor).id if vendor else None
        rows = slas.list_slas(conn, vendor_id)
    if as_json:
        print_json([asdict(r) for r in rows])
        return
    table = Table(title=f"SLAs: {len(rows)}")
    for col in ("metric", "target", "window", "carrier", "enabled", "from", "until", "id"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r.metric,
            f"{'>=' if r.comparator == 'GTE' else '<='} {r.target_value}",
            r.measurement_window,
            str(r.carrier_id or "(vendor)"),
            "yes" if r.enabled else "no",
            str(r.effective_date),
            str(r.expires_date or ""),
            str(r.id),
        )
    console.print(table)


def _set_sla_enabled(sla_id: str, enabled: bool) -> None:
    sid = _uuid(sla_id, "sla_id")
    assert sid is not None
    with staff_connection() as conn:
        row = slas.set_sla_enabled(conn, sid, enabled)
    console.print(f"SLA {row.id} {'enabled' if enabled else 'disabled'}")


@slas_app.command("disable")
def sla_disable(sla_id: str = typer.Argument(..., help="SLA id.")) -> None:
    """Stop evaluating an SLA."""
    _set_sla_enabled(sla_id, False)


@slas_app.command("enable")
def sla_enable(sla_id: str = typer.Argument(..., help="SLA id.")) -> None:
    """Evaluate an SLA again."""
    _set_sla_enabled(sla_id, True)


@incidents_app.command("list")
def incident_list(
    vendor: str | None = typer.Option(None, "--vendor", help="Only this vendor (name or id)."),
    all_: bool = typer.Option(False, "--all", help="Also RESOLVED and CLOSED ones."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Vendor incidents (default: OPEN and ACKNOWLEDGED)."""
    with staff_connection() as conn:
        vendor_id = svc.find_vendor(conn, vendor).id if vendor else None
        rows = slas.list_incidents(conn, vendor_id=vendor_id, open_only=not all_)
    if as_json:
        print_json([asdict(r) for r in rows])
        return
    table = Table(title=f"Vendor incidents: {len(rows)}")
    for col in ("opened", "severity", "status", "title", "observed", "ticket", "id"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            f"{r.opened_at:%Y-%m-%d %H:%M}",
            r.severity,
            r.status,
            r.title,
            str(r.observed_value if r.observed_value is not None else ""),
            r.external_ticket_ref or "",
            str(r.id),
        )
    console.print(table)


@incidents_app.command("status")
def incident_status(
    incident_id: str = typer.Argument(..., help="Vendor incident id."),
    status: str = typer.Argument(
        ..., help="ACKNOWLEDGED, RESOLVED, CLOSED (or OPEN to reopen a resolved one)."
    ),
    ticket: str | None = typer.Option(None, "--ticket", help="The vendor's trouble ticket reference."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Move a vendor incident along its workflow."""
    iid = _uuid(incident_id, "incident_id")
    assert iid is not None
    with staff_connection() as conn:
        row = slas.set_incident_status(conn, iid, status, external_ticket_ref=ticket)
    if as_json:
        print_json(asdict(row))
    else:
        console.print(f"incident {row.id}: {row.status}")
