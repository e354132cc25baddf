"""``warp db``: the embedded cluster, migrations and seeds."""

from __future__ import annotations

import psycopg
import typer
from psycopg import sql
from rich.table import Table

from warp.cli.output import console, err_console, print_json
from warp.config import load_settings
from warp.db import migrate as migrations
from warp.db.connection import DEFAULT_DBNAME, database_url, embedded_cluster
from warp.db.seed import seed as run_seed

app = typer.Typer(help="Database: embedded cluster, migrations, seeds.", no_args_is_help=True)


@app.command()
def start() -> None:
    """Create (if needed) and start the embedded cluster under $WARP_HOME."""
    settings = load_settings()
    if settings.database_url:
        console.print("WARP_DATABASE_URL is set: nothing to start.")
        return
    cluster = embedded_cluster(settings)
    started = cluster.start()
    cluster.ensure_database(DEFAULT_DBNAME)
    state = "started" if started else "already running"
    console.print(f"embedded PostgreSQL {state}: {cluster.url(DEFAULT_DBNAME)}", soft_wrap=True)


@app.command()
def stop() -> None:
    """Stop the embedded cluster."""
    settings = load_settings()
    if settings.database_url:
        console.print("WARP_DATABASE_URL is set: nothing to stop.")
        return
    stopped = embedded_cluster(settings).stop()
    console.print("embedded PostgreSQL stopped." if stopped else "embedded PostgreSQL was not running.")


@app.command()
def url() -> None:
    """Print the database URL in use (starts the embedded cluster if needed)."""
    print(database_url())


@app.command()
def migrate(
    to: int | None = typer.Option(None, "--to", help="Stop after this migration version."),
) -> None:
    """Apply pending migrations in order, each in its own transaction."""
    applied = migrations.migrate(database_url(), to=to)
    if not applied:
        console.print("database is up to date.")
    for item in applied:
        console.print(f"applied {item.version:04d}_{item.name} ({item.execution_ms} ms)")


@app.command()
def status(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Show applied, pending, drifted and missing migrations."""
    states = migrations.status(database_url())
    if as_json:
        print_json([s.as_dict() for s in states])
        return
    table = Table("version", "name", "state", "applied at")
    colours = {"applied": "green", "pending": "yellow", "drifted": "red", "missing": "red"}
    for s in states:
        applied_at = "" if s.applied_at is None else s.applied_at.isoformat(timespec="seconds")
        table.add_row(f"{s.version:04d}", s.name, f"[{colours[s.state]}]{s.state}[/]", applied_at)
    console.print(table)


@app.command()
def verify() -> None:
    """Exit 1 when an applied migration file was edited or removed."""
    problems = migrations.drift(migrations.status(database_url()))
    for p in problems:
        what = "was edited after it was applied" if p.state == "drifted" else "is applied but missing"
        err_console.print(f"[red]{p.version:04d}_{p.name} {what}[/]")
    if problems:
        raise typer.Exit(1)
    console.print("all applied migrations match their files.")


@app.command()
def seed(demo: bool = typer.Option(False, "--demo", help="Also load the demo world.")) -> None:
    """Load reference data (idempotent); with --demo, also demo accounts and traffic."""
    for item in run_seed(database_url(), demo=demo):
        console.print(f"{item.group}/{item.name}: {item.rows} rows inserted or updated")


@app.command()
def reset(
    yes: bool = typer.Option(False, "--yes", help="Confirm: every row in the database is lost."),
) -> None:
    """Drop and recreate the embedded database (development only), then migrate."""
    settings = load_settings()
    if settings.database_url:
        err_console.print("[red]refusing to reset a database named by WARP_DATABASE_URL[/]")
        raise typer.Exit(2)
    if not yes:
        err_console.print("[red]reset drops every row: pass --yes to confirm[/]")
        raise typer.Exit(2)
    cluster = embedded_cluster(settings)
    cluster.start()
    with psycopg.connect(cluster.url("postgres"), autocommit=True) as conn:
        drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
        conn.execute(drop.format(sql.Identifier(DEFAULT_DBNAME)))
    cluster.ensure_database(DEFAULT_DBNAME)
    applied = migrations.migrate(cluster.url(DEFAULT_DBNAME))
    console.print(f"database recreated; {len(applied)} migrations applied.")
