"""Carrier rate deck import: header-named CSV -> COPY into a staging table -> set-based checks -> deck.

The file's bytes are streamed to ``COPY ... FROM STDIN (FORMAT csv, HEADER)`` into a temporary
staging table of text columns whose identity column numbers the rows (line = row + 1, the header is
line 1). Every check is one SQL pass over the staging table, so a 3,000,000-row deck is validated in
seconds and every bad line is reported with its number. If the CSV itself is malformed (ragged rows,
unterminated quotes), a Python pass finds every such line instead.
"""

from __future__ import annotations

import bisect
import json
import mmap
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent import futures
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus

from warp.db import csvcopy
from warp.db.pooler import connection_kwargs
from warp.routing.errors import InvalidRouting, RateImportError
from warp.routing.service import get_carrier_trunk

REQUIRED = ("prefix",)
JURISDICTIONAL = ("interstate_rate", "intrastate_rate", "indeterminate_rate")
RATE_COLUMNS = ("rate", *JURISDICTIONAL)
OPTIONAL = (
    "rate",
    "destination_name",
    "country_code",
    "connection_fee",
    "initial_increment",
    "subsequent_increment",
    "effective_date",
    "expires_date",
    *JURISDICTIONAL,
)
KNOWN = (*REQUIRED, *OPTIONAL)
MODES = ("merge", "replace")
MAX_REPORTED = 1000  # problems kept in the result (all are counted)
# Files at least this big load on two connections when the caller gives the database URL (ADR 0006);
# ~4 MiB is ~150k rows of a typical deck; smaller decks are not worth two extra connections.
PARALLEL_MIN_BYTES = 4 << 20

Progress = csvcopy.Progress


@dataclass
class ImportResult:
    """What an import did."""

    carrier_trunk: str
    mode: str
    rows: int = 0
    loaded: int = 0
    skipped: int = 0
    closed: int = 0
    superseded: int = 0
    effective_from: date | None = None
    problems: list[tuple[int, str]] = field(default_factory=list)
    problem_count: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "carrier_trunk": self.carrier_trunk,
            "mode": self.mode,
            "rows": self.rows,
            "loaded": self.loaded,
            "skipped": self.skipped,
            "closed": self.closed,
            "superseded": self.superseded,
            "effective_from": None if self.effective_from is None else self.effective_from.isoformat(),
            "problem_count": self.problem_count,
            "problems": [{"line": line, "error": msg} for line, msg in self.problems],
            "seconds": round(self.seconds, 3),
        }


def read_header(path: Path) -> list[str]:
    """The CSV header's column names, normalised (lower case, trimmed), validated."""
    names = csvcopy.header(path)
    if not names:
        raise RateImportError(f"{path.name}: line 1: missing header (need at least prefix and rate)")
    problems = csvcopy.column_problems(names, KNOWN)
    if "prefix" not in names:
        problems.append("missing required column prefix")
    if not any(c in names for c in RATE_COLUMNS):
        problems.append("missing column rate (or interstate_rate/intrastate_rate/indeterminate_rate)")
    if problems:
        raise RateImportError(f"{path.name}: line 1: " + "; ".join(problems), [(1, p) for p in problems])
    return names


def _create_stage(conn: psycopg.Connection[Any]) -> None:
    conn.execute(
        sql.SQL(
            "CREATE TEMP TABLE rate_import_stage (row_no bigint GENERATED ALWAYS AS IDENTITY, "
            "src_line bigint, {}) ON COMMIT DROP"
        ).format(sql.SQL(", ").join(sql.SQL("{} text").format(sql.Identifier(c)) for c in KNOWN))
    )


def _copy_sql(columns: list[str]) -> sql.Composed:
    return sql.SQL("COPY rate_import_stage ({}) FROM STDIN (FORMAT csv, HEADER true)").format(
        sql.SQL(", ").join(map(sql.Identifier, columns))
    )


def _stage(conn: psycopg.Connection[Any], path: Path, columns: list[str], progress: Progress | None) -> None:
    """Stream the file's bytes into the staging table (row n of the file is line n + 1)."""
    _create_stage(conn)
    csvcopy.copy_file(conn, _copy_sql(columns), path, progress)


def _stage_lines(conn: psycopg.Connection[Any], data: bytes, columns: list[str]) -> None:
    """Stage the well-formed lines of a malformed file, each with its original line number."""
    _create_stage(conn)
    with conn.cursor().copy(_copy_sql(["src_line", *columns])) as cp:
        cp.write(data)


def _malformed_lines(path: Path, width: int) -> tuple[list[tuple[int, str]], bytes]:
    """Every structurally bad CSV line, and the good ones prefixed with their line number."""
    return csvcopy.malformed_lines(path, width)


_NUM = r"^[0-9]{1,4}(\.[0-9]{1,6})?$"
_INT = r"^[1-9][0-9]{0,5}$"

