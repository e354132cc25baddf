"""CDR ingest: Kamailio CSV / JSON lines files and rows of Kamailio's ``acc_cdrs`` table.

Every path goes through :func:`_ingest`: each record is checked in Python against fast paths for
the shapes Kamailio writes (``YYYY-MM-DD HH:MM:SS[.f]`` times with day <= 28, plain or ``sip:``/
``tel:`` numbers, dotted-quad addresses, ...). Records that fit get their final values in Python
(the trunk and account of their source address, identified once per new address with
``routing.identify_trunk``'s rule; the carrier trunk by name; a time-ordered id) and go in chunks
of ``CHUNK_ROWS``, loaded by a second thread while the parser works on the next chunk (files of
``PARALLEL_MIN_BYTES`` or more: by two threads on connections of their own, split by Call-ID, each
chunk committed on its own, see :func:`import_file`): a plain ``COPY`` into
``cdr.raw_cdr`` inside a savepoint, or, when the chunk holds a CDR that is already stored (the
COPY fails on the unique key), a COPY into a typed staging table and ONE ``INSERT ... SELECT ...
ON CONFLICT (call_id, start_time) DO NOTHING`` (no per-row function or join either way). Every
other record (including every bad one) goes to a text staging table where the full SQL rules
(``_CHECK_SQL``, ``cdr.parse_timestamp``, ``cdr.number_chars``, ...) report every problem with its
line number and load the rest.

A CDR's identity is its Call-ID plus start time, so re-imports, overlapping files (even loading at
the same time) and a re-run after a crash (a file is one transaction, or whole committed chunks)
never duplicate or lose a row; duplicates are counted, not errors.
CDRs whose source address no trunk claims are kept with ``trunk_identified = false`` (see
``cdr.failed_calls``).
"""

from __future__ import annotations

import csv
import io
import json
import operator
import queue
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from warp.cdr.errors import InvalidCdrInput
from warp.db import tenant
from warp.db.pooler import connection_kwargs

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
TYPED_STAGE = "cdr_ingest_stage_typed"
CHUNK_ROWS = 50_000
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

