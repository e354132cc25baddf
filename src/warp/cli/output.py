"""Shared console output for CLI commands."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console

console = Console()
err_console = Console(stderr=True)


def print_json(data: Any) -> None:
    """Print ``data`` as JSON on stdout (no colour, stable key order)."""
    print(json.dumps(data, indent=2, sort_keys=True, default=str))
