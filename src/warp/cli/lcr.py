"""``warp lcr``: where would a call go, and why."""

from __future__ import annotations

from datetime import datetime

import typer
from rich.table import Table

from warp.accounts.service import get_account_by_ban
from warp.cli.output import console, print_json
from warp.cli.session import staff_connection
from warp.routing import service


def lcr(
    number: str = typer.Argument(..., help="Destination (E.164 with + or digits)."),
    account: str = typer.Option(..., "--account", help="BAN of the calling account."),
    origin: str | None = typer.Option(None, "--origin", help="Calling number (US jurisdiction)."),
    trunk: str | None = typer.Option(
        None, "--trunk", help="Customer trunk the call arrives on (its partition override applies)."
    ),
    limit: int = typer.Option(5, "--limit", help="How many candidates."),
    at: datetime | None = typer.Option(None, "--at", help="Route as of this time (default now)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Show the routing decision for a call: ordered candidates and the trunks left out with reasons."""
    with staff_connection() as conn:
        target = get_account_by_ban(conn, account)
        trunk_id = None if trunk is None else service.get_trunk_by_name(conn, target.id, trunk).id
        decision = service.lcr(conn, number, target.id, origin=origin, limit=limit, at=at, trunk_id=trunk_id)
    if as_json:
        print_json(decision.as_dict())
        return
    facts = [
        f"partition {decision.partition or '-'} ({decision.strategy or '-'}"
        + (f", from the {decision.partition_source}" if decision.partition_source else "")
        + ")",
        f"jurisdiction {decision.jurisdiction or 'unknown'}",
        f"sell rate {decision.sell_rate if decision.sell_rate is not None else 'unknown'}",
    ]
    console.print(f"route {number} for {account}: " + ", ".join(facts), highlight=False)
    if decision.blocked:
        console.print(f"[red]no route:[/] {decision.blocked}", highlight=False)
        return
    table = Table("#", "carrier trunk", "carrier", "prefix", "rate", "conn fee", "incr", "priority", "weight")
    for c in decision.candidates:
        table.add_row(
            str(c.rank),
            c.carrier_trunk or "",
            c.carrier or "",
            c.prefix or "",
            "" if c.rate is None else str(c.rate),
            "" if c.connection_fee is None else str(c.connection_fee),
            f"{c.initial_increment}/{c.subsequent_increment}" if c.initial_increment else "",
            str(c.priority),
            str(c.weight),
        )
    console.print(table)
    if not decision.candidates:
        console.print("[red]no route:[/] no carrier trunk qualifies")
    for x in decision.exclusions:
        console.print(f"carrier {x.carrier} trunk {x.carrier_trunk} excluded: {x.excluded}", highlight=False)