# Distinct source addresses: validated (a bad address is a bad line) and identified once each, for
# the whole file (both staging paths add theirs; ``checked`` marks the ones already identified).
_IPS_SQL = """
CREATE TEMP TABLE IF NOT EXISTS cdr_ingest_ips (
    src text PRIMARY KEY, ip inet, trunk_id uuid, account_id uuid, checked boolean NOT NULL DEFAULT false
) ON COMMIT DROP
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

# Rows of the fast path, final values for cdr.raw_cdr (times are local times of the file's zone, read
# with the TimeZone setting set to it): COPY'd straight into cdr.raw_cdr, or, when a chunk holds a
# CDR that is already there, into a staging table with the same columns and moved by
# INSERT ... ON CONFLICT DO NOTHING (no per-row function or join either way).
_TYPED_COLUMNS = (
    "id",
    "source_line",
    "start_time",
    "call_id",
    "answer_time",
    "end_time",
    "duration",
    "source_ip",
    "raw_ani",
    "raw_dnis",
    "ani",
    "dnis",
    "sip_code",
    "sip_reason",
    "pdd_ms",
    "direction",
    "carrier_trunk_name",
    "carrier_trunk_id",
    "extra",
    "ingest_source",
    "source_file",
    "account_id",
    "trunk_id",
    "trunk_identified",
)
_TYPED_STAGE_SQL = """
CREATE TEMP TABLE IF NOT EXISTS cdr_ingest_stage_typed (
    id uuid, source_line integer, start_time timestamptz, call_id text, answer_time timestamptz, end_time timestamptz,
    duration numeric(12,3), source_ip inet, raw_ani text, raw_dnis text, ani text, dnis text, sip_code integer,
    sip_reason text, pdd_ms integer, direction text, carrier_trunk_name text, carrier_trunk_id uuid, extra jsonb,
    ingest_source text, source_file text, account_id uuid, trunk_id uuid, trunk_identified boolean
) ON COMMIT DROP
"""
_TYPED_INSERT_SQL = (
    f"INSERT INTO cdr.raw_cdr ({', '.join(_TYPED_COLUMNS)}) SELECT {', '.join(_TYPED_COLUMNS)} "
    "FROM cdr_ingest_stage_typed ON CONFLICT (call_id, start_time) DO NOTHING"
)


# routing.identify_trunk's rule for every address (src, ip) of {addresses} in one join (enabled
# IP-authenticated trunks, the most specific ACL network wins, then the oldest trunk), over the ACLs'
# GiST index. Calling the function per address costs ~0.15 ms each (SECURITY DEFINER functions are
# not inlined), which made trunk identification the slowest step of an import with tens of
# thousands of addresses. tests/cdr/test_cdr_ingest_speed.py checks both agree.
_TRUNK_OF = """
SELECT DISTINCT ON (x.src) x.src, t.id AS trunk_id, t.account_id
FROM {addresses} AS x
JOIN routing.trunk_acl a ON a.network >>= x.ip
JOIN routing.trunks t ON t.id = a.trunk_id AND t.enabled AND t.auth_type IN ('IP_ACL', 'BOTH')
ORDER BY x.src, masklen(a.network) DESC, t.created_at, t.id
"""

# The addresses of the text stage (already in cdr_ingest_ips, validated, not yet identified).
_IDENTIFY_SQL = f"""
UPDATE cdr_ingest_ips c SET trunk_id = m.trunk_id, account_id = m.account_id
FROM ({_TRUNK_OF.format(addresses="(SELECT src, ip FROM cdr_ingest_ips WHERE ip IS NOT NULL AND NOT checked)")}) AS m
WHERE c.src = m.src
"""

# The fast path's dotted-quad addresses, identified (the trunk columns of their COPY lines) in one
# read-only query per chunk.
_TRUNKS_OF_SQL = f"""
WITH n AS MATERIALIZED (SELECT src, src::inet AS ip FROM unnest(%s::text[]) AS u(src))
SELECT n.src, m.account_id::text, m.trunk_id::text
FROM n LEFT JOIN ({_TRUNK_OF.format(addresses="n")}) AS m ON m.src = n.src
"""


def _identify_sources(conn: psycopg.Connection[Any]) -> list[str]:
    """Add the text stage's addresses to cdr_ingest_ips and identify them; returns the ones that are not IP addresses."""
    added = conn.execute(
        "INSERT INTO cdr_ingest_ips (src) SELECT DISTINCT btrim(src_ip) FROM cdr_ingest_stage "
        "WHERE nullif(btrim(src_ip), '') IS NOT NULL ON CONFLICT (src) DO NOTHING"
    ).rowcount
    # Dotted-quad IPv4 is validated set-based; anything else (IPv6, garbage) is tried one by one.
    conn.execute("UPDATE cdr_ingest_ips SET ip = src::inet WHERE NOT checked AND src ~ %s", (_IPV4,))
    bad: list[str] = []
    for row in conn.execute("SELECT src FROM cdr_ingest_ips WHERE ip IS NULL AND NOT checked").fetchall():
        src = str(_v(row, 0))
        try:
            with conn.transaction():
                conn.execute("UPDATE cdr_ingest_ips SET ip = %s::inet WHERE src = %s", (src, src))
        except psycopg.errors.DataError:
            bad.append(src)
    if added > 1000:
        conn.execute("ANALYZE cdr_ingest_ips")
    conn.execute(_IDENTIFY_SQL)
    conn.execute("UPDATE cdr_ingest_ips SET checked = true WHERE NOT checked")
    return bad


def _load_text_stage(
    conn: psycopg.Connection[Any],
    result: IngestResult,
    *,
    name: str,
    source: str,
    extra: Sequence[str],
    tz: str,
) -> list[tuple[int, str]]:
    """The full rules for the records that missed the fast path: report, drop the bad lines, insert the rest."""
    problems = [(int(_v(r, 0)), str(_v(r, 1))) for r in conn.execute(_CHECK_SQL).fetchall()]
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
    bad_lines = sorted({line for line, _ in problems})
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
    inserted = conn.execute(insert, {"tz": tz, "source": source, "file": name}).rowcount
    result.rows += total
    result.bad += len(bad_lines)
    result.inserted += inserted
    result.duplicates += max(0, total - len(bad_lines) - inserted)
    result.unidentified += int(
        _v(
            conn.execute(
                "SELECT count(*) FROM cdr_ingest_stage s LEFT JOIN cdr_ingest_ips i ON i.src = btrim(s.src_ip) "
                "WHERE i.trunk_id IS NULL"
            ).fetchone(),
            0,
        )
    )
    return problems