# Every check of a staged line: (condition, message). A line has the problem when the condition is
# true; values are trimmed first (the columns of ``s`` below).
_CHECKS: tuple[tuple[str, str], ...] = (
    ("prefix IS NULL", "'prefix: missing'"),
    # 1-16 ASCII digits (as the deck's CHECK, without a regex per line: ~1 us of ~25 per row)
    (
        "NOT (length(prefix) <= 16 AND ltrim(prefix, '0123456789') = '')",
        "'prefix: ' || prefix || ' is not 1-16 digits'",
    ),
    (
        "coalesce(rate, interstate_rate, intrastate_rate, indeterminate_rate) IS NULL",
        "'rate: missing (give rate, or interstate/intrastate/indeterminate rates)'",
    ),
    (f"rate !~ '{_NUM}'", "'rate: ' || rate || ' is not a non-negative number (max 4 digits . 6 decimals)'"),
    *(
        (f"{c} !~ '{_NUM}'", f"'{c}: ' || {c} || ' is not a non-negative number'")
        for c in (*JURISDICTIONAL, "connection_fee")
    ),
    *(
        (f"{c} !~ '{_INT}'", f"'{c}: ' || {c} || ' is not a positive whole number of seconds'")
        for c in ("initial_increment", "subsequent_increment")
    ),
    *(
        (
            f"{c} IS NOT NULL AND NOT routing.is_iso_date({c})",
            f"'{c}: ' || {c} || ' is not a date (YYYY-MM-DD)'",
        )
        for c in ("effective_date", "expires_date")
    ),
    (
        "routing.is_iso_date(expires_date) AND expires_date::date <= CASE WHEN routing.is_iso_date(effective_date) "
        "THEN effective_date::date ELSE %(today)s::date END",
        "'expires_date: ' || expires_date || ' is not after the effective date'",
    ),
    ("length(destination_name) > 200", "'destination_name: longer than 200 characters'"),
    ("length(btrim(country_code)) > 8", "'country_code: longer than 8 characters'"),
)

# One pass over the staging table: every problem of every line. ``s`` is not flattened (OFFSET 0) so
# each value is trimmed once per line; a line passing every check (the conditions, none true) is
# dropped before the problem array is built, so only the bad lines pay for it.
_CHECK_SQL = f"""
WITH s AS (
    SELECT coalesce(src_line, row_no + 1 + %(offset)s) AS line,
           nullif(btrim(prefix), '') AS prefix, nullif(btrim(rate), '') AS rate,
           nullif(btrim(interstate_rate), '') AS interstate_rate,
           nullif(btrim(intrastate_rate), '') AS intrastate_rate,
           nullif(btrim(indeterminate_rate), '') AS indeterminate_rate,
           nullif(btrim(connection_fee), '') AS connection_fee,
           nullif(btrim(initial_increment), '') AS initial_increment,
           nullif(btrim(subsequent_increment), '') AS subsequent_increment,
           nullif(btrim(effective_date), '') AS effective_date,
           nullif(btrim(expires_date), '') AS expires_date,
           destination_name, country_code
    FROM __STAGE__
    OFFSET 0
)
SELECT p.line, problem FROM (
    SELECT line, array_remove(ARRAY[
        {", ".join(f"CASE WHEN {cond} THEN {msg} END" for cond, msg in _CHECKS)}
    ], NULL) AS problems
    FROM s
    WHERE NOT ({" AND ".join(f"({cond}) IS NOT TRUE" for cond, _ in _CHECKS)})
) AS p
CROSS JOIN LATERAL unnest(p.problems) AS problem
ORDER BY p.line
"""

_TYPED_SQL = """
CREATE __KIND__ TABLE __ROWS__ __ON_COMMIT__ AS
SELECT coalesce(src_line, row_no + 1 + %(offset)s) AS line,
       btrim(prefix) AS prefix,
       -- the deck's exclusion key (length, then digits): the load order, sorted as one bigint
       length(btrim(prefix))::bigint * 10000000000000000 + btrim(prefix)::bigint AS sort_key,
       nullif(btrim(destination_name), '') AS destination_name,
       nullif(btrim(country_code), '') AS country_code,
       nullif(btrim(rate), '')::numeric(10,6) AS rate,
       nullif(btrim(interstate_rate), '')::numeric(10,6) AS interstate_rate,
       nullif(btrim(intrastate_rate), '')::numeric(10,6) AS intrastate_rate,
       nullif(btrim(indeterminate_rate), '')::numeric(10,6) AS indeterminate_rate,
       coalesce(nullif(btrim(connection_fee), '')::numeric(10,6), 0) AS connection_fee,
       coalesce(nullif(btrim(initial_increment), '')::integer, 1) AS initial_increment,
       coalesce(nullif(btrim(subsequent_increment), '')::integer, 1) AS subsequent_increment,
       coalesce(nullif(btrim(effective_date), '')::date, %(today)s::date) AS effective_date,
       nullif(btrim(expires_date), '')::date AS expires_date
FROM __STAGE__
"""

# Two rows of the file for one prefix whose periods overlap (the deck's exclusion constraint would
# refuse the second): report both lines.
_OVERLAP_SQL = """
SELECT line, format('prefix %s: effective period overlaps line %s', prefix, prev_line)
FROM (
    SELECT line, prefix, effective_date,
           lag(line) OVER w AS prev_line, lag(expires_date) OVER w AS prev_expires,
           lag(effective_date) OVER w AS prev_effective
    FROM __ROWS__
    WINDOW w AS (PARTITION BY prefix ORDER BY effective_date, line)
) AS x
WHERE prev_line IS NOT NULL AND (prev_expires IS NULL OR prev_expires > effective_date)
ORDER BY line
"""


