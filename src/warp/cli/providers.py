"""``warp providers``: service provider plugins (add, list, check)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from warp.cli.output import console, print_json
from warp.cli.session import staff_connection
from warp.vendors import registry, service
from warp.vendors.errors import InvalidProviderConfig
from warp.vendors.secrets import SecretResolver

app = typer.Typer(
    help="Service providers (LRN, SMS, E911, CNAM, tax... plugins) and their health.", no_args_is_help=True
)


def _config(value: str) -> dict[str, Any]:
    text = Path(value[1:]).read_text() if value.startswith("@") else value
    try:
        parsed = json.loads(text)
    except ValueError as exc:
        raise InvalidProviderConfig(f"--config: not JSON ({exc})") from exc
    if not isinstance(parsed, dict):
        raise InvalidProviderConfig("--config: must be a JSON object")
    return parsed


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "vendor_id" or v is not None}


@app.command("add")
def add(
    name: str = typer.Argument(..., help="Unique provider name."),
    provider_type: str = typer.Option(..., "--type", help="Plugin (entry point in group warp.providers)."),
    capability: list[str] = typer.Option(..., "--capability", "-c", help="Capability served (repeatable)."),
    config: str = typer.Option(
        "{}", "--config", help="JSON object, or @file.json. Credentials as env:/file:/secret: references."
    ),
    priority: int = typer.Option(100, "--priority", help="Failover order: lower is tried first."),
    disabled: bool = typer.Option(False, "--disabled", help="Save it disabled."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Add a provider; its config is validated against the plugin's schema."""
    with staff_connection() as conn:
        row = service.add_provider(
            conn,
            name=name,
            provider_type=provider_type,
            capabilities=capability,
            config=_config(config),
            priority=priority,
            enabled=not disabled,
        )
    if as_json:
        print_json(_public(row))
    else:
        console.print(f"added provider {row['name']} ({row['provider_type']}, priority {row['priority']})")


@app.command("list")
def list_cmd(
    capability: str | None = typer.Option(None, "--capability", "-c", help="Only providers offering this."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """List providers by priority, with their last health state."""
    with staff_connection() as conn:
        rows = service.list_providers(conn, capability)
    if as_json:
        print_json([_public(r) for r in rows])
        return
    table = Table(title="Service providers")
    for col in ("name", "type", "capabilities", "priority", "enabled", "health", "checked", "error"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["name"],
            r["provider_type"],
            ",".join(r["capabilities"]),
            str(r["priority"]),
            "yes" if r["enabled"] else "no",
            r["health_status"],
            str(r["last_health_check_at"] or ""),
            r["last_health_error"] or "",
        )
    console.print(table)


@app.command("types")
def types_cmd(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Installed plugins, their capabilities and config schema."""
    found: dict[str, dict[str, Any]] = {
        name: {
            "capabilities": sorted(cls.capabilities),
            "description": cls.description,
            "config_schema": cls.Config.model_json_schema(),
        }
        for name, cls in sorted(registry.plugins().items())
    }
    if as_json:
        print_json(found)
        return
    table = Table(title="Provider plugins (entry point group warp.providers)")
    for col in ("type", "capabilities", "config keys", "description"):
        table.add_column(col)
    for name, info in found.items():
        table.add_row(
            name,
            ",".join(info["capabilities"]),
            ", ".join(info["config_schema"].get("properties", {})),
            info["description"],
        )
    console.print(table)


@app.command("check")
def check(
    name: str | None = typer.Argument(None, help="One provider (default: every enabled one)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Health-check providers (secrets resolved now, never stored) and record the results."""
    secrets = SecretResolver()
    with staff_connection() as conn:
        results = [service.check_provider(conn, name, secrets)] if name else service.check_all(conn, secrets)
    if as_json:
        print_json([r.as_dict() for r in results])
    else:
        table = Table(title="Provider health")
        for col in ("name", "status", "ms", "error"):
            table.add_column(col)
        for r in results:
            colour = "green" if r.status == "HEALTHY" else "red"
            table.add_row(r.name, f"[{colour}]{r.status}[/]", f"{r.latency_ms:.1f}", r.error or "")
        console.print(table)
    if any(r.status != "HEALTHY" for r in results):
        raise typer.Exit(1)
