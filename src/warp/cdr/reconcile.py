"""Vendor CDRs: import a carrier's CSV and reconcile it against our CDRs.

Matching: first by SIP Call-ID, then (for what is left) by DNIS + ANI + start time within 2 seconds,
nearest first, one-to-one. Our side is every answered raw CDR routed to one of the carrier's trunks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg

from warp.cdr.errors import CarrierNotFound, ImportRefused, InvalidCdrInput
from warp.cdr.reference import MAX_REPORTED, _stage
from warp.cdr.reference import _first as first

TOLERANCE_S = 2
DISPUTE_COST = "0.000100"  # cost differences below this are rounding, not disputes
DISPUTE_DURATION = 1  # seconds


def carrier_id(conn: psycopg.Connection[Any], name: str) -> Any:
    row = conn.execute("SELECT id FROM routing.carriers WHERE name = %s", (name,)).fetchone()
    if row is None:
        raise CarrierNotFound(f"carrier: no carrier named {name!r}")
    return first(row)


_CHECK = """
SELECT line, problem FROM (
    SELECT coalesce(src_line, row_no + 1) AS line, unnest(ARRAY[
        CASE WHEN length(call_id) > 255 THEN 'call_id: longer than 255 characters' END,
        CASE WHEN nullif(btrim(ani), '') IS NOT NULL AND cdr.e164(ani) IS NULL THEN 'ani: ' || ani || ' is not a phone number' END,
        CASE WHEN cdr.e164(dnis) IS NULL THEN 'dnis: ' || coalesce(dnis, '') || ' is not a phone number' END,
        CASE WHEN start_time IS NULL OR NOT cdr.is_timestamp_text(start_time) THEN 'start_time: ' || coalesce(start_time, '') || ' is not a date and time' END,
        CASE WHEN btrim(duration) !~ '^[0-9]{1,9}(\\.[0-9]{1,3})?$' OR duration IS NULL THEN 'duration: ' || coalesce(duration, '') || ' is not a number of seconds' END,
        CASE WHEN btrim(cost) !~ '^-?[0-9]{1,8}(\\.[0-9]{1,6})?$' OR cost IS NULL THEN 'cost: ' || coalesce(cost, '') || ' is not an amount (6 decimals at most)' END
    ]) AS problem
    FROM vendor_cdr_stage
) AS p WHERE problem IS NOT NULL ORDER BY line
"""


@dataclass
class VendorImport:
    carrier: str
    file: str
    loaded: int = 0
    replaced: int = 0
    problems: list[tuple[int, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "carrier": self.carrier,
            "file": self.file,
            "loaded": self.loaded,
            "replaced": self.replaced,
            "problems": [{"line": line, "error": msg} for line, msg in self.problems],
        }


def import_vendor_cdrs(
    conn: psycopg.Connection[Any], carrier: str, path: Path, *, tz: str = "UTC", skip_bad: bool = True
) -> VendorImport:
    """Load a carrier's CDR file (``call_id`` optional, ``ani,dnis,start_time,duration,cost``).

    Re-importing a file of the same name for the carrier replaces its rows. Bad lines are reported
    and skipped (``skip_bad=False``: refused as a whole).
    """
    cid = carrier_id(conn, carrier)
    result = VendorImport(carrier=carrier, file=path.name)
    with conn.transaction():
        _, problems = _stage(
            conn, "vendor_cdr_stage", path, ("ani", "dnis", "start_time", "duration", "cost"), ("call_id",)
        )
        problems += [(int(r[0]), str(r[1])) for r in conn.execute(_CHECK).fetchall()]
        problems.sort()
        if problems and not skip_bad:
            raise ImportRefused(f"{path.name}: {len(problems)} problem(s), nothing loaded", problems)
        if problems:
            conn.execute(
                "DELETE FROM vendor_cdr_stage WHERE coalesce(src_line, row_no + 1) = ANY(%s)",
                ([line for line, _ in problems],),
            )
        result.replaced = conn.execute(
            "DELETE FROM cdr.vendor_cdr WHERE carrier_id = %s AND source_file = %s", (cid, path.name)
        ).rowcount
        result.loaded = conn.execute(
            "INSERT INTO cdr.vendor_cdr (carrier_id, call_id, ani, dnis, start_time, duration, cost, source_file, "
            "source_line) SELECT %s, nullif(btrim(call_id), ''), cdr.e164(ani), cdr.e164(dnis), "
            "cdr.parse_timestamp(start_time, %s), btrim(duration)::numeric(12,3), btrim(cost)::numeric(14,6), %s, "
            "coalesce(src_line, row_no + 1) FROM vendor_cdr_stage",
            (cid, tz, path.name),
        ).rowcount
        result.problems = problems[:MAX_REPORTED]
    return result


_OURS = """
CREATE TEMP TABLE recon_ours ON COMMIT DROP AS
SELECT r.id, r.start_time, r.call_id, r.ani, r.dnis, r.duration, e.vendor_cost AS cost
FROM cdr.raw_cdr r
JOIN routing.carrier_trunks ct ON ct.id = r.carrier_trunk_id AND ct.carrier_id = %(carrier)s
LEFT JOIN cdr.enriched_cdr e ON e.raw_cdr_id = r.id AND e.start_time = r.start_time
WHERE r.start_time >= %(from)s AND r.start_time < %(to)s AND cdr.is_answered(r.sip_code, r.duration)
"""

_THEIRS = """
CREATE TEMP TABLE recon_theirs ON COMMIT DROP AS
SELECT v.id, v.call_id, v.ani, v.dnis, v.start_time, v.duration, v.cost,
       NULL::uuid AS raw_id, NULL::timestamptz AS raw_start, NULL::text AS matched_by