# --- the fast path: the shapes Kamailio writes, checked and typed in Python ---------------------------
# Each pattern accepts a subset of what the SQL rule accepts and gives the same value (tests compare
# them with cdr.is_timestamp_text / cdr.parse_timestamp / cdr.number_chars / cdr.e164_chars and the
# _CHECK_SQL rules); anything else goes to the text stage and the SQL rules.
_TS_FAST = re.compile(
    r"[1-9][0-9]{3}-(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])[ T](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    r"(?:\.[0-9]{1,6})?"
).fullmatch
_DURATION_FAST = re.compile(r"[0-9]{1,9}(?:\.[0-9]{1,3})?").fullmatch
_SIP_CODE_FAST = re.compile(r"[1-6][0-9]{2}").fullmatch
_PDD_FAST = re.compile(r"[0-9]{1,9}").fullmatch
_IPV4_FAST = re.compile(_IPV4[1:-1]).fullmatch
_DIGITS_FAST = re.compile(r"\+?[0-9]+").fullmatch
_URI_FAST = re.compile(r"(?:sips?|tel):(\+?[0-9]+)(?:[@;]|\Z)").match
_E164 = re.compile(r"\+[1-9][0-9]{1,14}").fullmatch
_E164_INTL = re.compile(r"011[1-9][0-9]{1,14}").fullmatch
_E164_NANP11 = re.compile(r"1[2-9][0-9]{9}").fullmatch
_E164_NANP10 = re.compile(r"[2-9][0-9]{9}").fullmatch
_DIRECTIONS = {
    "": "OUTBOUND",
    **{v: "OUTBOUND" for v in ("OUTBOUND", "outbound", "Outbound", "OUT", "out", "Out")},
    **{v: "INBOUND" for v in ("INBOUND", "inbound", "Inbound", "IN", "in", "In")},
}
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def number_chars_fast(raw: str) -> str | None:
    """cdr.number_chars for a plain number or a plain sip:/tel: URI; None when the full rule is needed."""
    if _DIGITS_FAST(raw):
        return raw
    m = _URI_FAST(raw)
    return m.group(1) if m else None


def e164_chars(chars: str) -> str | None:
    """cdr.e164_chars: the E.164 form of a cleaned number, None when it is none of the accepted forms."""
    if _E164(chars):
        return chars
    if _E164_INTL(chars):
        return "+" + chars[3:]
    if _E164_NANP11(chars):
        return "+" + chars
    if _E164_NANP10(chars):
        return "+1" + chars
    return None


def is_timestamp_fast(value: str) -> bool:
    """True for the local-time shape Kamailio writes whose fields are valid in every month (day <= 28)."""
    return _TS_FAST(value) is not None