def import_rates(
    conn: psycopg.Connection[Any],
    *,
    carrier_trunk: str,
    path: Path,
    mode: str = "merge",
    skip_bad: bool = False,
    today: date | None = None,
    progress: Progress | None = None,
    url: str | None = None,
    parallel_min_bytes: int | None = None,
) -> ImportResult:
    """Load a CSV rate deck for ``carrier_trunk`` atomically.

    ``merge``: for each prefix in the file, the trunk's rows in force at (or starting after) the new
    row's effective date are closed (or dropped); other prefixes are untouched. ``replace``: the whole
    current deck is closed at the file's earliest effective date, so prefixes missing from the file stop
    routing. Bad lines abort the import (all reported) unless ``skip_bad``.

    ``url`` (the database ``conn`` is connected to) lets a file of at least ``parallel_min_bytes`` (default
    :data:`PARALLEL_MIN_BYTES`) load
    on two cores: a helper connection loads half of the prefixes in a prepared (two-phase) transaction
    whose fate follows the caller's transaction. The caller must then call :func:`resolve_prepared`
    after committing (or rolling back); ``warp maintenance run`` and the next import of the trunk do it
    too after a crash. Without ``url``, or when the server has ``max_prepared_transactions = 0``, the
    whole deck loads in the caller's transaction (ADR 0006).
    """
    started = time.monotonic()
    if mode not in MODES:
        raise InvalidRouting(f"mode: must be one of {', '.join(MODES)}")
    if not path.is_file():
        raise RateImportError(f"{path}: no such file")
    today = today or datetime.now(UTC).date()
    columns = read_header(path)
    trunk = get_carrier_trunk(conn, carrier_trunk)
    result = ImportResult(carrier_trunk=trunk.name, mode=mode)
    params: dict[str, Any] = {"today": today, "trunk": trunk.id, "offset": 0}

    with conn.transaction():
        # One import per carrier trunk at a time. NO KEY UPDATE (not UPDATE): a parallel import's helper
        # inserts deck rows whose foreign key check takes KEY SHARE on this row.
        conn.execute("SELECT 1 FROM routing.carrier_trunks WHERE id = %s FOR NO KEY UPDATE", (trunk.id,))
        _settle_pending(conn, url, trunk.id)
        if (
            url is not None
            and path.stat().st_size
            >= (PARALLEL_MIN_BYTES if parallel_min_bytes is None else parallel_min_bytes)
            and _two_phase_available(conn)
            and _ParallelImport(conn, url, trunk.id, path, columns, mode, skip_bad, params, result).run(
                progress
            )
        ):
            _audit(conn, trunk.id, trunk.name, path, result, started)
            return result
        problems: list[tuple[int, str]] = []
        try:
            with conn.transaction():
                _stage(conn, path, columns, progress)
        except (psycopg.errors.BadCopyFileFormat, psycopg.errors.InvalidTextRepresentation):
            problems, cleaned = _malformed_lines(path, len(columns))
            conn.execute("DROP TABLE IF EXISTS rate_import_stage")
            _stage_lines(conn, cleaned, columns)
            if not problems:  # pragma: no cover - COPY and csv disagree; keep COPY's verdict visible
                problems = [(0, "malformed CSV")]
            if skip_bad:
                result.skipped += len(problems)
        rows = conn.execute("SELECT count(*) FROM rate_import_stage").fetchone()
        result.rows = int(_value(rows)) + len(problems)

        bad_fields = field_problems(conn, "rate_import_stage", params)
        problems += bad_fields
        if bad_fields and skip_bad:
            result.skipped += _delete_lines(conn, "rate_import_stage", bad_fields, 0)
        if problems and not skip_bad:
            _refuse(path, problems)

        type_staged_lines(conn, params)
        overlapping = overlaps(conn, "rate_import_rows")
        if overlapping:
            problems += overlapping
            if not skip_bad:
                _refuse(path, problems)
            bad = sorted({line for line, _ in overlapping})
            conn.execute("DELETE FROM rate_import_rows WHERE line = ANY(%s)", (bad,))
            result.skipped += len(bad)

        problems.sort()
        result.problem_count = len(problems)
        result.problems = problems[:MAX_REPORTED]
        loaded = conn.execute("SELECT count(*), min(effective_date) FROM rate_import_rows").fetchone()
        count, effective_from = _value(loaded, 0), _value(loaded, 1)
        result.effective_from = effective_from
        if not count:
            result.seconds = time.monotonic() - started
            return result
        conn.execute("ANALYZE rate_import_rows")
        counts = _close_and_insert(conn, mode, {**params, "from": effective_from}, "rate_import_rows", "TRUE")
        result.superseded, result.closed, result.loaded = counts
        _audit(conn, trunk.id, trunk.name, path, result, started)
    return result


def _sub(conn: psycopg.Connection[Any], template: str, **names: str | sql.Composable) -> str:
    """``template`` with each ``__NAME__`` replaced (table names are composed identifiers)."""
    for key, value in names.items():
        text = value if isinstance(value, str) else value.as_string(conn)
        template = template.replace(f"__{key.upper()}__", text)
    return template


def type_staged_lines(conn: psycopg.Connection[Any], params: dict[str, Any]) -> None:
    """Type the checked lines of ``rate_import_stage`` into the transaction's ``rate_import_rows``
    (the one-connection load; billing's rate-plan import uses it too)."""
    conn.execute(
        _sub(
            conn,
            _TYPED_SQL,
            kind="TEMP",
            rows="rate_import_rows",
            on_commit="ON COMMIT DROP",
            stage="rate_import_stage",
        ),
        params,
    )