FROM cdr.vendor_cdr v
WHERE v.carrier_id = %(carrier)s AND v.start_time >= %(from)s AND v.start_time < %(to)s
"""

_MATCH_CALL_ID = """
UPDATE recon_theirs t SET raw_id = o.id, raw_start = o.start_time, matched_by = 'CALL_ID'
FROM (SELECT DISTINCT ON (call_id) * FROM recon_ours ORDER BY call_id, start_time) AS o
WHERE t.call_id IS NOT NULL AND o.call_id = t.call_id
"""

# Nearest unmatched pair on DNIS + ANI within the tolerance, each side used once.
_MATCH_FUZZY = """
WITH cand AS (
    SELECT t.id AS tid, o.id AS oid, o.start_time AS ostart,
           abs(extract(epoch FROM t.start_time - o.start_time)) AS gap
    FROM recon_theirs t
    JOIN recon_ours o ON o.dnis = t.dnis AND o.ani IS NOT DISTINCT FROM t.ani
         AND o.start_time BETWEEN t.start_time - %(tol)s * interval '1 second'
                              AND t.start_time + %(tol)s * interval '1 second'
    WHERE t.raw_id IS NULL
      AND NOT EXISTS (SELECT 1 FROM recon_theirs m WHERE m.raw_id = o.id AND m.raw_start = o.start_time)
),
best_theirs AS (SELECT DISTINCT ON (tid) * FROM cand ORDER BY tid, gap, ostart, oid),
best AS (SELECT DISTINCT ON (oid) * FROM best_theirs ORDER BY oid, gap, tid)
UPDATE recon_theirs t SET raw_id = b.oid, raw_start = b.ostart, matched_by = 'ANI_DNIS_TIME'
FROM best b WHERE t.id = b.tid
"""

_REPORT = """
SELECT
    (SELECT count(*) FROM recon_theirs WHERE raw_id IS NOT NULL) AS matched,
    (SELECT count(*) FROM recon_theirs WHERE matched_by = 'CALL_ID') AS by_call_id,
    (SELECT count(*) FROM recon_ours o WHERE NOT EXISTS
        (SELECT 1 FROM recon_theirs t WHERE t.raw_id = o.id AND t.raw_start = o.start_time)) AS ours_only,
    (SELECT count(*) FROM recon_theirs WHERE raw_id IS NULL) AS theirs_only,
    (SELECT coalesce(sum(duration), 0) FROM recon_ours) AS our_seconds,
    (SELECT coalesce(sum(duration), 0) FROM recon_theirs) AS their_seconds,
    (SELECT coalesce(sum(cost), 0) FROM recon_ours) AS our_cost,
    (SELECT coalesce(sum(cost), 0) FROM recon_theirs) AS their_cost
