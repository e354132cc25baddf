"""``warp compliance``: the compliance report and security incident workflow."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import typer
from rich.table import Table

from warp.cli.output import console, print_json
from warp.cli.session import staff_connection
from warp.compliance import service

app = typer.Typer(help="Compliance: E911, STIR/SHAKEN, 10DLC, incidents, retention.", no_args_is_help=True)

SECTIONS = {
    "e911_gaps": ("E911 gaps (voice DIDs without a valid address)", ("ban", "number", "reason")),
    "expiring_certificates": (
        "STIR/SHAKEN certificates expiring within 30 days",
        ("name", "spc", "not_after", "days_left"),
    ),
    "ten_dlc_gaps": ("10DLC numbers without an approved campaign", ("ban", "number", "reason")),
    "open_incidents": ("Open incidents", ("kind", "type", "severity", "status", "title", "ban")),
}


@app.command("report")
def report(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Everything that needs attention; exit status 1 when anything does."""
    with staff_connection() as conn:
        data = service.compliance_report(conn)
    if as_json:
        print_json(data)
    else:
        for key, (title, columns) in SECTIONS.items():
            rows: list[dict[str, Any]] = data[key]
            table = Table(title=f"{title}: {len(rows)}")
            for col in columns:
                table.add_column(col)
            for r in rows[:200]:
                table.add_row(*(str(r.get(c) if r.get(c) is not None else "") for c in columns))
            console.print(table)
    if any(data.values()):
        raise typer.Exit(1)


@app.command("incident-status")
def incident_status(
    incident_id: UUID = typer.Argument(..., help="Security incident id."),
    status: str = typer.Argument(..., help="INVESTIGATING, CONTAINED, RESOLVED or CLOSED."),
) -> None:
    """Move a security incident along its workflow."""
    with staff_connection() as conn:
        row = service.set_incident_status(conn, incident_id, status.upper())
    console.print(f"incident {row['id']}: {row['status']}")


@app.command("retention")
def retention(
    dry_run: bool = typer.Option(False, "--dry-run", help="Only say what would go."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Apply retention policies (whole partitions dropped or detached; never row deletes on partitioned tables)."""
    with staff_connection() as conn:
        rows = service.apply_retention(conn, dry_run=dry_run)
    if as_json:
        print_json(rows)
        return
    table = Table(title="Retention" + (" (dry run)" if dry_run else ""))
    for col in ("table", "target", "action", "rows"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["table_name"], r["target"], r["action"], str(r["rows_affected"] or ""))
    console.print(table)