def field_problems(
    conn: psycopg.Connection[Any], stage: str | sql.Composable, params: dict[str, Any]
) -> list[tuple[int, str]]:
    """Every bad field of the staged lines in ``stage`` (line number, message naming the field): the
    line checks shared by the carrier deck and the billing rate-plan imports."""
    return [
        (int(_value(r, 0)), str(_value(r, 1)))
        for r in conn.execute(_sub(conn, _CHECK_SQL, stage=stage), params)
    ]


def _delete_lines(
    conn: psycopg.Connection[Any], stage: str | sql.Composable, problems: list[tuple[int, str]], offset: int
) -> int:
    bad = sorted({line for line, _ in problems})
    conn.execute(
        _sub(conn, "DELETE FROM __STAGE__ WHERE coalesce(src_line, row_no + 1 + %s) = ANY(%s)", stage=stage),
        (offset, bad),
    )
    return len(bad)


def overlaps(conn: psycopg.Connection[Any], rows: str | sql.Composable) -> list[tuple[int, str]]:
    """Lines of the typed ``rows`` whose periods overlap another line's for the same prefix (line, message)."""
    return [(int(_value(r, 0)), str(_value(r, 1))) for r in conn.execute(_sub(conn, _OVERLAP_SQL, rows=rows))]


def _close_and_insert(
    conn: psycopg.Connection[Any], mode: str, params: dict[str, Any], rows: str, deck_range: str
) -> tuple[int, int, int]:
    """Close the trunk's rows the new ones supersede, insert the new ones: (superseded, closed, loaded).

    ``rows`` is the typed rows' table; ``deck_range`` a condition on ``prefix``: the prefix range these
    rows belong to (``TRUE``: all). It limits ``replace``'s closing of the current deck, so two
    connections loading two ranges never touch the same prefix.
    """
    deck_where = deck_range.replace("prefix", "d.prefix")
    if mode == "replace":
        cur = conn.execute(
            "DELETE FROM routing.rate_deck d WHERE d.carrier_trunk_id = %(trunk)s "
            f"AND d.effective_date >= %(from)s AND {deck_where}",
            params,
        )
        superseded = cur.rowcount
        cur = conn.execute(
            "UPDATE routing.rate_deck d SET expires_date = %(from)s WHERE d.carrier_trunk_id = %(trunk)s "
            "AND d.effective_date < %(from)s AND (d.expires_date IS NULL OR d.expires_date > %(from)s) "
            f"AND {deck_where}",
            params,
        )
        closed = cur.rowcount
    else:
        firsts = f"(SELECT prefix, min(effective_date) AS starts FROM {rows} GROUP BY prefix) AS n"
        cur = conn.execute(
            f"DELETE FROM routing.rate_deck d USING {firsts} WHERE d.carrier_trunk_id = %(trunk)s "
            "AND d.prefix = n.prefix AND d.effective_date >= n.starts",
            params,
        )
        superseded = cur.rowcount
        cur = conn.execute(
            f"UPDATE routing.rate_deck d SET expires_date = n.starts FROM {firsts} "
            "WHERE d.carrier_trunk_id = %(trunk)s AND d.prefix = n.prefix AND d.effective_date < n.starts "
            "AND (d.expires_date IS NULL OR d.expires_date > n.starts)",
            params,
        )
        closed = cur.rowcount
    # The sort below holds every row: in memory it is a quicksort, not an external merge on disk.
    previous = _value(conn.execute("SELECT current_setting('work_mem')").fetchone())
    conn.execute("SELECT set_config('work_mem', '512MB', true)")
    cur = conn.execute(
        "INSERT INTO routing.rate_deck (id, carrier_trunk_id, prefix, destination_name, country_code, rate, "
        "interstate_rate, intrastate_rate, indeterminate_rate, connection_fee, initial_increment, "
        "subsequent_increment, effective_date, expires_date) "
        "SELECT (%(id_base)s || lpad(to_hex(row_number() OVER (ORDER BY sort_key, effective_date)), 12, '0'))::uuid, "
        "%(trunk)s, prefix, destination_name, country_code, rate, interstate_rate, intrastate_rate, "
        "indeterminate_rate, connection_fee, initial_increment, subsequent_increment, effective_date, "
        f"expires_date FROM {rows} "
        # In the exclusion constraint's key order (descending: its key is -sort_key): consecutive GiST
        # insertions then descend to the same leaf pages (~27% faster than file order on 1M shuffled
        # rows), and each internal page's first downlink is the best one (ADR 0006); the btrees and the
        # consecutive ids see ascending keys (appends).
        "ORDER BY sort_key, effective_date",
        {**params, "id_base": _id_base()},
    )
    conn.execute("SELECT set_config('work_mem', %s, true)", (previous,))
    return superseded, closed, cur.rowcount