class _FastPath:
    """Turns a record (values in header order) into the middle of its COPY line for cdr.raw_cdr, or None.

    The line lacks the id (see _id_head) and the account, trunk and trunk_identified columns: the
    loading thread adds them, the latter from the source address's identification.
    """

    def __init__(
        self,
        names: Sequence[str],
        extra: Sequence[str],
        carrier_trunks: dict[str, str],
        source: str,
        name: str,
    ) -> None:
        pos = {n: i for i, n in enumerate(names)}
        self.index = [pos.get(c, -1) for c in KNOWN]
        # the KNOWN values of a record with "" appended (the value of a column the header lacks)
        self.pick = operator.itemgetter(*(i if i >= 0 else len(names) for i in self.index))
        self.extra = [(c, pos[c]) for c in extra]
        self.carrier_trunks = carrier_trunks
        self.ips: set[str] = set()
        self.tail = f"\t{source}\t{name.translate(_COPY_ESCAPES)}\t"

    def line(self, number: int, rec: Sequence[str]) -> str | None:
        (start, callid, duration, sip_code, end, answer, ip, frm, ruri, reason, ctrunk, pdd, direction) = (
            self.pick([*rec, ""])
        )
        if not _TS_FAST(start) or not callid or callid[0] == " " or callid[-1] == " " or len(callid) > 255:
            return None
        if (end and not _TS_FAST(end)) or (answer and not _TS_FAST(answer)):
            return None
        if not _DURATION_FAST(duration) or not _SIP_CODE_FAST(sip_code) or (pdd and not _PDD_FAST(pdd)):
            return None
        if ip and ip not in self.ips:
            if not _IPV4_FAST(ip):
                return None
            self.ips.add(ip)  # addresses repeat: each one checked once
        if len(frm) > 64 or len(ruri) > 64 or len(reason) > 128 or len(ctrunk) > 100:
            return None
        if ctrunk and (ctrunk[0] == " " or ctrunk[-1] == " "):
            return None
        way = _DIRECTIONS.get(direction)
        if way is None:
            return None
        ani = dnis = _NULL
        if frm:
            a = number_chars_fast(frm)
            if a is None:
                return None
            ani = e164_chars(a) or _NULL
        if ruri:
            d = number_chars_fast(ruri)
            if d is None:
                return None
            dnis = e164_chars(d) or _NULL
        extra = "{}"
        if self.extra:
            extra = json.dumps({c: rec[i] for c, i in self.extra if rec[i] != ""})
        ctrunk_id = self.carrier_trunks.get(ctrunk, _NULL) if ctrunk else _NULL
        texts = (callid, frm, ruri, reason, ctrunk, extra)
        joined = "".join(texts)
        if "\\" in joined or "\t" in joined or "\n" in joined or "\r" in joined:
            callid, frm, ruri, reason, ctrunk, extra = (t.translate(_COPY_ESCAPES) for t in texts)
        return (
            f"{number}\t{start}\t{callid}\t{answer or _NULL}\t{end or _NULL}\t{duration}\t{ip or _NULL}\t"
            f"{frm or _NULL}\t{ruri or _NULL}\t{ani}\t{dnis}\t{sip_code}\t{reason or _NULL}\t{pdd or _NULL}\t"
            f"{way}\t{ctrunk or _NULL}\t{ctrunk_id}\t{extra}{self.tail}"
        )


_NULL = "\\N"
_UNIDENTIFIED = f"{_NULL}\t{_NULL}\tf\n"


_Rows = list[tuple[str, str]]
"""a chunk: (source address, COPY line without the trunk columns)"""


def _header(path: Path) -> list[str]:
    """The header's column names (csvcopy.header's rule; bytes that are not UTF-8 further down are bad lines)."""
    with path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as fh:
        first = fh.readline()
    if not first.strip():
        return []
    return [c.strip().lower() for c in next(csv.reader([first]))]


def _csv_records(
    path: Path, width: int, problems: list[tuple[int, str]], progress: Progress | None
) -> Iterator[tuple[int, list[str]]]:
    """The records of a CSV file after its header, with their line numbers; bad structure goes to ``problems``."""
    total = path.stat().st_size
    with (
        path.open("rb") as raw,
        io.TextIOWrapper(raw, encoding="utf-8-sig", errors="surrogateescape", newline="") as fh,
    ):
        reader = csv.reader(fh, strict=True)
        start = 1
        seen = 0
        while True:
            try:
                record = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                problems.append((start, f"malformed CSV: {exc}"))
                start = reader.line_num + 1
                continue
            line, start = start, reader.line_num + 1
            if line == 1 or not record or record == [""]:
                continue
            if len(record) != width:
                problems.append((line, f"expected {width} fields (as in the header), found {len(record)}"))
                continue
            seen += 1
            if progress and seen % CHUNK_ROWS == 0:
                progress(raw.tell(), total)
            yield line, record
    if progress:
        progress(total, total)


