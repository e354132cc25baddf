"""The migration runner: numbered SQL files, applied in order, each in its own transaction.

Files live in the package (``warp/db/migrations/NNNN_slug.sql``). Every applied file is recorded
in ``public.schema_migrations`` with its SHA-256 checksum. A PostgreSQL advisory lock serialises
concurrent runners, and ``lock_timeout`` keeps a migration from queueing forever behind traffic.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

import psycopg
import sqlparse

from warp.errors import WarpError

MIGRATIONS_TABLE = "public.schema_migrations"
FILENAME_RE = re.compile(r"^(?P<version>\d{4})_(?P<slug>[a-z0-9]+(?:_[a-z0-9]+)*)\.sql$")
# pg_advisory_lock key: the first 8 bytes of sha256("warp.migrations") as a signed bigint.
ADVISORY_LOCK_KEY = int.from_bytes(hashlib.sha256(b"warp.migrations").digest()[:8], "big", signed=True)
DEFAULT_LOCK_TIMEOUT = "5s"
DEFAULT_LOCK_WAIT_S = 120.0


class MigrationError(WarpError):
    """A migration could not be loaded or applied."""

    code = "migration-error"


class MigrationDriftError(MigrationError):
    """The database disagrees with the migration files (edited or missing applied files)."""

    code = "migration-drift"


@dataclass(frozen=True)
class Migration:
    """One numbered SQL file."""

    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    @property
    def filename(self) -> str:
        return f"{self.version:04d}_{self.name}.sql"


@dataclass(frozen=True)
class MigrationState:
    """How one migration stands in a database."""

    version: int
    name: str
    state: str  # applied | pending | drifted | missing
    applied_at: datetime | None

    def as_dict(self) -> dict[str, object]:
        return {
            "version": self.version,
            "name": self.name,
            "state": self.state,
            "applied_at": None if self.applied_at is None else self.applied_at.isoformat(),
        }


def _packaged_dir() -> Traversable:
    return resources.files("warp.db") / "migrations"


def load_migrations(directory: Path | Traversable | None = None) -> list[Migration]:
    """Read and validate the migration files, ordered by version."""
    folder = _packaged_dir() if directory is None else directory
    migrations: list[Migration] = []
    seen: dict[int, str] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".sql"):
            continue
        match = FILENAME_RE.match(entry.name)
        if not match:
            raise MigrationError(f"migration file {entry.name!r} is not named NNNN_slug.sql (lowercase slug)")
        version = int(match["version"])
        if version in seen:
            raise MigrationError(
                f"migration files {seen[version]!r} and {entry.name!r} share version {version}"
            )
        seen[version] = entry.name
        migrations.append(Migration(version, match["slug"], entry.read_text(encoding="utf-8")))
    return migrations


@dataclass(frozen=True)
class Statement:
    """One SQL statement of a migration file and the line it starts on."""

    index: int
    line: int  # line of the first code token (after leading comments)
    start_line: int  # line where ``text`` begins
    text: str


def split_statements(text: str) -> list[Statement]:
    """Split a migration into statements (quotes, dollar-quotes and comments respected)."""
    statements: list[Statement] = []
    cursor = 0
    for raw in sqlparse.split(text):
        body = sqlparse.format(raw, strip_comments=True).strip()
        start = text.find(raw, cursor)
        if start < 0:  # sqlparse normalises nothing today; stay robust if it ever does
            start = cursor
        cursor = start + len(raw)
        if not body or body == ";":
            continue
        # Report the line of the first non-comment text, which is what a reader looks for.
        offset = raw.find(body.split(None, 1)[0]) if body.split() else 0
        line = text.count("\n", 0, start + max(offset, 0)) + 1
        start_line = text.count("\n", 0, start) + 1
        statements.append(Statement(len(statements) + 1, line, start_line, raw))
    return statements


def _ensure_table(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    conn.execute(
        f"""
        CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (
            version integer PRIMARY KEY,
            name text NOT NULL,
            checksum text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now(),
            execution_ms integer NOT NULL DEFAULT 0
        )
        """
    )


def _applied(conn: psycopg.Connection[tuple[object, ...]]) -> dict[int, tuple[str, str, datetime]]:
    exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (MIGRATIONS_TABLE,)).fetchone()
    if not exists or not exists[0]:
        return {}
    rows = conn.execute(
        f"SELECT version, name, checksum, applied_at FROM {MIGRATIONS_TABLE} ORDER BY version"
    ).fetchall()
    return {int(str(r[0])): (str(r[1]), str(r[2]), r[3]) for r in rows}  # type: ignore[misc]


def status(url: str, migrations: Sequence[Migration] | None = None) -> list[MigrationState]:
    """Every migration known to the files or the database, with its state."""
    migrations = load_migrations() if migrations is None else migrations
    with psycopg.connect(url, autocommit=True) as conn:
        applied = _applied(conn)
    return _states(migrations, applied)


def _states(
    migrations: Iterable[Migration], applied: dict[int, tuple[str, str, datetime]]
) -> list[MigrationState]:
    by_version = {m.version: m for m in migrations}
    states: list[MigrationState] = []
    for version in sorted(set(by_version) | set(applied)):
        mig = by_version.get(version)
        row = applied.get(version)
        if mig is None and row is not None:
            states.append(MigrationState(version, row[0], "missing", row[2]))
        elif mig is not None and row is None:
            states.append(MigrationState(version, mig.name, "pending", None))
        elif mig is not None and row is not None:
            state = "applied" if row[1] == mig.checksum else "drifted"
            states.append(MigrationState(version, mig.name, state, row[2]))
    return states


def drift(states: Iterable[MigrationState]) -> list[MigrationState]:
    """The states that make a database disagree with its files."""
    return [s for s in states if s.state in ("drifted", "missing")]


def _acquire_lock(conn: psycopg.Connection[tuple[object, ...]], wait_s: float) -> None:
    deadline = time.monotonic() + wait_s
    while True:
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (ADVISORY_LOCK_KEY,)).fetchone()
        if row and row[0]:
            return
        if time.monotonic() > deadline:
            raise MigrationError(
                f"another migration runner held the lock for more than {wait_s:.0f} s; try again"
            )
        time.sleep(0.1)


def _apply_one(conn: psycopg.Connection[tuple[object, ...]], migration: Migration, lock_timeout: str) -> int:
    started = time.monotonic()
    statements = split_statements(migration.sql)
    with conn.transaction():
        conn.execute("SELECT set_config('lock_timeout', %s, true)", (lock_timeout,))
        for stmt in statements:
            try:
                conn.execute(stmt.text.encode())
            except psycopg.Error as exc:
                raise MigrationError(_describe_failure(migration, stmt, exc)) from exc
        elapsed_ms = int((time.monotonic() - started) * 1000)
        conn.execute(
            f"INSERT INTO {MIGRATIONS_TABLE} (version, name, checksum, execution_ms) VALUES (%s, %s, %s, %s)",
            (migration.version, migration.name, migration.checksum, elapsed_ms),
        )
    return elapsed_ms


def _describe_failure(migration: Migration, stmt: Statement, exc: psycopg.Error) -> str:
    diag = exc.diag
    line = stmt.line
    if diag.statement_position:
        # Position is 1-based, in characters of the statement text.
        line = stmt.start_line + stmt.text.count("\n", 0, int(diag.statement_position) - 1)
    first_line = next((ln.strip() for ln in stmt.text.strip().splitlines() if ln.strip()), "")
    snippet = " ".join(stmt.text.split())
    if len(snippet) > 240:
        snippet = snippet[:237] + "..."
    parts = [
        f"{migration.filename}: statement {stmt.index} (line {line}) failed: {diag.message_primary or exc}",
    ]
    if diag.message_detail:
        parts.append(f"detail: {diag.message_detail}")
    if diag.message_hint:
        parts.append(f"hint: {diag.message_hint}")
    parts.append(f"statement: {snippet or first_line}")
    return "\n".join(parts)


@dataclass(frozen=True)
class AppliedMigration:
    """A migration applied by one run of :func:`migrate`."""

    version: int
    name: str
    execution_ms: int


def migrate(
    url: str,
    *,
    to: int | None = None,
    migrations: Sequence[Migration] | None = None,
    lock_timeout: str = DEFAULT_LOCK_TIMEOUT,
    lock_wait_s: float = DEFAULT_LOCK_WAIT_S,
) -> list[AppliedMigration]:
    """Apply pending migrations up to ``to`` (default: all) and return what was applied.

    Refuses to run when an applied file was edited or removed (drift), because the database no
    longer matches what the files describe.
    """
    migrations = load_migrations() if migrations is None else list(migrations)
    if to is not None and to not in {m.version for m in migrations} and to != 0:
        raise MigrationError(f"--to {to}: there is no migration with that version")
    done: list[AppliedMigration] = []
    with psycopg.connect(url, autocommit=True) as conn:
        _acquire_lock(conn, lock_wait_s)
        try:
            _ensure_table(conn)
            applied = _applied(conn)
            problems = drift(_states(migrations, applied))
            if problems:
                listed = ", ".join(f"{p.version:04d}_{p.name} ({p.state})" for p in problems)
                raise MigrationDriftError(
                    f"database does not match the migration files: {listed}; restore the files, "
                    "or for a development database run `warp db reset`"
                )
            for migration in migrations:
                if migration.version in applied or (to is not None and migration.version > to):
                    continue
                elapsed = _apply_one(conn, migration, lock_timeout)
                done.append(AppliedMigration(migration.version, migration.name, elapsed))
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))
    return done
