"""``warp numbers``: inventory import, maintenance, E911 compliance and staff porting transitions."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from uuid import UUID

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from warp.cli.output import console, err_console, print_json
from warp.cli.session import staff_connection
from warp.numbers import e911, importer, porting, service, toll_free
from warp.numbers.errors import NumbersError

app = typer.Typer(help="Phone numbers: inventory, E911 and porting.", no_args_is_help=True)


def _count_lines(path: Path) -> int:
    with path.open("rb") as fh:
        return max(sum(1 for _ in fh) - 1, 0)


@app.command("import")
def import_(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="CSV file."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Load inventory from CSV (number,number_type,npa,nxx,rate_center,state,lata,ocn[,features,...]).

    Toll-free rows may carry resp_org (5-character RespOrg code) and resp_org_name (numbers.toll_free).

    Every bad row is reported with its line number; good rows load in one transaction; numbers already
    in inventory are left unchanged. Exits 1 when any row was rejected.
    """
    total = _count_lines(file)
    with (
        Progress(
            TextColumn("[bold]importing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err_console,
            disable=as_json,
            transient=True,
        ) as progress,
    ):
        task = progress.add_task("rows", total=total)
        try:
            with staff_connection() as conn:
                result = importer.import_file(conn, file, lambda n: progress.advance(task, n))
        except importer.ImportFileError as exc:
            raise NumbersError(f"{file}: {exc}") from exc
    if as_json:
        print_json(
            {
                "rows": result.rows,
                "inserted": result.inserted,
                "unchanged": result.unchanged,
                "errors": [{"line": e.line, "reason": e.reason} for e in result.errors],
            }
        )
    else:
        for e in result.errors:
            err_console.print(f"{file}:{e.line}: {e.reason}", highlight=False, soft_wrap=True)
        table = Table("rows", "inserted", "unchanged", "rejected")
        table.add_row(str(result.rows), str(result.inserted), str(result.unchanged), str(len(result.errors)))
        console.print(table)
    if result.errors:
        raise typer.Exit(1)


@app.command()
def maintain() -> None:
    """Return expired reservations and aged numbers to AVAILABLE."""
    with staff_connection() as conn:
        freed = service.cleanup_expired_reservations(conn)
        recycled = service.recycle_aged_numbers(conn)
    console.print(f"expired reservations freed: {freed}; aged numbers recycled: {recycled}")


@app.command("e911-check")
def e911_check(
    account: str | None = typer.Option(None, "--account", help="BAN of one account (default: all)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """List voice-enabled DIDs without a valid E911 address or exemption. Exits 1 when any exist."""
    with staff_connection() as conn:
        account_id: UUID | None = None
        if account is not None:
            row = conn.execute("SELECT id FROM accounts.accounts WHERE ban = %s", (account,)).fetchone()
            if row is None:
                raise NumbersError(f"--account: no account with BAN {account!r}")
            account_id = row["id"]
        issues = e911.check_compliance(conn, account_id)
    if as_json:
        print_json([i.model_dump(mode="json") for i in issues])
    elif not issues:
        console.print("all voice-enabled DIDs have a valid E911 address or an exemption")
    else:
        table = Table("account", "number", "reason")
        for i in issues:
            table.add_row(i.ban or str(i.account_id), i.number, i.reason)
        console.print(table)
    if issues:
        raise typer.Exit(1)


@app.command("port")
def port(
    request_id: UUID = typer.Argument(..., help="Port request id."),
    action: str = typer.Argument(..., help="submit, cancel, foc, complete or reject."),
    foc_date: str | None = typer.Option(None, "--foc-date", help="FOC date (YYYY-MM-DD), for foc."),
    code: str | None = typer.Option(None, "--code", help="Rejection code, for reject."),
    reason: str | None = typer.Option(None, "--reason", help="Rejection text, for reject."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Move a port request (staff): FOC received, completed (numbers become DIDs), rejected..."""
    try:
        foc = date.fromisoformat(foc_date) if foc_date else None
    except ValueError as exc:
        raise NumbersError(f"--foc-date: {foc_date!r} is not YYYY-MM-DD") from exc
    with staff_connection() as conn:
        req = porting.transition(
            conn, request_id, action, foc_date=foc, rejection_code=code, rejection_reason=reason
        )
    if as_json:
        print_json(req.model_dump(mode="json"))
    else:
        console.print(f"port request {req.id}: {req.status} ({len(req.numbers)} numbers)")


@app.command("resp-org")
def resp_org(
    number: str = typer.Argument(..., help="Toll-free number in E.164, e.g. +18005550100."),
    resp_org_id: str = typer.Argument(..., help="New RespOrg ID: 5 letters or digits (e.g. ABC01)."),
    name: str | None = typer.Option(
        None, "--name", help="RespOrg name (default: kept if the ID is unchanged)."
    ),
    clear_name: bool = typer.Option(False, "--clear-name", help="Remove the RespOrg name."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Change the RespOrg of a toll-free number after import (staff; recorded in the audit log)."""
    if name is not None and clear_name:
        raise NumbersError("--name and --clear-name: give one or the other")
    with staff_connection() as conn:
        if clear_name:
            tf = toll_free.set_resp_org(conn, number, resp_org_id, resp_org_name=None)
        elif name is not None:
            tf = toll_free.set_resp_org(conn, number, resp_org_id, resp_org_name=name)
        else:
            tf = toll_free.set_resp_org(conn, number, resp_org_id)
    if as_json:
        print_json(tf.model_dump(mode="json"))
    else:
        console.print(
            f"{tf.number}: RespOrg {tf.resp_org_id}" + (f" ({tf.resp_org_name})" if tf.resp_org_name else "")
        )


@app.command("resp-org-import")
def resp_org_import(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="CSV file."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Change the RespOrg of many toll-free numbers from CSV: number,resp_org_id[,resp_org_name].

    All or nothing: every bad line is reported with its line number and nothing is changed (exit 1).
    With a resp_org_name column its value is set (empty clears it); without it names are kept where the
    RespOrg ID does not change. Every change is recorded in the audit log.
    """
    with staff_connection() as conn, file.open(newline="", encoding="utf-8-sig") as fh:
        result = toll_free.set_resp_orgs_from_csv(conn, fh)
    if as_json:
        print_json(
            {
                "rows": result.rows,
                "changed": result.changed,
                "unchanged": result.unchanged,
                "errors": [{"line": e.line, "reason": e.reason} for e in result.errors],
            }
        )
    else:
        for e in result.errors:
            err_console.print(f"{file}:{e.line}: {e.reason}", highlight=False, soft_wrap=True)
        if result.errors:
            err_console.print(f"{len(result.errors)} bad line(s): nothing changed")
        table = Table("rows", "changed", "unchanged", "rejected")
        table.add_row(str(result.rows), str(result.changed), str(result.unchanged), str(len(result.errors)))
        console.print(table)
    if result.errors:
        raise typer.Exit(1)
