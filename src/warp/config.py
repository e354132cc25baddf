"""Configuration read from the environment (see the table in README.md)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    """Process-wide settings; build with :func:`load_settings`."""

    database_url: str | None
    home: Path
    pg_bindir: str | None
    db_port: int
    db_listen_host: str | None


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Read settings from ``environ`` (default: the process environment)."""
    env = os.environ if environ is None else environ
    listen = env.get("WARP_DB_LISTEN") or None
    return Settings(
        database_url=env.get("WARP_DATABASE_URL") or None,
        home=Path(env.get("WARP_HOME", ".warp")).resolve(),
        pg_bindir=env.get("WARP_PG_BINDIR") or None,
        db_port=int(env.get("WARP_DB_PORT", "5432")),
        db_listen_host=listen,
    )
