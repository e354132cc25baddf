"""CDR ingest: Kamailio CSV / JSON lines files and rows of Kamailio's ``acc_cdrs`` table.

Every path ends the same way: rows land as text in a per-transaction staging table (COPY), one SQL
pass reports every bad line with its line number, the bad lines are dropped, the customer trunk of
every distinct source address is identified once (``routing.identify_trunk``), and ONE
``INSERT ... SELECT ... ON CONFLICT (call_id, start_time) DO NOTHING`` moves the rest into
``cdr.raw_cdr``. A CDR's identity is its Call-ID plus start time, so re-imports, overlapping files
and a re-run after a crash (each file is one transaction) never duplicate a row; duplicates are
counted, not errors. CDRs whose source address no trunk claims are kept with
``trunk_identified = false`` (see ``cdr.failed_calls``).
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from warp.cdr.errors import InvalidCdrInput
from warp.db import csvcopy

FORMATS = ("kamailio-csv", "jsonl")
REQUIRED = ("start_time", "callid", "duration", "sip_code")
OPTIONAL = (
    "end_time",
    "answer_time",
    "src_ip",
    "from_user",
    "ruri_user",
    "sip_reason",
    "carrier_trunk",
    "pdd_ms",
    "direction",
)
KNOWN = (*REQUIRED, *OPTIONAL)
STAGE = "cdr_ingest_stage"
MAX_REPORTED = 1000
_NAME_RE = r"^[a-z_][a-z0-9_]{0,62}$"
_OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_IPV4 = f"^({_OCTET}\\.){{3}}{_OCTET}$"

Progress = Callable[[int, int], None]


@dataclass
class IngestResult:
    """What an ingest did, per file and in total."""

    source: str
    rows: int = 0
    inserted: int = 0
    duplicates: int = 0
    bad: int = 0
    unidentified: int = 0
    problems: list[tuple[str, int, str]] = field(default_factory=list)
    seconds: float = 0.0
    first_start: datetime | None = None
    """Earliest start time among the rows kept (acc_cdrs batches only): what the worker rates from."""

    def add(self, other: IngestResult) -> None:
        self.rows += other.rows
        self.inserted += other.inserted
        self.duplicates += other.duplicates
        self.bad += other.bad
        self.unidentified += other.unidentified
        self.problems.extend(other.problems[: max(0, MAX_REPORTED - len(self.problems))])
        self.seconds += other.seconds

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "rows": self.rows,
            "inserted": self.inserted,
            "duplicates": self.duplicates,
            "bad": self.bad,
            "unidentified": self.unidentified,
            "problems": [{"file": f, "line": line, "error": msg} for f, line, msg in self.problems],
            "seconds": round(self.seconds, 3),
        }


def _create_stage(conn: psycopg.Connection[Any], extra: Sequence[str]) -> None:
    cols = [*KNOWN, *extra]
    conn.execute(
        sql.SQL(
            "CREATE TEMP TABLE IF NOT EXISTS {} (row_no bigint GENERATED ALWAYS AS IDENTITY, src_line bigint, {}) "
            "ON COMMIT DROP"
        ).format(
            sql.Identifier(STAGE),
            sql.SQL(", ").join(sql.SQL("{} text").format(sql.Identifier(c)) for c in cols),
        )
    )


def _check_header(name: str, names: list[str]) -> list[str]:
    problems = [f"missing required column {c}" for c in REQUIRED if c not in names]
    if len(set(names)) != len(names):
        problems.append("a column is given twice")
    problems += [
        f"column name {c!r} is not a plain lower-case identifier" for c in names if not re.match(_NAME_RE, c)
    ]
    if problems:
        raise InvalidCdrInput(f"{name}: line 1: " + "; ".join(problems))
    return [c for c in names if c not in KNOWN]


# One pass over the staging table: every problem of every line.
# Each line's problems as one array (NULLs removed): only bad lines are unnested into rows.
_CHECK_SQL = """
SELECT line, unnest(problems) AS problem FROM (
    SELECT coalesce(src_line, row_no + 1) AS line, array_remove(ARRAY[
        CASE WHEN nullif(btrim(callid), '') IS NULL THEN 'callid: missing'
             WHEN length(btrim(callid)) > 255 THEN 'callid: longer than 255 characters' END,
        CASE WHEN nullif(btrim(start_time), '') IS NULL THEN 'start_time: missing'
             WHEN NOT cdr.is_timestamp_text(start_time) THEN 'start_time: ' || start_time || ' is not a date and time' END,
        CASE WHEN nullif(btrim(end_time), '') IS NOT NULL AND NOT cdr.is_timestamp_text(end_time)
             THEN 'end_time: ' || end_time || ' is not a date and time' END,
        CASE WHEN nullif(btrim(answer_time), '') IS NOT NULL AND NOT cdr.is_timestamp_text(answer_time)
             THEN 'answer_time: ' || answer_time || ' is not a date and time' END,
        CASE WHEN btrim(duration) !~ '^[0-9]{1,9}(\\.[0-9]{1,3})?$' OR duration IS NULL
             THEN 'duration: ' || coalesce(duration, '') || ' is not a number of seconds (3 decimals at most)' END,
        CASE WHEN btrim(sip_code) !~ '^[1-6][0-9]{2}$' OR sip_code IS NULL
             THEN 'sip_code: ' || coalesce(sip_code, '') || ' is not a SIP status code' END,
        CASE WHEN nullif(btrim(pdd_ms), '') !~ '^[0-9]{1,9}$' THEN 'pdd_ms: ' || pdd_ms || ' is not a whole number of milliseconds' END,
        CASE WHEN length(from_user) > 64 THEN 'from_user: longer than 64 characters' END,
        CASE WHEN length(ruri_user) > 64 THEN 'ruri_user: longer than 64 characters' END,
        CASE WHEN length(sip_reason) > 128 THEN 'sip_reason: longer than 128 characters' END,
        CASE WHEN length(carrier_trunk) > 100 THEN 'carrier_trunk: longer than 100 characters' END,
        CASE WHEN upper(nullif(btrim(direction), '')) NOT IN ('OUTBOUND', 'INBOUND', 'OUT', 'IN')
             THEN 'direction: ' || direction || ' is not OUTBOUND or INBOUND' END
    ], NULL) AS problems
    FROM cdr_ingest_stage
) AS p
WHERE cardinality(problems) > 0
"""

# Distinct source addresses: validated (a bad address is a bad line) and identified once each.
_IPS_SQL = """
CREATE TEMP TABLE IF NOT EXISTS cdr_ingest_ips (src text PRIMARY KEY, ip inet, trunk_id uuid, account_id uuid)
    ON COMMIT DROP;
