"""``warp trunks``: customer SIP trunks and their IP ACLs."""

from __future__ import annotations

import dataclasses
from typing import Any
from uuid import UUID

import typer
from rich.table import Table

from warp.accounts.service import get_account_by_ban
from warp.cli.output import console, print_json
from warp.cli.session import staff_connection
from warp.routing import service

app = typer.Typer(help="Customer SIP trunks.", no_args_is_help=True)
acl_app = typer.Typer(help="IP ACL of a customer trunk.", no_args_is_help=True)
app.add_typer(acl_app, name="acl")


def _split(value: str | None) -> list[str] | None:
    return None if value is None else [v.strip() for v in value.split(",") if v.strip()]


@app.command()
def create(
    account: str = typer.Option(..., "--account", help="BAN of the owning account."),
    name: str = typer.Option(..., "--name", help="Trunk name (unique in the account)."),
    auth_type: str = typer.Option("IP_ACL", "--auth-type", help="IP_ACL, SIP_REGISTER or BOTH."),
    sip_username: str | None = typer.Option(None, "--sip-username", help="SIP digest user name."),
    sip_password: str | None = typer.Option(
        None, "--sip-password", help="SIP password (only its HA1 digest is stored)."
    ),
    sip_realm: str | None = typer.Option(None, "--sip-realm", help="SIP digest realm."),
    max_calls: int = typer.Option(10, "--max-calls", help="Max concurrent calls."),
    max_cps: int = typer.Option(5, "--max-cps", help="Max calls per second."),
    codecs: str = typer.Option("PCMU,PCMA", "--codecs", help="Comma-separated codecs in preference order."),
    tech_prefix: str | None = typer.Option(None, "--tech-prefix", help="Tech prefix ([0-9#*], 1-16)."),
    acl: str | None = typer.Option(None, "--acl", help="Comma-separated networks to allow."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Create a customer trunk (optionally with its ACL)."""
    with staff_connection() as conn:
        owner = get_account_by_ban(conn, account)
        trunk = service.create_trunk(
            conn,
            account_id=owner.id,
            name=name,
            auth_type=auth_type,
            sip_username=sip_username,
            sip_password=sip_password,
            sip_realm=sip_realm,
            max_concurrent_calls=max_calls,
            max_calls_per_second=max_cps,
            codecs=_split(codecs) or [],
            tech_prefix=tech_prefix,
        )
        entries = [service.add_acl(conn, trunk.id, n) for n in _split(acl) or []]
    if as_json:
        print_json({**dataclasses.asdict(trunk), "acl": [e.network for e in entries]})
    else:
        console.print(f"created trunk {trunk.name} ({trunk.auth_type}) for {account} id={trunk.id}")


@app.command("list")
def list_(
    account: str | None = typer.Option(None, "--account", help="Only this account's trunks."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """List customer trunks."""
    with staff_connection() as conn:
        account_id = None if account is None else get_account_by_ban(conn, account).id
        trunks = service.list_trunks(conn, account_id)
    if as_json:
        print_json([dataclasses.asdict(t) for t in trunks])
        return
    table = Table("name", "auth", "sip user", "calls", "cps", "codecs", "enabled", "id")
    for t in trunks:
        table.add_row(
            t.name,
            t.auth_type,
            t.sip_username or "",
            str(t.max_concurrent_calls),
            str(t.max_calls_per_second),
            ",".join(t.codecs),
            "yes" if t.enabled else "no",
            str(t.id),
        )
    console.print(table)


@app.command()
def update(
    trunk_id: UUID = typer.Argument(..., help="Trunk id."),
    name: str | None = typer.Option(None, "--name"),
    max_calls: int | None = typer.Option(None, "--max-calls"),
    max_cps: int | None = typer.Option(None, "--max-cps"),
    codecs: str | None = typer.Option(None, "--codecs"),
    tech_prefix: str | None = typer.Option(None, "--tech-prefix"),
    enabled: bool | None = typer.Option(None, "--enabled/--disabled"),
    auth_type: str | None = typer.Option(None, "--auth-type"),
    sip_username: str | None = typer.Option(None, "--sip-username"),
    sip_password: str | None = typer.Option(None, "--sip-password"),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Change a customer trunk."""
    changes: dict[str, Any] = {
        k: v
        for k, v in {
            "name": name,
            "max_concurrent_calls": max_calls,
            "max_calls_per_second": max_cps,
            "codecs": _split(codecs),
            "tech_prefix": tech_prefix,
            "enabled": enabled,
            "auth_type": auth_type,
            "sip_username": sip_username,
            "sip_password": sip_password,
        }.items()
        if v is not None
    }
    with staff_connection() as conn:
        trunk = service.update_trunk(conn, trunk_id, **changes)
    if as_json:
        print_json(dataclasses.asdict(trunk))
    else:
        console.print(f"updated trunk {trunk.name} id={trunk.id}")


@app.command()
def delete(trunk_id: UUID = typer.Argument(..., help="Trunk id.")) -> None:
    """Delete a customer trunk and its ACL."""
    with staff_connection() as conn:
        service.delete_trunk(conn, trunk_id)
    console.print(f"deleted trunk {trunk_id}")


@app.command()
def identify(
    source: str = typer.Argument(..., help="Source IP address of a call."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Which trunk a call from this address belongs to (what the switch asks)."""
    with staff_connection() as conn:
        found = service.identify_trunk(conn, source)
    if as_json:
        print_json(None if found is None else dataclasses.asdict(found))
    elif found is None:
        console.print(f"no enabled trunk accepts calls from {source}")
    else:
        console.print(f"{source}: trunk {found.trunk_name} ({found.trunk_id}) via {found.network}")


@acl_app.command("add")
def acl_add(
    trunk_id: UUID = typer.Argument(..., help="Trunk id."),
    network: str = typer.Argument(..., help="Address or CIDR network."),
    description: str | None = typer.Option(None, "--description"),
) -> None:
    """Allow a network on a trunk."""
    with staff_connection() as conn:
        entry = service.add_acl(conn, trunk_id, network, description)
    console.print(f"trunk {trunk_id} accepts {entry.network}")


@acl_app.command("list")
def acl_list(
    trunk_id: UUID = typer.Argument(..., help="Trunk id."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """List a trunk's ACL."""
    with staff_connection() as conn:
        entries = service.list_acl(conn, trunk_id)
    if as_json:
        print_json([dataclasses.asdict(e) for e in entries])
        return
    table = Table("network", "description")
    for e in entries:
        table.add_row(e.network, e.description or "")
    console.print(table)


@acl_app.command("remove")
def acl_remove(
    trunk_id: UUID = typer.Argument(..., help="Trunk id."),
    network: str = typer.Argument(..., help="Address or CIDR network."),
) -> None:
    """Remove a network from a trunk's ACL."""
    with staff_connection() as conn:
        service.remove_acl(conn, trunk_id, network)
    console.print(f"removed {network} from trunk {trunk_id}")
