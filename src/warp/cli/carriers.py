"""``warp carriers`` and ``warp carrier-trunks``: upstream carriers and their SIP endpoints."""

from __future__ import annotations

import dataclasses

import typer
from rich.table import Table

from warp.cli.output import console, print_json
from warp.cli.session import staff_connection
from warp.routing import service

app = typer.Typer(help="Upstream carriers.", no_args_is_help=True)
trunks_app = typer.Typer(help="Carrier trunks (SIP endpoints of carriers).", no_args_is_help=True)


@app.command()
def create(
    name: str = typer.Option(..., "--name", help="Carrier name (unique)."),
    carrier_type: str = typer.Option("TERMINATION", "--type", help="TERMINATION, ORIGINATION or BOTH."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Create a carrier."""
    with staff_connection() as conn:
        carrier = service.create_carrier(conn, name=name, carrier_type=carrier_type)
    if as_json:
        print_json(dataclasses.asdict(carrier))
    else:
        console.print(f"created carrier {carrier.name} id={carrier.id}")


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """List carriers."""
    with staff_connection() as conn:
        carriers = service.list_carriers(conn)
    if as_json:
        print_json([dataclasses.asdict(c) for c in carriers])
        return
    table = Table("name", "type", "enabled", "id")
    for c in carriers:
        table.add_row(c.name, c.carrier_type, "yes" if c.enabled else "no", str(c.id))
    console.print(table)


@app.command()
def disable(name: str = typer.Argument(..., help="Carrier name.")) -> None:
    """Disable a carrier: none of its trunks is offered by LCR."""
    with staff_connection() as conn:
        service.set_carrier_enabled(conn, name, False)
    console.print(f"carrier {name} disabled")


@app.command()
def enable(name: str = typer.Argument(..., help="Carrier name.")) -> None:
    """Enable a carrier."""
    with staff_connection() as conn:
        service.set_carrier_enabled(conn, name, True)
    console.print(f"carrier {name} enabled")


@trunks_app.command("create")
def create_trunk(
    carrier: str = typer.Option(..., "--carrier", help="Carrier name."),
    name: str = typer.Option(..., "--name", help="Carrier trunk name (unique)."),
    host: str = typer.Option(..., "--host", help="SIP host (name or address)."),
    port: int = typer.Option(5060, "--port", help="SIP port."),
    transport: str = typer.Option("udp", "--transport", help="udp, tcp, tls, ws or wss."),
    priority: int = typer.Option(100, "--priority", help="Lower is preferred (PRIORITY strategy, ties)."),
    weight: int = typer.Option(100, "--weight", help="Share among equal-cost routes (higher is more)."),
    max_channels: int | None = typer.Option(None, "--max-channels", help="Concurrent call limit."),
    emergency: bool = typer.Option(False, "--emergency", help="This is the 911/933 route."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Create a carrier trunk."""
    with staff_connection() as conn:
        trunk = service.create_carrier_trunk(
            conn,
            carrier=carrier,
            name=name,
            host=host,
            port=port,
            transport=transport,
            priority=priority,
            weight=weight,
            max_channels=max_channels,
            is_emergency=emergency,
        )
    if as_json:
        print_json(dataclasses.asdict(trunk))
    else:
        console.print(
            f"created carrier trunk {trunk.name} ({trunk.carrier}) {trunk.transport}:{trunk.host}:{trunk.port} "
            f"id={trunk.id}"
        )


@trunks_app.command("list")
def list_trunks(
    carrier: str | None = typer.Option(None, "--carrier", help="Only this carrier's trunks."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """List carrier trunks."""
    with staff_connection() as conn:
        trunks = service.list_carrier_trunks(conn, carrier)
    if as_json:
        print_json([dataclasses.asdict(t) for t in trunks])
        return
    table = Table("carrier", "name", "endpoint", "priority", "weight", "emergency", "enabled")
    for t in trunks:
        table.add_row(
            t.carrier,
            t.name,
            f"{t.transport}:{t.host}:{t.port}",
            str(t.priority),
            str(t.weight),
            "yes" if t.is_emergency else "",
            "yes" if t.enabled else "no",
        )
    console.print(table)


@trunks_app.command("disable")
def disable_trunk(name: str = typer.Argument(..., help="Carrier trunk name.")) -> None:
    """Disable a carrier trunk."""
    with staff_connection() as conn:
        service.set_carrier_trunk_enabled(conn, name, False)
    console.print(f"carrier trunk {name} disabled")


@trunks_app.command("enable")
def enable_trunk(name: str = typer.Argument(..., help="Carrier trunk name.")) -> None:
    """Enable a carrier trunk."""
    with staff_connection() as conn:
        service.set_carrier_trunk_enabled(conn, name, True)
    console.print(f"carrier trunk {name} enabled")