def _audit(
    conn: psycopg.Connection[Any],
    trunk_id: Any,
    trunk_name: str,
    path: Path,
    result: ImportResult,
    started: float,
) -> None:
    """rate_deck is bulk-loaded, so it has no row audit: one audit entry records the import."""
    result.seconds = time.monotonic() - started
    conn.execute(
        "INSERT INTO audit.audit_log (schema_name, table_name, record_id, action, new_row, actor_type, "
        "actor_id, request_id) VALUES ('routing', 'rate_deck', %s, 'INSERT', %s, "
        "CASE WHEN upper(current_setting('warp.actor_type', true)) IN ('USER', 'API_KEY', 'STAFF', 'SYSTEM') "
        "THEN upper(current_setting('warp.actor_type', true)) ELSE 'SYSTEM' END, "
        "CASE WHEN current_setting('warp.actor_id', true) ~ '^[0-9a-fA-F-]{36}$' "
        "THEN current_setting('warp.actor_id', true)::uuid END, "
        "nullif(current_setting('warp.request_id', true), ''))",
        (
            str(trunk_id),
            json.dumps(
                {
                    "import": "rate_deck",
                    "file": path.name,
                    "carrier_trunk": trunk_name,
                    **{k: v for k, v in result.as_dict().items() if k not in ("problems", "carrier_trunk")},
                }
            ),
        ),
    )


# -- parallel load: two connections, two-phase commit ------------------------------------------------

GID_PREFIX = "warp-rate-import"
# The two connections' UNLOGGED staging tables (0011: the only schema where the application creates tables).
STAGING_SCHEMA = "import_staging"
# Staging tables live for one import: autovacuum/autoanalyze of them would only compete for the CPU.
_NO_AUTOVACUUM = "WITH (autovacuum_enabled = off)"
_TABLE_RE = re.compile(r"^rate_import_(?:stage|rows)_([0-9]+)_([0-9a-f]+)_[0-9]$")
_SETTINGS = ("warp.account_id", "warp.role", "warp.actor_type", "warp.actor_id", "warp.request_id")


def _two_phase_available(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute("SELECT current_setting('max_prepared_transactions')::integer").fetchone()
    return int(_value(row)) > 0


def _pending(conn: psycopg.Connection[Any], trunk_id: Any = None) -> list[str]:
    """Prepared helper transactions of parallel imports in this database (of one trunk if given)."""
    rows = conn.execute(
        "SELECT gid FROM pg_prepared_xacts WHERE database = current_database() AND gid LIKE %s ORDER BY gid",
        (f"{GID_PREFIX}:%" if trunk_id is None else f"{GID_PREFIX}:%:{trunk_id}",),
    ).fetchall()
    return [str(_value(r)) for r in rows]


def _settle_pending(conn: psycopg.Connection[Any], url: str | None, trunk_id: Any) -> None:
    """Finish an earlier parallel import of this trunk left prepared (its rows would block ours)."""
    if not _pending(conn, trunk_id):
        return
    if url is not None:
        with psycopg.connect(url, autocommit=True, **connection_kwargs()) as side:
            resolve_prepared(side)
    if _pending(conn, trunk_id):
        raise RateImportError(
            "an earlier parallel import of this carrier trunk is still prepared (two-phase) and not "
            "resolved: run `warp maintenance run` (or rate_import.resolve_prepared) and retry"
        )


def resolve_prepared(conn: psycopg.Connection[Any]) -> tuple[int, int]:
    """Commit or roll back parallel imports' prepared helper transactions: (committed, rolled back).

    ``conn`` must be in autocommit mode (COMMIT PREPARED runs outside a transaction block). A helper's
    global id names its coordinator's transaction id: when that transaction committed, the helper
    commits; when it aborted (or crashed), the helper rolls back; while it runs, it is left alone.
    Staging tables of finished imports are dropped.
    """
    committed = rolled_back = 0
    for gid in _pending(conn):
        xid = gid.split(":")[1]
        status = _value(conn.execute("SELECT pg_xact_status(%s::xid8)", (xid,)).fetchone())
        if status not in ("committed", "aborted"):
            continue
        # Only the role that prepared a transaction or a superuser may finish it. The helper prepares as
        # its login role (see _ParallelImport), so the importing service finishes it as it is, even
        # through PgBouncer; another login (warp maintenance) acts as that role (_acting_as).
        owner = _value(
            conn.execute("SELECT owner::text FROM pg_prepared_xacts WHERE gid = %s", (gid,)).fetchone()
        )
        if owner is None:  # finished meanwhile by another resolver
            continue
        verb = "COMMIT" if status == "committed" else "ROLLBACK"
        try:
            with _acting_as(conn, owner):
                conn.execute(sql.SQL(verb + " PREPARED {}").format(sql.Literal(gid)))
        except psycopg.errors.UndefinedObject:  # finished meanwhile by another resolver
            continue
        if status == "committed":
            committed += 1
        else:
            rolled_back += 1
    pending = {gid.split(":")[2] for gid in _pending(conn)}
    tables = conn.execute(
        "SELECT c.relname, pg_get_userbyid(c.relowner)::text FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relkind = 'r' AND c.relname LIKE 'rate\\_import\\_%%'",
        (STAGING_SCHEMA,),
    ).fetchall()
    for row in tables:
        name = str(_value(row))
        match = _TABLE_RE.match(name)
        if not match or f"{match[1]}_{match[2]}" in pending:
            continue
        status = _value(conn.execute("SELECT pg_xact_status(%s::xid8)", (match[1],)).fetchone())
        if status != "in progress":
            with _acting_as(conn, str(_value(row, 1))):
                conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(STAGING_SCHEMA, name)))
    return committed, rolled_back