class _Trunks:
    """The trunk columns of the fast path's source addresses, identified once per import, shared by its loaders."""

    def __init__(self) -> None:
        self.ids: dict[str, str] = {"": _UNIDENTIFIED}
        self.lock = threading.Lock()

    def resolve(self, loader: _Loader, ips: set[str]) -> None:
        """Identify the addresses of ``ips`` not identified yet, on ``loader``'s connection."""
        # one loader at a time: the other one waits (holding nothing) instead of asking for the same ones
        with self.lock:
            missing = [ip for ip in ips if ip not in self.ids]
            if not missing:
                return
            with loader.step():
                rows = loader.conn.execute(_TRUNKS_OF_SQL, (missing,)).fetchall()
            for row in rows:
                account, trunk = _v(row, 1), _v(row, 2)
                self.ids[str(_v(row, 0))] = _UNIDENTIFIED if trunk is None else f"{account}\t{trunk}\tt\n"


_COPY_DIRECT = sql.SQL("COPY cdr.raw_cdr ({}) FROM STDIN").format(
    sql.SQL(", ").join(map(sql.Identifier, _TYPED_COLUMNS))
)
_COPY_STAGED = sql.SQL("COPY {} FROM STDIN").format(sql.Identifier(TYPED_STAGE))
_RETRIES = 5


class _Loader:
    """Loads the fast path's chunks into cdr.raw_cdr on one connection, in a thread of its own.

    With ``settings`` None the connection is the caller's and every chunk goes into the caller's
    transaction. Otherwise the connection is the loader's own and every chunk is its own transaction,
    acting as the caller (``settings``: its role and warp.* settings) and committed: such a
    transaction only ever waits on locks PostgreSQL sees (another transaction's rows of the same
    CDRs), so two imports can never wait on each other through their clients; a deadlock that
    PostgreSQL breaks is retried.
    """

    def __init__(
        self,
        conn: psycopg.Connection[Any],
        trunks: _Trunks,
        tz: str,
        settings: list[tuple[str, str]] | None = None,
    ) -> None:
        self.conn = conn
        self.trunks = trunks
        self.settings = settings
        self.session_tz = str(_v(conn.execute("SELECT current_setting('TimeZone')").fetchone(), 0))
        self.zone = [("TimeZone", tz)]
        self.inserted = self.unidentified = self.staged = 0
        self.direct = self.copy = True
        self.chunks: queue.Queue[_Rows | None] = queue.Queue(maxsize=2)
        self.failed: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, name="cdr-ingest-loader", daemon=True)
        self.thread.start()

    def put(self, rows: _Rows) -> None:
        self.staged += len(rows)
        self.chunks.put(rows)

    def finish(self) -> None:
        """Wait for the chunks put so far to be loaded."""
        self.chunks.put(None)
        self.thread.join()

    @contextmanager
    def step(self) -> Iterator[None]:
        """A transaction of the loader's own connection acting as the caller (nothing on the caller's)."""
        if self.settings is None:
            yield
            return
        with self.conn.transaction():
            _set(self.conn, self.settings)
            yield

    def _run(self) -> None:
        try:
            while (rows := self.chunks.get()) is not None:
                if not self.failed:
                    self._load(rows)
        except BaseException as exc:  # re-raised by the parsing thread
            self.failed.append(exc)
            while self.chunks.get() is not None:
                pass

    def _load(self, rows: _Rows) -> None:
        ids = self.trunks.ids
        if any(ip not in ids for ip, _ in rows):
            self.trunks.resolve(self, {ip for ip, _ in rows})
        parts = []
        unidentified = 0
        head = _id_head()
        for k, (ip, line) in enumerate(rows):
            tail = ids[ip]
            if tail is _UNIDENTIFIED:
                unidentified += 1
            parts.append(f"{head}{k:08x}\t{line}{tail}")
        self.unidentified += unidentified
        data = "".join(parts).encode("utf-8")
        if self.settings is None:
            # the file's times are read in its zone (the caller's setting is put back after)
            _set(self.conn, self.zone)
            self.inserted += self._copy(data, len(rows))
            _set(self.conn, [("TimeZone", self.session_tz)])
            return
        for attempt in range(1, _RETRIES + 1):
            try:
                with self.step():
                    _set(self.conn, self.zone)
                    inserted = self._copy(data, len(rows))
                break
            except psycopg.errors.DeadlockDetected:
                if attempt == _RETRIES:
                    raise
                self.direct = False
        self.inserted += inserted

    def _copy(self, data: bytes, count: int) -> int:
        """Load one chunk in the current transaction; the number of CDRs inserted (the rest were stored already)."""
        conn = self.conn
        if self.direct:
            # Nothing of this chunk in cdr.raw_cdr yet (the usual case): a plain COPY. A CDR that is
            # already there fails it, and the chunk goes through the staging table instead.
            try:
                with conn.transaction(), conn.cursor().copy(_COPY_DIRECT) as cp:
                    cp.write(data)
                return count
            except psycopg.errors.UniqueViolation:
                self.direct = False
            except psycopg.errors.FeatureNotSupported:  # COPY FROM under row-level security
                self.direct = self.copy = False
        conn.execute(_TYPED_STAGE_SQL)
        with conn.cursor().copy(_COPY_STAGED) as cp:
            cp.write(data)
        inserted = conn.execute(_TYPED_INSERT_SQL).rowcount
        conn.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(TYPED_STAGE)))
        # no duplicate in this chunk: the next one tries the plain COPY again
        self.direct = self.copy and inserted == count
        return inserted


