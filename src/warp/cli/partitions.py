"""``warp partitions``: routing partitions and which accounts use them."""

from __future__ import annotations

import dataclasses

import typer
from rich.table import Table

from warp.accounts.service import get_account_by_ban
from warp.cli.output import console, print_json
from warp.cli.session import staff_connection
from warp.routing import service

app = typer.Typer(help="Routing partitions.", no_args_is_help=True)


@app.command()
def create(
    name: str = typer.Option(..., "--name", help="Partition name (unique)."),
    carrier_trunks: str = typer.Option(..., "--carrier-trunks", help="Comma-separated carrier trunk names."),
    strategy: str = typer.Option("LCR", "--strategy", help="LCR, PRIORITY, QUALITY or WEIGHTED."),
    allow_loss: bool = typer.Option(False, "--allow-loss", help="Route above the account's sell rate."),
    default: bool = typer.Option(False, "--default", help="Accounts without a partition use this one."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Create a partition."""
    with staff_connection() as conn:
        partition = service.create_partition(
            conn,
            name=name,
            carrier_trunks=carrier_trunks.split(","),
            strategy=strategy,
            allow_loss_routing=allow_loss,
            is_default=default,
        )
    if as_json:
        print_json(dataclasses.asdict(partition))
    else:
        console.print(
            f"created partition {partition.name} ({partition.strategy}) with {', '.join(partition.carrier_trunks)}"
        )


@app.command()
def assign(
    account: str = typer.Option(..., "--account", help="BAN of the account."),
    partition: str = typer.Option(..., "--partition", help="Partition name."),
    trunk: str | None = typer.Option(
        None, "--trunk", help="Only calls on this customer trunk of the account (a per-trunk override)."
    ),
) -> None:
    """Route an account (or one of its customer trunks) through a partition."""
    with staff_connection() as conn:
        target = get_account_by_ban(conn, account)
        trunk_id = None if trunk is None else service.get_trunk_by_name(conn, target.id, trunk).id
        service.assign_partition(conn, account_id=target.id, partition=partition, trunk_id=trunk_id)
    who = f"account {account}" if trunk is None else f"trunk {trunk} of account {account}"
    console.print(f"{who} now routes through partition {partition}")


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """List partitions."""
    with staff_connection() as conn:
        partitions = service.list_partitions(conn)
    if as_json:
        print_json([dataclasses.asdict(p) for p in partitions])
        return
    table = Table("name", "strategy", "default", "loss routing", "carrier trunks", "accounts")
    for p in partitions:
        table.add_row(
            p.name,
            p.strategy,
            "yes" if p.is_default else "",
            "allowed" if p.allow_loss_routing else "",
            ", ".join(p.carrier_trunks),
            str(p.accounts),
        )
    console.print(table)