@contextmanager
def _acting_as(conn: psycopg.Connection[Any], role: str) -> Iterator[None]:
    """Run the block as ``role`` when the connection is another role (it must be a member, or a superuser).

    A session setting: only on a direct connection (warp maintenance), never through a transaction
    pooler, which is why an import's own connections never need it."""
    if role == _value(conn.execute("SELECT current_user::text").fetchone()):
        yield
        return
    previous = _value(conn.execute("SELECT current_setting('role')").fetchone())
    conn.execute("SELECT set_config('role', %s, false)", (role,))
    try:
        yield
    finally:
        conn.execute("SELECT set_config('role', %s, false)", (previous,))


def _split_offset(path: Path) -> int:
    """Byte offset of the first record that starts after the middle of the file (a newline outside quotes)."""
    with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        size = len(mm)
        pos = mm.find(b"\n", size // 2)
        quotes = mm[: max(pos, 0)].count(b'"')
        while pos >= 0 and quotes % 2:  # inside a quoted field: the next newline
            nxt = mm.find(b"\n", pos + 1)
            if nxt >= 0:
                quotes += mm[pos:nxt].count(b'"')
            pos = nxt
        return size if pos < 0 else pos + 1


def split_candidates(median: str, present: set[str]) -> list[str]:
    """Split points at or around ``median`` that no two nested prefixes straddle.

    ``present`` holds those proper prefixes (leading substrings) of ``median`` that are prefixes of the
    file or the deck. A split point ``s`` separates ``p < s <= q`` for a prefix ``p`` of ``q`` only if
    ``p`` is a proper prefix of ``s`` (ADR 0006), so ``s`` is safe when none of its proper prefixes is
    present. That is ``median`` itself when none of its leading substrings is present; otherwise the
    shortest present one, ``root``, and the first string after everything that starts with ``root``
    (``"449"`` -> ``"45"``; none after ``"99"``): the deck's subtree under ``root`` goes to one side whole.
    """
    for n in range(1, len(median)):
        root = median[:n]
        if root in present:
            break
    else:
        return [median]
    stem = root.rstrip("9")
    if not stem:
        return [root]
    return [root, stem[:-1] + chr(ord(stem[-1]) + 1)]


class _ParallelImport:
    """One import on two connections: the caller's (coordinator) and a helper, one prefix range each.

    The file's two halves are COPYed and checked in parallel on two autocommit side connections into
    UNLOGGED tables (a second session cannot read the caller's temporary tables), with the same checks
    and line numbers as the serial path. The lines are then split near the median prefix (byte order),
    where no destination's candidate prefixes are divided (:meth:`_split`), and each side types, checks
    for overlaps and counts one prefix range (a prefix's lines are all in one range, so the overlap
    check is complete). The caller's transaction closes the current deck and
    loads the rows of the low range, the helper's of the high range, concurrently; the helper then
    PREPAREs its transaction under a global id naming the caller's transaction id, and the caller's
    commit is the decision (:func:`resolve_prepared`). The ranges share no prefix, so neither
    transaction ever waits on the other's rows in the exclusion constraint. All or nothing; the two
    halves become visible at two commits a few milliseconds apart, and in between every look-up sees
    the old or the new deck for its destination (ADR 0006, fifth pass).
    """

    def __init__(
        self,
        conn: psycopg.Connection[Any],
        url: str,
        trunk_id: Any,
        path: Path,
        columns: list[str],
        mode: str,
        skip_bad: bool,
        params: dict[str, Any],
        result: ImportResult,
    ) -> None:
        self.conn, self.url, self.trunk_id, self.path = conn, url, trunk_id, path
        self.columns, self.mode, self.skip_bad, self.params, self.result = (
            columns,
            mode,
            skip_bad,
            params,
            result,
        )
        xid = _value(conn.execute("SELECT pg_current_xact_id()::text").fetchone())
        self.tag = f"{xid}_{uuid.uuid4().hex[:8]}"
        self.gid = f"{GID_PREFIX}:{xid}:{self.tag}:{trunk_id}"
        self.stages = [sql.Identifier(STAGING_SCHEMA, f"rate_import_stage_{self.tag}_{k}") for k in (0, 1)]
        self.typed = [sql.Identifier(STAGING_SCHEMA, f"rate_import_rows_{self.tag}_{k}") for k in (0, 1)]

    def run(self, progress: Progress | None) -> bool:
        """Load the deck; False when the CSV is malformed (the serial path then reports its lines)."""
        with (
            psycopg.connect(self.url, autocommit=True, **connection_kwargs()) as side0,
            psycopg.connect(self.url, autocommit=True, **connection_kwargs()) as side1,
            ThreadPoolExecutor(2) as pool,
        ):
            sides = (side0, side1)
            try:
                return self._run(sides, pool, progress)
            finally:
                for side, stage in zip(sides, self.stages, strict=True):
                    if not side.closed and side.info.transaction_status == TransactionStatus.IDLE:
                        side.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(stage))

    def _run(
        self, sides: tuple[psycopg.Connection[Any], ...], pool: ThreadPoolExecutor, progress: Progress | None
    ) -> bool:
        result, params = self.result, self.params
        total = self.path.stat().st_size
        middle = _split_offset(self.path)
        done = [0, 0]
        lock = threading.Lock()

        def advance(part: int, n: int) -> None:
            with lock:
                done[part] = n
                if progress:
                    progress(sum(done), total)

        try:
            staged = list(
                pool.map(
                    lambda k: self._stage_part(sides[k], k, (0, middle)[k], (middle, total)[k], advance),
                    (0, 1),
                )
            )
        except (psycopg.errors.BadCopyFileFormat, psycopg.errors.InvalidTextRepresentation):
            return False
        offsets = (0, staged[0])
        result.rows = sum(staged)

        def check(k: int) -> list[tuple[int, str]]:
            return field_problems(sides[k], self.stages[k], {**params, "offset": offsets[k]})

        per_part = list(pool.map(check, (0, 1)))
        problems = [p for part in per_part for p in part]
        if problems and self.skip_bad:
            result.skipped += sum(
                _delete_lines(sides[k], self.stages[k], per_part[k], offsets[k])
                for k in (0, 1)
                if per_part[k]
            )
        if problems and not self.skip_bad:
            _refuse(self.path, problems)

        split = self._split(sides, pool)
        ranges = ('prefix COLLATE "C" < %(split)s', 'prefix COLLATE "C" >= %(split)s')
        staged_rows = sql.SQL(" UNION ALL ").join(
            sql.SQL("SELECT src_line, row_no + {} AS row_no, {} FROM {}").format(
                sql.Literal(offset), sql.SQL(", ").join(map(sql.Identifier, KNOWN)), stage
            )
            for offset, stage in zip(offsets, self.stages, strict=True)
        )

        def typed(k: int) -> tuple[list[tuple[int, str]], int, date | None]:
            """This range's typed rows (from both halves of the file), their overlaps, count, first date."""
            source = sql.SQL("(SELECT * FROM ({}) AS st WHERE {}) AS st").format(
                staged_rows, sql.SQL(ranges[k].replace("prefix", "btrim(prefix)"))
            )
            conn = sides[k]
            conn.execute(
                _sub(
                    conn,
                    _TYPED_SQL,
                    kind="UNLOGGED",
                    rows=self.typed[k],
                    on_commit=_NO_AUTOVACUUM,
                    stage=source,
                ),
                {**params, "offset": 0, "split": split},
            )
            conn.execute(sql.SQL("ANALYZE {}").format(self.typed[k]))
            row = conn.execute(sql.SQL("SELECT count(*), min(effective_date) FROM {}").format(self.typed[k]))
            first = row.fetchone()
            return overlaps(conn, self.typed[k]), int(_value(first, 0)), _value(first, 1)

        per_range = list(pool.map(typed, (0, 1)))
        overlapping = sorted(p for part in per_range for p in part[0])
        count = sum(part[1] for part in per_range)
        if overlapping:
            problems += overlapping
            if not self.skip_bad:
                _refuse(self.path, problems)
            for k, part in enumerate(per_range):
                bad = sorted({line for line, _ in part[0]})
                if bad:
                    cur = sides[k].execute(
                        sql.SQL("DELETE FROM {} WHERE line = ANY(%s)").format(self.typed[k]), (bad,)
                    )
                    count -= cur.rowcount
                    result.skipped += len(bad)
        problems.sort()
        result.problem_count = len(problems)
        result.problems = problems[:MAX_REPORTED]
        if overlapping:  # a deleted line may have been the earliest
            per_range = [
                (
                    part[0],
                    part[1],
                    _value(
                        sides[k]
                        .execute(sql.SQL("SELECT min(effective_date) FROM {}").format(self.typed[k]))
                        .fetchone()
                    ),
                )
                for k, part in enumerate(per_range)
            ]
        effective_from = min((part[2] for part in per_range if part[2] is not None), default=None)
        result.effective_from = effective_from
        if not count:
            return True
        role = _value(self.conn.execute("SELECT current_user").fetchone())
        for k, table in enumerate(self.typed):
            sides[k].execute(sql.SQL("GRANT SELECT ON {} TO {}").format(table, sql.Identifier(role)))
        settings = self.conn.execute(
            "SELECT " + ", ".join(f"current_setting(%s, true) AS s{i}" for i in range(len(_SETTINGS))),
            _SETTINGS,
        ).fetchone()
        values = [("role", role), *zip(_SETTINGS, _values(settings), strict=True)]
        load = {**params, "from": effective_from, "split": split}
        typed_names = [t.as_string(sides[0]) for t in self.typed]

        helper = sides[1]
        helper_prepared = threading.Event()

        def help_load() -> tuple[int, int, int]:
            helper.execute("BEGIN")
            try:
                helper.execute(
                    "SELECT " + ", ".join("set_config(%s, %s, true)" for _ in values),
                    [v or "" for pair in values for v in pair],
                )
                counts = _close_and_insert(helper, self.mode, load, typed_names[1], ranges[1])
                # Prepared as the login role, not the caller's role (e.g. warp_staff): PostgreSQL lets
                # only the preparing role finish it, and the service resolves it as its login.
                helper.execute("SELECT set_config('role', 'none', true)")
                helper.execute(sql.SQL("PREPARE TRANSACTION {}").format(sql.Literal(self.gid)))
                helper_prepared.set()
                return counts
            except BaseException:
                if not helper.closed and helper.info.transaction_status != TransactionStatus.IDLE:
                    helper.execute("ROLLBACK")
                raise

        future = pool.submit(help_load)
        try:
            mine = _close_and_insert(self.conn, self.mode, load, typed_names[0], ranges[0])
            theirs = future.result()
        except BaseException:
            if not future.done():
                helper.cancel()
            futures.wait([future])
            if helper_prepared.is_set():
                helper.execute(sql.SQL("ROLLBACK PREPARED {}").format(sql.Literal(self.gid)))
            raise
        result.superseded, result.closed, result.loaded = (a + b for a, b in zip(mine, theirs, strict=True))
        return True

    def _split(self, sides: tuple[psycopg.Connection[Any], ...], pool: ThreadPoolExecutor) -> str:
        """Where the two prefix ranges meet: a split no destination straddles, near the median prefix.

        The median (byte order) of a 1% page sample balances the two connections' work. It is moved to
        a point that no prefix of the file or of the trunk's deck is a proper prefix of
        (:func:`split_candidates`), so all the prefixes a destination can match are in one range: the
        ranges commit a few milliseconds apart, and every look-up in between sees the whole old deck or
        the whole new one for its destination (ADR 0006).
        """
        side = sides[0]
        sample = " UNION ALL ".join(
            f"SELECT btrim(prefix) AS prefix FROM {t.as_string(side)}{{sample}}" for t in self.stages
        )
        prefixes: list[str] = []
        for clause in (" TABLESAMPLE SYSTEM (1)", ""):  # a small file's sample may be empty
            prefixes = sorted(str(_value(r)) for r in side.execute(sample.format(sample=clause)))
            if prefixes:
                break
        if not prefixes:
            return ""
        median = prefixes[(len(prefixes) - 1) // 2]
        leading = [median[:n] for n in range(1, len(median))]

        def present(k: int) -> set[str]:
            return {
                str(_value(r))
                for r in sides[k].execute(
                    sql.SQL("SELECT DISTINCT btrim(prefix) FROM {} WHERE btrim(prefix) = ANY(%s)").format(
                        self.stages[k]
                    ),
                    (leading,),
                )
            }

        found = set().union(*pool.map(present, (0, 1)))
        found.update(
            str(_value(r))
            for r in self.conn.execute(
                "SELECT DISTINCT prefix FROM routing.rate_deck WHERE carrier_trunk_id = %s AND prefix = ANY(%s)",
                (self.trunk_id, leading),
            )
        )
        # The candidate closest to the sample's middle.
        return min(
            split_candidates(median, found),
            key=lambda s: abs(bisect.bisect_left(prefixes, s) - len(prefixes) / 2),
        )

    def _stage_part(
        self,
        side: psycopg.Connection[Any],
        part: int,
        start: int,
        end: int,
        advance: Callable[[int, int], None],
    ) -> int:
        """COPY bytes [start, end) of the file into this part's staging table; the number of rows."""
        side.execute(
            sql.SQL(
                "CREATE UNLOGGED TABLE {} (row_no bigint GENERATED ALWAYS AS IDENTITY, src_line bigint, {}) "
                + _NO_AUTOVACUUM
            ).format(
                self.stages[part],
                sql.SQL(", ").join(sql.SQL("{} text").format(sql.Identifier(c)) for c in KNOWN),
            )
        )
        statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv, HEADER {})").format(
            self.stages[part], sql.SQL(", ").join(map(sql.Identifier, self.columns)), sql.SQL(str(start == 0))
        )
        cur = side.cursor()
        with self.path.open("rb") as fh, cur.copy(statement) as cp:
            fh.seek(start)
            position = start
            if start == 0:
                head = fh.read(3)
                if head != csvcopy.BOM:
                    cp.write(head)
                position += len(head)
            while position < end:
                chunk = fh.read(min(csvcopy.CHUNK, end - position))
                if not chunk:
                    break
                cp.write(chunk)
                position += len(chunk)
                advance(part, position - start)
        return max(cur.rowcount, 0)


