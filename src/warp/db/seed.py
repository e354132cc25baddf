"""Seed data, kept apart from the schema: reference data and an optional demo world.

Seed files are plain SQL under ``warp/db/seeds/{reference,demo}/NN_slug.sql``; each is written to
be idempotent (``ON CONFLICT`` upserts keyed on business keys), so seeding twice changes nothing.
All files of a run are applied in one transaction: a failing file leaves nothing behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import psycopg

from warp.db.migrate import MigrationError, split_statements
from warp.errors import WarpError


class SeedError(WarpError):
    """A seed file failed."""

    code = "seed-error"


@dataclass(frozen=True)
class SeedFile:
    """One seed file and how many rows its statements touched."""

    group: str
    name: str
    rows: int


def _files(group: str) -> list[tuple[str, str]]:
    folder = resources.files("warp.db") / "seeds" / group
    return [
        (entry.name, entry.read_text(encoding="utf-8"))
        for entry in sorted(folder.iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".sql")
    ]


def seed(url: str, *, demo: bool = False) -> list[SeedFile]:
    """Load reference data (and the demo world when ``demo``); return per-file row counts."""
    groups = ["reference", "demo"] if demo else ["reference"]
    results: list[SeedFile] = []
    with psycopg.connect(url) as conn, conn.transaction():
        unmigrated = conn.execute("SELECT to_regclass('public.schema_migrations') IS NULL").fetchone()
        if unmigrated and unmigrated[0]:
            raise MigrationError("the database has no schema yet: run `warp db migrate` first")
        for group in groups:
            for name, text in _files(group):
                touched = 0
                for stmt in split_statements(text):
                    try:
                        cur = conn.execute(stmt.text.encode())
                    except psycopg.Error as exc:
                        raise SeedError(
                            f"seed {group}/{name}: statement {stmt.index} (line {stmt.line}) failed: "
                            f"{exc.diag.message_primary or exc}"
                        ) from exc
                    touched += max(cur.rowcount, 0)
                results.append(SeedFile(group, name, touched))
    return results
