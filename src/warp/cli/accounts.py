"""``warp accounts``: create and list customer accounts."""

from __future__ import annotations

import dataclasses

import typer
from rich.table import Table

from warp.accounts import service
from warp.cli.output import console, print_json
from warp.cli.session import staff_connection

app = typer.Typer(help="Customer accounts.", no_args_is_help=True)


@app.command()
def create(
    name: str = typer.Option(..., "--name", help="Account name."),
    ban: str = typer.Option(..., "--ban", help="Billing account number (unique)."),
    account_type: str = typer.Option("CUSTOMER", "--type", help="CUSTOMER, RESELLER or INTERNAL."),
    parent: str | None = typer.Option(None, "--parent", help="BAN of the reseller parent."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Create an account."""
    with staff_connection() as conn:
        account = service.create_account(
            conn, name=name, ban=ban, account_type=account_type.upper(), parent_ban=parent
        )
    if as_json:
        print_json(dataclasses.asdict(account))
    else:
        console.print(f"created account {account.ban} ({account.name}) id={account.id}")


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """List accounts."""
    with staff_connection() as conn:
        accounts = service.list_accounts(conn)
    if as_json:
        print_json([dataclasses.asdict(a) for a in accounts])
        return
    table = Table("ban", "name", "type", "status", "id")
    for a in accounts:
        table.add_row(a.ban, a.name, a.account_type, a.status, str(a.id))
    console.print(table)
