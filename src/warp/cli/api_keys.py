"""``warp api-keys``: create (the key is printed once), list and revoke API keys."""

from __future__ import annotations

import dataclasses

import typer
from rich.table import Table

from warp.accounts.service import get_account_by_ban
from warp.auth import api_keys
from warp.cli.output import console, print_json
from warp.cli.session import staff_connection

app = typer.Typer(help="API keys of customer accounts.", no_args_is_help=True)


@app.command()
def create(
    account: str = typer.Option(..., "--account", help="BAN of the account the key acts for."),
    name: str = typer.Option("default", "--name", help="Label of the key."),
    scopes: str | None = typer.Option(
        None, "--scopes", help="Comma-separated scopes (default: all customer)."
    ),
    allowed_ips: str | None = typer.Option(None, "--allowed-ips", help="Comma-separated IPs/networks."),
    per_second: int | None = typer.Option(None, "--per-second", help="Rate limit per second."),
    per_minute: int | None = typer.Option(None, "--per-minute", help="Rate limit per minute."),
    per_hour: int | None = typer.Option(None, "--per-hour", help="Rate limit per hour."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Create a key and print it ONCE (only its prefix and hash are stored)."""
    with staff_connection() as conn:
        acct = get_account_by_ban(conn, account)
        key, clear = api_keys.create_api_key(
            conn,
            account_id=acct.id,
            name=name,
            scopes=None if scopes is None else [s.strip() for s in scopes.split(",") if s.strip()],
            allowed_ips=None if allowed_ips is None else [s for s in allowed_ips.split(",") if s.strip()],
            rate_limits=(per_second, per_minute, per_hour),
        )
    if as_json:
        print_json({"key": clear, "id": str(key.id), "prefix": key.key_prefix, "scopes": key.scopes})
        return
    console.print(f"created API key {key.key_prefix} for {acct.ban} (id={key.id})")
    console.print(f"scopes: {', '.join(key.scopes)}")
    console.print("key (shown once, store it now):")
    print(clear)


@app.command("list")
def list_(
    account: str | None = typer.Option(None, "--account", help="Only this account's keys (BAN)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """List keys (never the keys themselves)."""
    with staff_connection() as conn:
        account_id = get_account_by_ban(conn, account).id if account else None
        keys = api_keys.list_api_keys(conn, account_id=account_id, limit=10_000)
    if as_json:
        print_json([dataclasses.asdict(k) for k in keys])
        return
    table = Table("prefix", "name", "account", "scopes", "state", "last used", "id")
    for k in keys:
        state = (
            "revoked"
            if k.revoked_at
            else ("expires " + k.expires_at.isoformat() if k.expires_at else "active")
        )
        last = k.last_used_at.isoformat(timespec="seconds") if k.last_used_at else ""
        table.add_row(k.key_prefix, k.name, str(k.account_id), ",".join(k.scopes), state, last, str(k.id))
    console.print(table)


@app.command()
def revoke(
    key: str = typer.Argument(..., help="Key id or prefix."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Revoke a key: it stops working at once."""
    with staff_connection() as conn:
        revoked = api_keys.revoke_api_key(conn, key)
    if as_json:
        print_json(dataclasses.asdict(revoked))
    else:
        console.print(f"revoked API key {revoked.key_prefix} (id={revoked.id})")
