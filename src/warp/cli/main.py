"""Entry point of the ``warp`` command."""

from __future__ import annotations

import os
import sys

import typer

from warp.cli import accounts, api_keys, db, numbers
from warp.cli import billing as billing_cli
from warp.cli import carriers as carriers_cli
from warp.cli import cdr as cdr_cli
from warp.cli import compliance as compliance_cli
from warp.cli import lcr as lcr_cli
from warp.cli import maintenance as maintenance_cli
from warp.cli import partitions as partitions_cli
from warp.cli import providers as providers_cli
from warp.cli import rates as rates_cli
from warp.cli import trunks as trunks_cli
from warp.cli import vendors as vendors_cli
from warp.cli import worker as worker_cli
from warp.cli.output import err_console
from warp.errors import WarpError

app = typer.Typer(
    help="WARP: back office of a wholesale telecom carrier.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(db.app, name="db")
app.add_typer(accounts.app, name="accounts")
app.add_typer(api_keys.app, name="api-keys")
app.add_typer(trunks_cli.app, name="trunks")
app.add_typer(carriers_cli.app, name="carriers")
app.add_typer(carriers_cli.trunks_app, name="carrier-trunks")
app.add_typer(rates_cli.app, name="rates")
app.add_typer(partitions_cli.app, name="partitions")
app.add_typer(numbers.app, name="numbers")
app.command("lcr")(lcr_cli.lcr)
app.add_typer(cdr_cli.app, name="cdr")
app.add_typer(billing_cli.rate_plans_app, name="rate-plans")
app.add_typer(billing_cli.invoices_app, name="invoices")
app.add_typer(billing_cli.payments_app, name="payments")
app.add_typer(cdr_cli.lerg_app, name="lerg")
app.add_typer(cdr_cli.lrn_app, name="lrn")
app.add_typer(cdr_cli.vendor_app, name="vendor-cdr")
app.add_typer(cdr_cli.maintenance_app, name="maintenance")
cdr_cli.maintenance_app.command("run")(maintenance_cli.run)
app.command("reconcile")(cdr_cli.reconcile_cmd)
app.add_typer(providers_cli.app, name="providers")
app.add_typer(vendors_cli.app, name="vendors")
app.add_typer(compliance_cli.app, name="compliance")
worker_app = typer.Typer(help="Long-running workers (stop with SIGTERM/SIGINT).", no_args_is_help=True)
worker_app.command("cdr")(cdr_cli.worker_cmd)
worker_app.command("billing")(billing_cli.billing_worker)
worker_app.command("messaging")(worker_cli.messaging)
app.add_typer(worker_app, name="worker")


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8080, help="TCP port."),
    workers: int = typer.Option(
        0, help="Worker processes (0 = one per CPU). Requests are spread over them by the kernel."
    ),
    db_slots: int = typer.Option(
        0,
        help="Requests per worker holding a database transaction at once "
        "(0 = WARP_API_DB_SLOTS, else 1; see docs/adr/0007).",
    ),
) -> None:
    """Run the REST API."""
    import uvicorn

    from warp.db.connection import database_url

    # Resolve (and start, when embedded) the database before the workers fork.
    os.environ.setdefault("WARP_DATABASE_URL", database_url())
    if db_slots:
        os.environ["WARP_API_DB_SLOTS"] = str(db_slots)
    from warp.api.app import check_db_slots, env_db_slots

    check_db_slots(env_db_slots())  # refused here, not once per worker process as it starts
    workers = workers or os.cpu_count() or 1
    # No access log: every request already goes to audit.api_request_log (batched), and printing a
    # line per request costs throughput.
    uvicorn.run(
        "warp.api.app:create_app", factory=True, host=host, port=port, workers=workers, access_log=False
    )


def main() -> None:
    """Run the CLI, turning expected errors into one clear line and an exit status."""
    try:
        app()
    except WarpError as exc:
        err_console.print(f"[red]error:[/] {exc.message}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