"""

_DISPUTES = """
SELECT t.call_id, o.call_id AS our_call_id, t.dnis, t.start_time, o.duration AS our_duration,
       t.duration AS their_duration, o.cost AS our_cost, t.cost AS their_cost,
       t.cost - coalesce(o.cost, 0) AS difference, t.matched_by
FROM recon_theirs t JOIN recon_ours o ON o.id = t.raw_id AND o.start_time = t.raw_start
WHERE abs(t.cost - coalesce(o.cost, 0)) >= %(cost)s::numeric OR abs(t.duration - o.duration) >= %(dur)s
ORDER BY abs(t.cost - coalesce(o.cost, 0)) DESC, t.start_time
LIMIT %(limit)s
"""

_STORE = """
UPDATE cdr.vendor_cdr v SET raw_cdr_id = t.raw_id, raw_cdr_start_time = t.raw_start,
    match_status = CASE WHEN t.raw_id IS NULL THEN 'UNMATCHED'
                        WHEN abs(t.cost - coalesce(o.cost, 0)) >= %(cost)s::numeric
                             OR abs(t.duration - o.duration) >= %(dur)s THEN 'DISPUTED'
                        ELSE 'MATCHED' END
FROM recon_theirs t LEFT JOIN recon_ours o ON o.id = t.raw_id AND o.start_time = t.raw_start
WHERE v.id = t.id
"""


def reconcile(
    conn: psycopg.Connection[Any], carrier: str, start: datetime, end: datetime, *, largest: int = 10
) -> dict[str, Any]:
    """Match the carrier's CDRs in [start, end) with ours; store the matches and return the report."""
    if end <= start:
        raise InvalidCdrInput("to: must be after from")
    cid = carrier_id(conn, carrier)
    params = {
        "carrier": cid,
        "from": start,
        "to": end,
        "tol": TOLERANCE_S,
        "cost": DISPUTE_COST,
        "dur": DISPUTE_DURATION,
        "limit": largest,
    }
    with conn.transaction():
        conn.execute("DROP TABLE IF EXISTS recon_ours, recon_theirs")
        conn.execute(_OURS, params)
        conn.execute(_THEIRS, params)
        conn.execute("CREATE INDEX ON recon_ours (call_id); CREATE INDEX ON recon_ours (dnis, start_time)")
        conn.execute("ANALYZE recon_ours; ANALYZE recon_theirs")
        conn.execute(_MATCH_CALL_ID)
        conn.execute(_MATCH_FUZZY, params)
        cur = conn.execute(_REPORT)
        names = [d.name for d in cur.description or []]
        row = cur.fetchone()
        values = list(row.values()) if isinstance(row, dict) else list(row or [])
        report: dict[str, Any] = dict(zip(names, values, strict=True))
        cur = conn.execute(_DISPUTES, params)
        cols = [d.name for d in cur.description or []]
        report["disputes"] = [
            dict(zip(cols, list(r.values()) if isinstance(r, dict) else list(r), strict=True))
            for r in cur.fetchall()
        ]
        conn.execute(_STORE, params)
        conn.execute("DROP TABLE IF EXISTS recon_ours, recon_theirs")
    report.update(
        carrier=carrier,
        start=start.isoformat(),
        end=end.isoformat(),
        duration_difference=report["their_seconds"] - report["our_seconds"],
        cost_difference=report["their_cost"] - report["our_cost"],
    )
    return report
