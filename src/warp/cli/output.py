"""Shared console output for CLI commands."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

console = Console()
err_console = Console(stderr=True)


def print_json(data: Any) -> None:
    """Print ``data`` as JSON on stdout (no colour, stable key order)."""
    print(json.dumps(data, indent=2, sort_keys=True, default=str))


def step_progress(*, disable: bool) -> Progress:
    """A transient stderr bar for long runs reported in steps (task description, done/total, elapsed)."""
    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        disable=disable,
        transient=True,
    )
