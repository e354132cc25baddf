"""``warp rates``: carrier rate deck imports."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn
from rich.table import Table

from warp.cli.output import console, err_console, print_json
from warp.cli.session import staff_connection
from warp.db.connection import connect, database_url
from warp.routing import rate_import
from warp.routing.errors import RateImportError

app = typer.Typer(help="Carrier rate decks.", no_args_is_help=True)


@app.command("import")
def import_(
    file: Path = typer.Argument(..., help="CSV file with a header (prefix,rate,...)."),
    carrier_trunk: str = typer.Option(..., "--carrier-trunk", help="Carrier trunk the deck prices."),
    replace: bool = typer.Option(False, "--replace", help="Close the trunk's current deck, open this one."),
    merge: bool = typer.Option(False, "--merge", help="Update only the prefixes in the file (default)."),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Load the good lines, report the bad ones."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable summary."),
    single_transaction: bool = typer.Option(
        False,
        "--single-transaction",
        help="Load the whole deck in one transaction on one connection (a 3M-row deck takes ~1.4x as long). "
        "Without it, a deck of 4 MiB (~150k rows) or more loads on two connections that commit a few "
        "milliseconds apart, split where no destination's prefixes are divided (ADR 0006).",
    ),
    parallel: bool = typer.Option(
        False, "--parallel", hidden=True, help="The default now; kept for scripts."
    ),
) -> None:
    """Import a rate deck: all or nothing (unless --skip-bad), and every look-up sees, for its
    destination, the trunk's old deck or the new one, never a mix.

    A big deck loads on two connections (two-phase commit: both halves commit or neither does). The
    halves are split where no destination's matching prefixes are divided, so routing and rating see
    one deck or the other per destination; only a listing of the whole deck taken in the milliseconds
    between the two commits could show both. --single-transaction loads in one commit instead.
    """
    if replace and merge:
        raise typer.BadParameter("give --replace or --merge, not both")
    mode = "replace" if replace else "merge"
    progress = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        disable=as_json,
        transient=True,
    )
    with progress:
        task = progress.add_task(f"loading {file.name}", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        url = None if single_transaction else database_url()
        try:
            with staff_connection() as conn:
                result = rate_import.import_rates(
                    conn,
                    carrier_trunk=carrier_trunk,
                    path=file,
                    mode=mode,
                    skip_bad=skip_bad,
                    progress=advance,
                    url=url,
                )
        except RateImportError:
            progress.stop()
            raise
        finally:
            if url is not None:
                # A big deck loads on two connections: the helper's prepared half follows our commit
                # (or rollback) now (ADR 0006).
                with connect(url, autocommit=True) as side:
                    rate_import.resolve_prepared(side)
    if as_json:
        print_json(result.as_dict())
        return
    if result.problems:
        err_console.print(f"[yellow]skipped {result.skipped} bad line(s):[/]")
        for line, message in result.problems:
            err_console.print(f"  line {line}: {message}", highlight=False)
    table = Table(
        "carrier trunk", "mode", "rows", "loaded", "skipped", "closed", "superseded", "effective", "seconds"
    )
    table.add_row(
        result.carrier_trunk,
        result.mode,
        str(result.rows),
        str(result.loaded),
        str(result.skipped),
        str(result.closed),
        str(result.superseded),
        "" if result.effective_from is None else result.effective_from.isoformat(),
        f"{result.seconds:.1f}",
    )
    console.print(table)