def _id_base() -> str:
    """The first 20 hex digits of the ids of one import's rows (the last 12 count the rows).

    A random version-4 UUID's first 74 random bits are shared by the import's rows, so they are as
    unlikely to collide with other rows as random UUIDs are, while consecutive rows get consecutive
    ids: primary-key insertions append to one place of the btree instead of a random leaf each
    (ADR 0006: ~4 of ~35 CPU microseconds per imported row). The column's default is unchanged.
    """
    return uuid.uuid4().hex[:20]


def _refuse(path: Path, problems: list[tuple[int, str]]) -> None:
    problems = sorted(problems)
    lines = len({line for line, _ in problems})
    shown = "\n".join(f"  line {line}: {msg}" for line, msg in problems[:MAX_REPORTED])
    more = "" if len(problems) <= MAX_REPORTED else f"\n  ... and {len(problems) - MAX_REPORTED} more"
    raise RateImportError(
        f"{path.name}: {lines} bad line(s), nothing loaded (use --skip-bad to load the good lines):\n{shown}{more}",
        problems,
    )


def _value(row: Any, index: int = 0) -> Any:
    if row is None:
        return None
    if isinstance(row, dict):
        return list(row.values())[index]
    return row[index]


def _values(row: Any) -> list[Any]:
    if row is None:
        return []
    if isinstance(row, dict):
        return list(row.values())
    return list(row)