TRUNCATE cdr_ingest_ips;
INSERT INTO cdr_ingest_ips (src)
SELECT DISTINCT btrim(src_ip) FROM cdr_ingest_stage WHERE nullif(btrim(src_ip), '') IS NOT NULL;
"""

_INSERT_SQL = """
INSERT INTO cdr.raw_cdr (start_time, call_id, answer_time, end_time, duration, source_ip, raw_ani, raw_dnis, ani,
                         dnis, sip_code, sip_reason, pdd_ms, direction, account_id, trunk_id, carrier_trunk_id,
                         carrier_trunk_name, trunk_identified, ingest_source, source_file, source_line, extra)
SELECT cdr.parse_timestamp(s.start_time, %(tz)s), btrim(s.callid),
       cdr.parse_timestamp(nullif(btrim(s.answer_time), ''), %(tz)s),
       cdr.parse_timestamp(nullif(btrim(s.end_time), ''), %(tz)s),
       btrim(s.duration)::numeric(12,3), i.ip, s.from_user, s.ruri_user, cdr.e164_chars(n.a), cdr.e164_chars(n.d),
       btrim(s.sip_code)::integer, nullif(s.sip_reason, ''), nullif(btrim(s.pdd_ms), '')::integer,
       CASE WHEN upper(btrim(s.direction)) IN ('IN', 'INBOUND') THEN 'INBOUND' ELSE 'OUTBOUND' END,
       i.account_id, i.trunk_id, ct.id, nullif(btrim(s.carrier_trunk), ''), i.trunk_id IS NOT NULL,
       %(source)s, %(file)s, coalesce(s.src_line, s.row_no + 1)::integer, {extra}