def _id_head() -> str:
    """The first 24 hex digits of a chunk's ids: UUID version 7 (time in ms, then 40 random bits).

    The chunk's rows number on in the last 8 digits, so ids grow as rows are loaded and land at the
    right edge of the primary key's index (a random id costs a full descent of it per row, plus
    uuid_generate_v4's own cost on the server: ~15% of the COPY's CPU together).
    """
    ms = time.time_ns() // 1_000_000
    return f"{ms:012x}7{secrets.randbits(12):03x}{8 | secrets.randbits(2):x}{secrets.randbits(28):07x}"


def _set(conn: psycopg.Connection[Any], settings: Sequence[tuple[str, str]]) -> None:
    """set_config for the current transaction, in one round trip."""
    conn.execute(
        "SELECT " + ", ".join("set_config(%s, %s, true)" for _ in settings),
        [x for kv in settings for x in kv],
    )


def _ingest(
    conn: psycopg.Connection[Any],
    records: Iterable[tuple[int, Sequence[str]]],
    *,
    names: Sequence[str],
    extra: Sequence[str],
    name: str,
    source: str,
    tz: str,
    problems: list[tuple[int, str]],
    started: float,
    first_start: bool = False,
    helpers: Sequence[psycopg.Connection[Any]] = (),
) -> IngestResult:
    """Ingest ``records`` (line number, values in ``names`` order) in the caller's transaction.

    ``problems`` holds the lines refused before this point (and receives the ones found here). The
    fast path's chunks are loaded by a second thread while this one parses the next chunk. With
    ``helpers`` (connections of this import's own, see :func:`_open_helpers`) the fast path's
    records are loaded by them instead, one loader each, split by Call-ID (a CDR and its duplicates
    always go to the same one), every chunk committed on its own; the rest stays in the caller's
    transaction.
    """
    result = IngestResult(source=name)
    conn.execute(_IPS_SQL)
    conn.execute("TRUNCATE cdr_ingest_ips")
    conn.execute(_TYPED_STAGE_SQL)
    _create_stage(conn, extra)
    conn.execute(sql.SQL("TRUNCATE {}, {}").format(sql.Identifier(STAGE), sql.Identifier(TYPED_STAGE)))
    carrier_trunks = {
        str(_v(r, 0)): str(_v(r, 1)) for r in conn.execute("SELECT name, id FROM routing.carrier_trunks")
    }
    fast = _FastPath(names, extra, carrier_trunks, source, name)
    trunks = _Trunks()
    if helpers:
        settings = _caller_settings(conn)
        loaders = [_Loader(h, trunks, tz, settings) for h in helpers]
    else:
        loaders = [_Loader(conn, trunks, tz)]
    slow: list[list[str | None]] = []
    earliest = ""
    try:
        n = len(loaders)
        pending: list[_Rows] = [[] for _ in loaders]
        ip_at = fast.index[KNOWN.index("src_ip")]
        start_at = fast.index[KNOWN.index("start_time")]
        callid_at = fast.index[KNOWN.index("callid")]
        for number, rec in records:
            text = fast.line(number, rec)
            if text is None:
                slow.append([str(number), *(v if v != "" else None for v in rec)])
                continue
            if not text.isascii():
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError:
                    problems.append((number, "not valid UTF-8"))
                    continue
            # a CDR and its duplicates (same Call-ID) always go to the same loader
            at = hash(rec[callid_at]) % n if n > 1 else 0
            rows = pending[at]
            rows.append((rec[ip_at] if ip_at >= 0 else "", text))
            if first_start:
                # the fast shape compares as text once the T separator is a space
                start = rec[start_at].replace("T", " ")
                earliest = start if not earliest or start < earliest else earliest
            if len(rows) >= CHUNK_ROWS:
                loaders[at].put(rows)
                pending[at] = []
                if loaders[at].failed:
                    break
        for loader, rows in zip(loaders, pending, strict=True):
            if rows and not loader.failed:
                loader.put(rows)
    finally:
        for loader in loaders:
            loader.finish()
    for loader in loaders:
        if loader.failed:
            raise loader.failed[0]
        result.rows += loader.staged
        result.inserted += loader.inserted
        result.unidentified += loader.unidentified
    result.duplicates = result.rows - result.inserted
    if earliest:
        low = _v(conn.execute("SELECT %s::timestamp AT TIME ZONE %s", (earliest, tz)).fetchone(), 0)
        if result.first_start is None or low < result.first_start:
            result.first_start = low
    if slow:
        _stage_text(conn, slow, [*names])
        problems += _load_text_stage(conn, result, name=name, source=source, extra=extra, tz=tz)
        if first_start:
            low = _v(
                conn.execute(
                    "SELECT min(cdr.parse_timestamp(start_time, %s)) FROM cdr_ingest_stage", (tz,)
                ).fetchone(),
                0,
            )
            if low is not None and (result.first_start is None or low < result.first_start):
                result.first_start = low
    # lines refused before staging (structure, encoding) count as rows and bad lines too
    unstaged = {line for line, _ in problems} - {int(r[0] or 0) for r in slow}
    result.rows += len(unstaged)
    result.bad += len(unstaged)
    problems.sort()
    result.problems = [(name, line, msg) for line, msg in problems[:MAX_REPORTED]]
    result.seconds = time.monotonic() - started
    return result


# Files from this size on are loaded over LOADERS connections of their own (see import_file).
PARALLEL_MIN_BYTES = 8 << 20
LOADERS = 2


def _caller_settings(conn: psycopg.Connection[Any]) -> list[tuple[str, str]]:
    """The role and warp.* settings of the caller's transaction (tenant.Context's), for the helpers' transactions."""
    names = list(tenant.Context().settings())
    row = conn.execute(
        "SELECT array_agg(current_setting(n, true) ORDER BY i) FROM unnest(%s::text[]) WITH ORDINALITY AS u(n, i)",
        (names,),
    ).fetchone()
    values = _v(row, 0)
    return [
        (k, str(v))
        for k, v in zip(names, values, strict=True)
        if v is not None and not (k == "role" and v == "none")
    ]


def _open_helpers(conn: psycopg.Connection[Any]) -> list[psycopg.Connection[Any]]:
    """LOADERS more connections to ``conn``'s database for one import, or none (load on ``conn``).

    Only when the caller's transaction has written nothing yet: a helper waiting on a row the
    caller's transaction holds would wait for the caller, who waits for the helper, a cycle
    PostgreSQL cannot see. Only in READ COMMITTED (a snapshot taken before the helpers commit would
    not see their rows) and not read-only.
    """
    row = conn.execute(
        "SELECT pg_current_xact_id_if_assigned() IS NULL AND NOT current_setting('transaction_read_only')::boolean "
        "AND current_setting('transaction_isolation') = 'read committed'"
    ).fetchone()
    if not _v(row, 0):
        return []
    dsn = conn.info.dsn
    if conn.info.password:
        dsn = make_conninfo(dsn, password=conn.info.password)
    helpers: list[psycopg.Connection[Any]] = []
    try:
        for _ in range(LOADERS):
            helpers.append(psycopg.connect(dsn, autocommit=True, **connection_kwargs()))
    except psycopg.OperationalError:  # e.g. no connection slot left: load on the caller's connection
        for helper in helpers:
            helper.close()
        return []
    return helpers