FROM cdr_ingest_stage s
-- each number cleaned once (OFFSET 0 keeps the planner from copying the expression into every use)
CROSS JOIN LATERAL (SELECT cdr.number_chars(s.from_user) AS a, cdr.number_chars(s.ruri_user) AS d OFFSET 0) AS n
LEFT JOIN cdr_ingest_ips i ON i.src = btrim(s.src_ip)
LEFT JOIN routing.carrier_trunks ct ON ct.name = btrim(s.carrier_trunk)
ON CONFLICT (call_id, start_time) DO NOTHING
"""


# routing.identify_trunk for every distinct source address in one join (the same rule: enabled
# IP-authenticated trunks, the most specific ACL network wins, then the oldest trunk). Calling the
# function per address costs ~0.15 ms each (SECURITY DEFINER functions are not inlined), which made
# trunk identification the slowest step of an import with tens of thousands of addresses; the join
# uses the ACLs' GiST index. tests/cdr/test_cdr_ingest_speed.py checks both agree.
_IDENTIFY_SQL = """
UPDATE cdr_ingest_ips c SET trunk_id = m.trunk_id, account_id = m.account_id
FROM (
    SELECT DISTINCT ON (i.src) i.src, t.id AS trunk_id, t.account_id
    FROM cdr_ingest_ips i
    JOIN routing.trunk_acl a ON a.network >>= i.ip
    JOIN routing.trunks t ON t.id = a.trunk_id AND t.enabled AND t.auth_type IN ('IP_ACL', 'BOTH')
    WHERE i.ip IS NOT NULL
    ORDER BY i.src, masklen(a.network) DESC, t.created_at, t.id
) AS m
WHERE m.src = c.src
"""


def _identify_sources(conn: psycopg.Connection[Any]) -> list[str]:
    """Fill cdr_ingest_ips; the addresses that are not IP addresses are returned (bad lines)."""
    for stmt in _IPS_SQL.strip().split(";\n"):
        if stmt.strip():
            conn.execute(stmt)
    # Dotted-quad IPv4 is validated set-based; anything else (IPv6, garbage) is tried one by one.
    conn.execute("UPDATE cdr_ingest_ips SET ip = src::inet WHERE src ~ %s", (_IPV4,))
    bad: list[str] = []
    for row in conn.execute("SELECT src FROM cdr_ingest_ips WHERE ip IS NULL").fetchall():
        src = str(row[0] if not isinstance(row, dict) else row["src"])
        try:
            with conn.transaction():
                conn.execute("UPDATE cdr_ingest_ips SET ip = %s::inet WHERE src = %s", (src, src))
        except psycopg.errors.DataError:
            bad.append(src)
    conn.execute("ANALYZE cdr_ingest_ips")
    conn.execute(_IDENTIFY_SQL)
    return bad


def _load_stage(
    conn: psycopg.Connection[Any],
    *,
    name: str,
    source: str,
    extra: Sequence[str],
    tz: str,
    staged_problems: list[tuple[int, str]],
    started: float,
) -> IngestResult:
    """Validate the staging table, drop bad lines, insert the rest; returns the counts."""
    result = IngestResult(source=name)
    problems = list(staged_problems)
    problems += [(int(_v(r, 0)), str(_v(r, 1))) for r in conn.execute(_CHECK_SQL).fetchall()]
    bad_ips = _identify_sources(conn)
    if bad_ips:
        problems += [
            (int(_v(r, 0)), f"src_ip: {_v(r, 1)} is not an IP address")
            for r in conn.execute(
                "SELECT coalesce(src_line, row_no + 1), src_ip FROM cdr_ingest_stage WHERE btrim(src_ip) = ANY(%s)",
                (bad_ips,),
            ).fetchall()
        ]
    total = int(_v(conn.execute("SELECT count(*) FROM cdr_ingest_stage").fetchone(), 0))
    bad_lines = sorted({line for line, _ in problems if line > 0})
    if bad_lines:
        conn.execute(
            "DELETE FROM cdr_ingest_stage WHERE coalesce(src_line, row_no + 1) = ANY(%s)", (bad_lines,)
        )
    extra_sql: sql.Composable = sql.SQL("'{}'::jsonb")
    if extra:
        extra_sql = sql.SQL("jsonb_strip_nulls(jsonb_build_object({}))").format(
            sql.SQL(", ").join(sql.SQL("{}, s.{}").format(sql.Literal(c), sql.Identifier(c)) for c in extra)
        )
    insert = sql.SQL(_INSERT_SQL).format(extra=extra_sql)
    cur = conn.execute(insert, {"tz": tz, "source": source, "file": name})
    result.inserted = cur.rowcount
    unstaged = {line for line, _ in staged_problems}
    dropped = len([line for line in bad_lines if line not in unstaged])
    result.rows = total + len(unstaged - {0})
    result.bad = len(bad_lines)
    result.duplicates = max(0, total - dropped - result.inserted)
    result.unidentified = int(
        _v(
            conn.execute(
                "SELECT count(*) FROM cdr_ingest_stage s LEFT JOIN cdr_ingest_ips i ON i.src = btrim(s.src_ip) "
                "WHERE i.trunk_id IS NULL"
            ).fetchone(),
            0,
        )
    )
    problems.sort()
    result.problems = [(name, line, msg) for line, msg in problems[:MAX_REPORTED]]
    result.seconds = time.monotonic() - started
    return result


def import_file(
    conn: psycopg.Connection[Any],
    path: Path,
    *,
    fmt: str = "kamailio-csv",
    tz: str = "UTC",
    progress: Progress | None = None,
) -> IngestResult:
    """Ingest one file in its own transaction (a crash loses nothing: re-run it)."""
    started = time.monotonic()
    if fmt not in FORMATS:
        raise InvalidCdrInput(f"format: must be one of {', '.join(FORMATS)}")
    if not path.is_file():
        raise InvalidCdrInput(f"{path}: no such file")
    _check_tz(conn, tz)
    with conn.transaction():
        if fmt == "kamailio-csv":
            names = csvcopy.header(path)
            if not names:
                raise InvalidCdrInput(f"{path.name}: line 1: missing header")
            extra = _check_header(path.name, names)
            _create_stage(conn, extra)
            conn.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(STAGE)))
            staged_problems = csvcopy.stage_csv(conn, STAGE, path, names, progress)
            source = "KAMAILIO_CSV"
        else:
            extra, staged_problems = _stage_jsonl(conn, path)
            source = "JSONL"
        return _load_stage(
            conn,
            name=path.name,
            source=source,
            extra=extra,
            tz=tz,
            staged_problems=staged_problems,
            started=started,
        )


def _stage_jsonl(conn: psycopg.Connection[Any], path: Path) -> tuple[list[str], list[tuple[int, str]]]:
    """Parse JSON lines (one object per line, keys as the CSV columns) into the staging table."""
    problems: list[tuple[int, str]] = []
    records: list[tuple[int, dict[str, Any]]] = []
    keys: dict[str, None] = {}
    with path.open(encoding="utf-8-sig") as fh:
        for number, text in enumerate(fh, start=1):
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                problems.append((number, f"not JSON: {exc.msg}"))
                continue
            if not isinstance(obj, dict):
                problems.append((number, "not a JSON object"))
                continue
            for k in obj:
                keys.setdefault(str(k).strip().lower())
            records.append((number, {str(k).strip().lower(): v for k, v in obj.items()}))
    bad_keys = [k for k in keys if not re.match(_NAME_RE, k)]
    if bad_keys:
        raise InvalidCdrInput(
            f"{path.name}: key(s) {', '.join(map(repr, bad_keys))} are not plain identifiers"
        )
    extra = [k for k in keys if k not in KNOWN]
    _create_stage(conn, extra)
    conn.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(STAGE)))
    cols = [*KNOWN, *extra]
    with conn.cursor().copy(
        sql.SQL("COPY {} (src_line, {}) FROM STDIN").format(
            sql.Identifier(STAGE), sql.SQL(", ").join(map(sql.Identifier, cols))
        )
    ) as cp:
        for number, obj in records:
            cp.write_row([number, *(_text(obj.get(c)) for c in cols)])
    return extra, problems


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def import_files(
    conn: psycopg.Connection[Any],
    paths: Iterable[Path],
    *,
    fmt: str = "kamailio-csv",
    tz: str = "UTC",
    on_file: Callable[[IngestResult], None] | None = None,
    progress: Progress | None = None,
) -> IngestResult:
    """Ingest several files, one transaction each; returns the totals."""
    total = IngestResult(source="total")
    for path in paths:
        one = import_file(conn, path, fmt=fmt, tz=tz, progress=progress)
        total.add(one)
        if on_file:
            on_file(one)
    return total


# --- Kamailio acc_cdrs ----------------------------------------------------------------------------

ACC_COLUMNS = (
    "start_time",
    "end_time",
    "duration",
    "callid",
    "src_ip",
    "from_user",
    "ruri_user",
    "sip_code",
    "sip_reason",
    "carrier_trunk",
    "pdd_ms",
)


def ingest_acc_batch(
    conn: psycopg.Connection[Any],
    *,
    source: str = "acc_cdrs",
    table: str = "acc_cdrs",
    source_conn: psycopg.Connection[Any] | None = None,
    batch: int = 10_000,
    tz: str = "UTC",
) -> IngestResult:
    """Ingest the next ``batch`` rows of Kamailio's acc_cdrs (id above the watermark), in ONE transaction.

    The watermark (cdr.ingest_watermarks) advances in the same transaction as the CDRs, so a crash at
    any point neither loses nor duplicates a row. ``source_conn`` reads acc_cdrs from another database
    (default: the same connection). The "line" of a problem is the acc_cdrs id.
    """
    started = time.monotonic()
    reader = source_conn or conn
    schema, _, name = table.rpartition(".")
    ident = sql.Identifier(schema, name) if schema else sql.Identifier(name)
    with conn.transaction():
        conn.execute(
            "INSERT INTO cdr.ingest_watermarks (source) VALUES (%s) ON CONFLICT ON CONSTRAINT ingest_watermarks_source_key DO NOTHING",
            (source,),
        )
        last = int(
            _v(
                conn.execute(
                    "SELECT last_id FROM cdr.ingest_watermarks WHERE source = %s FOR UPDATE", (source,)
                ).fetchone(),
                0,
            )
        )
        rows = reader.execute(
            sql.SQL(
                "SELECT id, start_time::text, end_time::text, duration::text, callid, src_ip::text, from_user, ruri_user, "
                "sip_code::text, sip_reason, carrier_trunk, pdd_ms::text FROM {} WHERE id > %s ORDER BY id LIMIT %s"
            ).format(ident),
            (last, batch),
        ).fetchall()
        if not rows:
            return IngestResult(source=source, seconds=time.monotonic() - started)
        _create_stage(conn, [])
        conn.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(STAGE)))
        with conn.cursor().copy(
            sql.SQL("COPY {} (src_line, {}) FROM STDIN").format(
                sql.Identifier(STAGE), sql.SQL(", ").join(map(sql.Identifier, ACC_COLUMNS))
            )
        ) as cp:
            for r in rows:
                cp.write_row(list(r.values()) if isinstance(r, dict) else list(r))
        result = _load_stage(
            conn, name=source, source="ACC", extra=[], tz=tz, staged_problems=[], started=started
        )
        result.first_start = _v(
            conn.execute(
                "SELECT min(cdr.parse_timestamp(start_time, %s)) FROM cdr_ingest_stage", (tz,)
            ).fetchone(),
            0,
        )
        high = max(int(_v(r, 0)) for r in rows)
        conn.execute(
            "UPDATE cdr.ingest_watermarks SET last_id = %s, rows_ingested = rows_ingested + %s WHERE source = %s",
            (high, result.inserted, source),
        )
        return result


def _check_tz(conn: psycopg.Connection[Any], tz: str) -> None:
    row = conn.execute("SELECT count(*) FROM pg_timezone_names WHERE name = %s", (tz,)).fetchone()
    if not _v(row, 0):
        raise InvalidCdrInput(f"tz: {tz} is not a time zone name")


def _v(row: Any, index: int) -> Any:
    if row is None:
        return None
    if isinstance(row, dict):
        return list(row.values())[index]
    return row[index]


def rows_to_csv(rows: Iterable[Sequence[Any]], header: Sequence[str]) -> str:
    """Kamailio CSV text for ``rows`` (used by tests, the demo and the benchmark)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()