def _stage_text(conn: psycopg.Connection[Any], rows: list[list[str | None]], names: list[str]) -> None:
    with conn.cursor().copy(
        sql.SQL("COPY {} (src_line, {}) FROM STDIN").format(
            sql.Identifier(STAGE), sql.SQL(", ").join(map(sql.Identifier, names))
        )
    ) as cp:
        for row in rows:
            cp.write_row(row)


def import_file(
    conn: psycopg.Connection[Any],
    path: Path,
    *,
    fmt: str = "kamailio-csv",
    tz: str = "UTC",
    progress: Progress | None = None,
) -> IngestResult:
    """Ingest one file in the caller's transaction (a crash loses nothing: re-run it).

    A file of ``PARALLEL_MIN_BYTES`` or more is loaded over ``LOADERS`` connections of its own
    (both cores of the database), when the caller's transaction has written nothing yet: its CDRs
    are committed chunk by chunk as they load (the records that need the full SQL rules stay in the
    caller's transaction). A crash or an error then leaves the committed chunks; re-running the file
    loads the rest and counts them as duplicates.
    """
    started = time.monotonic()
    if fmt not in FORMATS:
        raise InvalidCdrInput(f"format: must be one of {', '.join(FORMATS)}")
    if not path.is_file():
        raise InvalidCdrInput(f"{path}: no such file")
    _check_tz(conn, tz)
    problems: list[tuple[int, str]] = []
    with conn.transaction():
        if fmt == "kamailio-csv":
            names = _header(path)
            if not names:
                raise InvalidCdrInput(f"{path.name}: line 1: missing header")
            extra = _check_header(path.name, names)
            records: Iterable[tuple[int, Sequence[str]]] = _csv_records(path, len(names), problems, progress)
            source = "KAMAILIO_CSV"
        else:
            extra, jsonl = _read_jsonl(path, problems)
            names = [*KNOWN, *extra]
            records = jsonl
            source = "JSONL"
        helpers = _open_helpers(conn) if path.stat().st_size >= PARALLEL_MIN_BYTES else []
        try:
            return _ingest(
                conn,
                records,
                names=names,
                extra=extra,
                name=path.name,
                source=source,
                tz=tz,
                problems=problems,
                started=started,
                helpers=helpers,
            )
        finally:
            for helper in helpers:
                helper.close()


def _read_jsonl(path: Path, problems: list[tuple[int, str]]) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Parse JSON lines (one object per line, keys as the CSV columns) into records in KNOWN + extra order."""
    objects: list[tuple[int, dict[str, Any]]] = []
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
            objects.append((number, {str(k).strip().lower(): v for k, v in obj.items()}))
    bad_keys = [k for k in keys if not re.match(_NAME_RE, k)]
    if bad_keys:
        raise InvalidCdrInput(
            f"{path.name}: key(s) {', '.join(map(repr, bad_keys))} are not plain identifiers"
        )
    extra = [k for k in keys if k not in KNOWN]
    cols = [*KNOWN, *extra]
    return extra, [(number, [_text(obj.get(c)) for c in cols]) for number, obj in objects]


def _text(value: Any) -> str:
    if value is None:
        return ""
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
        records = [
            (
                int(_v(r, 0)),
                ["" if v is None else str(v) for v in (r.values() if isinstance(r, dict) else r)][1:],
            )
            for r in rows
        ]
        result = _ingest(
            conn,
            records,
            names=ACC_COLUMNS,
            extra=[],
            name=source,
            source="ACC",
            tz=tz,
            problems=[],
            started=started,
            first_start=True,
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
