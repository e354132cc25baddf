"""Enrichment (LRN, LERG, jurisdiction) and rating of CDRs, set-based.

``process`` takes every raw CDR without an enriched row, in time windows; per window a handful of
statements do all the work: the pending CDRs go to a temp table, LERG/LRN facts and the jurisdiction
(cdr.classify_jurisdiction, the same rules as cdr.jurisdiction) are joined on, the customer rate
(plan in force at start, longest prefix) and the vendor rate (chosen carrier trunk's deck row in force
at start, longest prefix) are found by joining every candidate prefix length present in the plan/deck
against them, and ONE statement inserts the enriched rows, debits prepaid balances in
billing.balance_ledger and moves billing.account_balance by the same sum (atomic: one statement).
``rerate`` recomputes existing enriched rows the same way, except those on an issued invoice.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg

from warp.cdr.errors import InvalidCdrInput
from warp.cdr.reference import LrnProvider, lookup_lrns

Progress = Callable[[int, int], None]
"""Called with (CDRs done, CDRs total)."""

LOCKED_STATUSES = ("ISSUED", "PARTIALLY_PAID", "PAID")

_PENDING_WINDOW = """
SELECT min(r.start_time), max(r.start_time), count(*)
FROM cdr.raw_cdr r
WHERE r.start_time >= %(since)s
  AND NOT EXISTS (SELECT 1 FROM cdr.enriched_cdr e WHERE e.raw_cdr_id = r.id AND e.start_time = r.start_time)
"""

_WORK_COLUMNS = """
    r.id, r.start_time, r.account_id, r.trunk_id, r.carrier_trunk_id, r.direction, r.ani, r.dnis,
    cdr.nanp_number(r.ani) AS a10, cdr.nanp_number(r.dnis) AS d10,
    ceil(r.duration)::integer AS dur, cdr.is_answered(r.sip_code, r.duration) AS answered,
    (r.start_time AT TIME ZONE 'UTC')::date AS day
"""

_WORK_PENDING = f"""
CREATE TEMP TABLE cdr_work ON COMMIT DROP AS
SELECT {_WORK_COLUMNS}
FROM cdr.raw_cdr r
WHERE r.start_time >= %(from)s AND r.start_time < %(to)s
  AND NOT EXISTS (SELECT 1 FROM cdr.enriched_cdr e WHERE e.raw_cdr_id = r.id AND e.start_time = r.start_time)
"""

# Enriched CDRs in the window that are on no issued invoice (those are reported, never changed).
_LOCKED = f"""
    EXISTS (SELECT 1 FROM billing.invoices i
            WHERE i.account_id = e.account_id AND i.status IN {LOCKED_STATUSES!r}
              AND e.start_time >= i.period_start::timestamp AT TIME ZONE 'UTC'
              AND e.start_time < (i.period_end + 1)::timestamp AT TIME ZONE 'UTC')
"""

_WORK_RERATE = f"""
CREATE TEMP TABLE cdr_work ON COMMIT DROP AS
SELECT {_WORK_COLUMNS}
FROM cdr.raw_cdr r
JOIN cdr.enriched_cdr e ON e.raw_cdr_id = r.id AND e.start_time = r.start_time
WHERE r.start_time >= %(from)s AND r.start_time < %(to)s
  AND (%(account)s::uuid IS NULL OR r.account_id = %(account)s::uuid)
  AND NOT {_LOCKED}
"""

_LOCKED_REPORT = f"""
SELECT i.invoice_number, a.ban, count(*) AS cdrs
FROM cdr.enriched_cdr e
JOIN billing.invoices i ON i.account_id = e.account_id AND i.status IN {LOCKED_STATUSES!r}
     AND e.start_time >= i.period_start::timestamp AT TIME ZONE 'UTC'
     AND e.start_time < (i.period_end + 1)::timestamp AT TIME ZONE 'UTC'
JOIN accounts.accounts a ON a.id = e.account_id
WHERE e.start_time >= %(from)s AND e.start_time < %(to)s
  AND (%(account)s::uuid IS NULL OR e.account_id = %(account)s::uuid)
GROUP BY i.invoice_number, a.ban ORDER BY a.ban, i.invoice_number
"""

_ENRICH = """
CREATE TEMP TABLE cdr_enr ON COMMIT DROP AS
SELECT w.*, arp.rate_plan_id AS plan_id,
       '+1' || cdr.nanp_number(lrn.lrn) AS lrn,
       lo.state AS origin_state, lt.state AS terminating_state, lt.lata, lt.ocn,
       cdr.classify_jurisdiction(w.d10, w.dnis, ld.country, lo.state, lt.state) AS jurisdiction
FROM cdr_work w
LEFT JOIN cdr.lrn_cache lrn ON lrn.number = w.dnis AND w.d10 IS NOT NULL
     AND (lrn.expires_at IS NULL OR lrn.expires_at > now())
LEFT JOIN cdr.lerg ld ON ld.npa = substr(w.d10, 1, 3) AND ld.nxx = substr(w.d10, 4, 3)
LEFT JOIN cdr.lerg lo ON lo.npa = substr(w.a10, 1, 3) AND lo.nxx = substr(w.a10, 4, 3) AND lo.country = 'US'
LEFT JOIN cdr.lerg lt ON lt.npa = substr(coalesce(cdr.nanp_number(lrn.lrn), w.d10), 1, 3)
     AND lt.nxx = substr(coalesce(cdr.nanp_number(lrn.lrn), w.d10), 4, 3) AND lt.country = 'US'
LEFT JOIN billing.account_rate_plans arp ON arp.account_id = w.account_id
     AND arp.effective_at <= w.start_time AND (arp.expires_at IS NULL OR arp.expires_at > w.start_time)
"""

# Prefix lengths in use (computed once per run; a plan or deck changed mid-run is covered by the
# next run, as rating reads them at the same time).
_CUSTOMER_LENGTHS_ALL = "SELECT coalesce(array_agg(DISTINCT length(prefix)), '{}') FROM billing.voice_rates"
_VENDOR_LENGTHS_ALL = "SELECT coalesce(array_agg(DISTINCT length(prefix)), '{}') FROM routing.rate_deck"

_CUSTOMER_LENGTHS = """
SELECT coalesce(array_agg(DISTINCT length(v.prefix)), '{}') FROM billing.voice_rates v
WHERE v.rate_plan_id IN (SELECT DISTINCT plan_id FROM cdr_enr WHERE plan_id IS NOT NULL)
"""

_VENDOR_LENGTHS = """
SELECT coalesce(array_agg(DISTINCT length(d.prefix)), '{}') FROM routing.rate_deck d
WHERE d.carrier_trunk_id IN (SELECT DISTINCT carrier_trunk_id FROM cdr_enr WHERE carrier_trunk_id IS NOT NULL)
"""

_CUSTOMER_RATES = """
CREATE TEMP TABLE cdr_cust ON COMMIT DROP AS
SELECT DISTINCT ON (c.id, c.start_time) c.id, c.start_time, v.prefix, v.rate, v.interstate_rate, v.intrastate_rate,
       v.indeterminate_rate, v.connection_fee, v.initial_increment, v.subsequent_increment, v.minimum_seconds
FROM (SELECT e.id, e.start_time, e.plan_id, e.day, left(substr(e.dnis, 2), n) AS p
      FROM cdr_enr e CROSS JOIN unnest(%(lengths)s::integer[]) AS n
      WHERE e.plan_id IS NOT NULL AND length(e.dnis) - 1 >= n) AS c
JOIN billing.voice_rates v ON v.rate_plan_id = c.plan_id AND v.prefix = c.p
     AND v.effective_date <= c.day AND (v.expires_date IS NULL OR v.expires_date > c.day)
ORDER BY c.id, c.start_time, length(v.prefix) DESC
"""

_VENDOR_RATES = """
CREATE TEMP TABLE cdr_vend ON COMMIT DROP AS
SELECT DISTINCT ON (c.id, c.start_time) c.id, c.start_time, d.prefix, d.rate, d.interstate_rate, d.intrastate_rate,
       d.indeterminate_rate, d.connection_fee, d.initial_increment, d.subsequent_increment
FROM (SELECT e.id, e.start_time, e.carrier_trunk_id, e.day, left(substr(e.dnis, 2), n) AS p
      FROM cdr_enr e CROSS JOIN unnest(%(lengths)s::integer[]) AS n
      WHERE e.carrier_trunk_id IS NOT NULL AND length(e.dnis) - 1 >= n) AS c
JOIN routing.rate_deck d ON d.carrier_trunk_id = c.carrier_trunk_id AND d.prefix = c.p
     AND d.effective_date <= c.day AND (d.expires_date IS NULL OR d.expires_date > c.day)
ORDER BY c.id, c.start_time, length(d.prefix) DESC
"""

# Small windows (the worker's batches): per CDR, every prefix of its destination probed at once
# through the (plan | trunk, prefix, effective_date) indexes, longest first. Exact for any prefix
# length, so the plan/deck-wide prefix-length scans (a full pass over a 3M-row deck) are not needed.
# The same answer as the bulk statements above (tests/cdr/test_cdr_rating_paths.py).
_DEST_PREFIXES = "ARRAY(SELECT left(substr(e.dnis, 2), n) FROM generate_series(1, length(e.dnis) - 1) AS n)"

_CUSTOMER_RATES_SMALL = f"""
CREATE TEMP TABLE cdr_cust ON COMMIT DROP AS
SELECT e.id, e.start_time, v.prefix, v.rate, v.interstate_rate, v.intrastate_rate, v.indeterminate_rate,
       v.connection_fee, v.initial_increment, v.subsequent_increment, v.minimum_seconds
FROM cdr_enr e
CROSS JOIN LATERAL (
    SELECT v.* FROM billing.voice_rates v
    WHERE v.rate_plan_id = e.plan_id AND v.prefix = ANY ({_DEST_PREFIXES})
      AND v.effective_date <= e.day AND (v.expires_date IS NULL OR v.expires_date > e.day)
    ORDER BY length(v.prefix) DESC LIMIT 1
) AS v
WHERE e.plan_id IS NOT NULL
"""

_VENDOR_RATES_SMALL = f"""
CREATE TEMP TABLE cdr_vend ON COMMIT DROP AS
SELECT e.id, e.start_time, d.prefix, d.rate, d.interstate_rate, d.intrastate_rate, d.indeterminate_rate,
       d.connection_fee, d.initial_increment, d.subsequent_increment
FROM cdr_enr e
CROSS JOIN LATERAL (
    SELECT d.* FROM routing.rate_deck d
    WHERE d.carrier_trunk_id = e.carrier_trunk_id AND d.prefix = ANY ({_DEST_PREFIXES})
      AND d.effective_date <= e.day AND (d.expires_date IS NULL OR d.expires_date > e.day)
    ORDER BY length(d.prefix) DESC LIMIT 1
) AS d
WHERE e.carrier_trunk_id IS NOT NULL
"""

SMALL_WINDOW = 20_000
"""Windows of at most this many CDRs use the per-CDR index look-ups; larger ones the hash joins."""

_RATED = """
CREATE TEMP TABLE cdr_rated ON COMMIT DROP AS
SELECT x.*,
       CASE WHEN x.status = 'RATED' THEN billing.billable_seconds(x.billed_dur, x.c_init, x.c_sub, x.c_min) ELSE 0 END
           AS billable_seconds,
       CASE WHEN x.status = 'RATED'
            THEN billing.call_charge(x.billed_dur, x.customer_rate, x.c_init, x.c_sub, x.c_fee, x.c_min) END
           AS customer_charge,
       CASE WHEN x.vendor_rate IS NOT NULL
            THEN billing.call_charge(x.billed_dur, x.vendor_rate, x.v_init, x.v_sub, x.v_fee) END AS vendor_cost
FROM (
    SELECT e.id, e.start_time, e.account_id, e.trunk_id, e.carrier_trunk_id, e.direction, e.ani, e.dnis, e.lrn,
           e.jurisdiction, e.origin_state, e.terminating_state, e.lata, e.ocn, e.answered, e.dur,
           CASE WHEN e.answered THEN e.dur ELSE 0 END AS billed_dur,
           c.prefix AS customer_rate_prefix,
           routing.jurisdictional_rate(c.rate, c.interstate_rate, c.intrastate_rate, c.indeterminate_rate,
               CASE e.jurisdiction WHEN 'INDETERMINATE' THEN 'BILLED_INDETERMINATE' ELSE e.jurisdiction END)
               AS customer_rate,
           c.connection_fee AS c_fee, c.initial_increment AS c_init, c.subsequent_increment AS c_sub,
           c.minimum_seconds AS c_min,
           v.prefix AS vendor_rate_prefix,
           routing.jurisdictional_rate(v.rate, v.interstate_rate, v.intrastate_rate, v.indeterminate_rate,
               CASE e.jurisdiction WHEN 'INDETERMINATE' THEN 'BILLED_INDETERMINATE' ELSE e.jurisdiction END)
               AS vendor_rate,
           v.connection_fee AS v_fee, v.initial_increment AS v_init, v.subsequent_increment AS v_sub,
           CASE WHEN e.account_id IS NULL OR e.dnis IS NULL OR e.plan_id IS NULL OR c.prefix IS NULL
                THEN 'UNRATED' ELSE 'RATED' END AS status,
           CASE WHEN e.account_id IS NULL THEN 'NO_ACCOUNT'
                WHEN e.dnis IS NULL THEN 'INVALID_DESTINATION'
                WHEN e.plan_id IS NULL THEN 'NO_RATE_PLAN'
                WHEN c.prefix IS NULL THEN 'NO_MATCHING_RATE' END AS unrated_reason,
           CASE WHEN e.carrier_trunk_id IS NULL THEN 'NO_CARRIER_TRUNK'
                WHEN e.dnis IS NULL OR v.prefix IS NULL THEN 'NO_VENDOR_RATE' END AS vendor_unrated_reason
    FROM cdr_enr e
    LEFT JOIN cdr_cust c ON c.id = e.id AND c.start_time = e.start_time
    LEFT JOIN cdr_vend v ON v.id = e.id AND v.start_time = e.start_time
) AS x
"""

_LOCK_PREPAID = """
SELECT ab.account_id FROM billing.account_balance ab
WHERE ab.billing_cycle = 'PREPAID' AND ab.account_id IN (SELECT DISTINCT account_id FROM cdr_rated)
ORDER BY ab.account_id FOR UPDATE
"""


# Prepaid postings of a rating statement: the CTE ``{rows}`` (id, account_id, amount, after = the running
# balance) becomes ledger rows of ``{entry_type}``, and each account's balance moves by their sum (CTE
# ``moved``). Shared by the insert and the re-rate statements below.
def _post_ledger(rows: str, entry_type: str, description: str) -> str:
    return f"""ledger AS (
    INSERT INTO billing.balance_ledger (account_id, entry_type, amount, balance_after, source_type, source_id,
                                        description)
    SELECT account_id, '{entry_type}', amount, after, 'CDR', id, '{description}' FROM {rows}
    RETURNING account_id, amount
),
moved AS (
    UPDATE billing.account_balance ab SET balance = ab.balance + s.total
    FROM (SELECT account_id, sum(amount) AS total FROM ledger GROUP BY account_id) AS s
    WHERE ab.account_id = s.account_id
    RETURNING s.total
)
"""


# Insert enriched rows, debit prepaid accounts and move their balances: one statement, one snapshot.
_INSERT = (
    """
WITH ins AS (
    INSERT INTO cdr.enriched_cdr (start_time, raw_cdr_id, account_id, trunk_id, carrier_trunk_id, direction, ani,
        dnis, lrn, jurisdiction, origin_state, terminating_state, terminating_lata, terminating_ocn, answered,
        duration_seconds, billable_seconds, customer_rate_prefix, customer_rate, customer_charge,
        vendor_rate_prefix, vendor_rate, vendor_cost, margin, rating_status, unrated_reason,
        vendor_unrated_reason, rated_at)
    SELECT start_time, id, account_id, trunk_id, carrier_trunk_id, direction, ani, dnis, lrn, jurisdiction,
           origin_state, terminating_state, lata, ocn, answered, dur, billable_seconds, customer_rate_prefix,
           customer_rate, customer_charge, vendor_rate_prefix, vendor_rate, vendor_cost,
           customer_charge - vendor_cost, status, unrated_reason, vendor_unrated_reason, now()
    FROM cdr_rated
    RETURNING id, start_time, account_id, customer_charge
),
debits AS (
    SELECT ins.id, ins.account_id, -ins.customer_charge AS amount, ab.balance
           + sum(-ins.customer_charge) OVER (PARTITION BY ins.account_id ORDER BY ins.start_time, ins.id) AS after
    FROM ins JOIN billing.account_balance ab ON ab.account_id = ins.account_id AND ab.billing_cycle = 'PREPAID'
    WHERE ins.customer_charge > 0
),
"""
    + _post_ledger("debits", "CHARGE", "call")
    + """SELECT (SELECT count(*) FROM ins), (SELECT coalesce(-sum(total), 0) FROM moved)
"""
)

# Re-rate: update in place; prepaid accounts get one ADJUSTMENT per changed CDR (old - new charge).
_UPDATE = (
    """
WITH old AS (
    SELECT e.id, e.start_time, e.account_id, coalesce(e.customer_charge, 0) AS charge
    FROM cdr.enriched_cdr e JOIN cdr_rated r ON r.id = e.raw_cdr_id AND r.start_time = e.start_time
),
upd AS (
    UPDATE cdr.enriched_cdr e SET lrn = r.lrn, jurisdiction = r.jurisdiction, origin_state = r.origin_state,
        terminating_state = r.terminating_state, terminating_lata = r.lata, terminating_ocn = r.ocn,
        answered = r.answered, duration_seconds = r.dur, billable_seconds = r.billable_seconds,
        customer_rate_prefix = r.customer_rate_prefix, customer_rate = r.customer_rate,
        customer_charge = r.customer_charge, vendor_rate_prefix = r.vendor_rate_prefix,
        vendor_rate = r.vendor_rate, vendor_cost = r.vendor_cost, margin = r.customer_charge - r.vendor_cost,
        rating_status = r.status, unrated_reason = r.unrated_reason,
        vendor_unrated_reason = r.vendor_unrated_reason, rated_at = now()
    FROM cdr_rated r
    WHERE e.raw_cdr_id = r.id AND e.start_time = r.start_time
    RETURNING e.id, e.start_time, e.account_id, coalesce(e.customer_charge, 0) AS charge
),
deltas AS (
    SELECT u.id, u.account_id, o.charge - u.charge AS amount,
           ab.balance + sum(o.charge - u.charge) OVER (PARTITION BY u.account_id ORDER BY u.start_time, u.id) AS after
    FROM upd u JOIN old o ON o.id = u.id AND o.start_time = u.start_time
    JOIN billing.account_balance ab ON ab.account_id = u.account_id AND ab.billing_cycle = 'PREPAID'
    WHERE o.charge <> u.charge
),
"""
    + _post_ledger("deltas", "ADJUSTMENT", "call re-rated")
    + """SELECT (SELECT count(*) FROM upd), (SELECT count(*) FROM upd u JOIN old o ON o.id = u.id
                                    AND o.start_time = u.start_time WHERE o.charge <> u.charge),
       (SELECT coalesce(sum(total), 0) FROM moved)
"""
)

# The UTC hours the rated CDRs fall in (their hourly summaries are then out of date).
_HOURS = "SELECT DISTINCT date_trunc('hour', start_time, 'UTC') FROM cdr_rated"

_SUMMARY = """
SELECT count(*) AS cdrs,
       count(*) FILTER (WHERE status = 'RATED') AS rated,
       count(*) FILTER (WHERE status = 'UNRATED') AS unrated,
       coalesce(sum(customer_charge), 0) AS revenue,
       coalesce(sum(vendor_cost), 0) AS cost,
       count(*) FILTER (WHERE vendor_unrated_reason IS NOT NULL) AS uncosted,
       coalesce(jsonb_object_agg(reason, n) FILTER (WHERE reason IS NOT NULL), '{}') AS reasons
FROM (SELECT *, count(*) OVER (PARTITION BY unrated_reason) AS n, unrated_reason AS reason FROM cdr_rated) AS x
"""


@dataclass
class RatingResult:
    """What a process/rerate run did."""

    cdrs: int = 0
    rated: int = 0
    unrated: int = 0
    uncosted: int = 0
    revenue: Any = 0
    cost: Any = 0
    prepaid_debited: Any = 0
    changed: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    locked: list[dict[str, Any]] = field(default_factory=list)
    windows: int = 0
    seconds: float = 0.0
    hours: set[datetime] = field(default_factory=set)
    lrn_looked_up: int = 0
    lrn_errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "cdrs": self.cdrs,
            "rated": self.rated,
            "unrated": self.unrated,
            "unrated_reasons": self.reasons,
            "uncosted": self.uncosted,
            "revenue": str(self.revenue),
            "cost": str(self.cost),
            "prepaid_debited": str(self.prepaid_debited),
            "changed": self.changed,
            "locked_by_invoices": self.locked,
            "hours": len(self.hours),
            "lrn_looked_up": self.lrn_looked_up,
            "lrn_errors": self.lrn_errors,
            "seconds": round(self.seconds, 3),
        }


def _drop_temps(conn: psycopg.Connection[Any]) -> None:
    conn.execute("DROP TABLE IF EXISTS cdr_work, cdr_enr, cdr_cust, cdr_vend, cdr_rated")


def _rate_work(
    conn: psycopg.Connection[Any],
    provider: LrnProvider | None,
    result: RatingResult,
    lengths: dict[str, Any] | None = None,
    small_window: int = SMALL_WINDOW,
) -> None:
    """cdr_work -> cdr_rated (enriched + rated), and the summary counts added to ``result``.

    ``lengths`` caches the prefix lengths present in the plans/decks across windows of one run.
    Windows of at most ``small_window`` CDRs find rates by index look-ups, larger ones by hash joins.
    """
    lengths = {} if lengths is None else lengths
    conn.execute("ANALYZE cdr_work")
    small = int(_v(conn.execute("SELECT count(*) FROM cdr_work").fetchone(), 0)) <= small_window
    if provider is not None:
        numbers = [
            str(_v(r, 0)) for r in conn.execute("SELECT DISTINCT dnis FROM cdr_work WHERE d10 IS NOT NULL")
        ]
        lookup = lookup_lrns(conn, numbers, provider)
        result.lrn_looked_up += lookup.asked
        result.lrn_errors.extend(lookup.errors)
    conn.execute(_ENRICH)
    conn.execute("ANALYZE cdr_enr")
    if small:
        conn.execute(_CUSTOMER_RATES_SMALL)
        conn.execute(_VENDOR_RATES_SMALL)
    else:
        if "customer" not in lengths:
            lengths["customer"] = _v(conn.execute(_CUSTOMER_LENGTHS_ALL).fetchone(), 0)
            lengths["vendor"] = _v(conn.execute(_VENDOR_LENGTHS_ALL).fetchone(), 0)
        conn.execute(_CUSTOMER_RATES, {"lengths": lengths["customer"]})
        conn.execute(_VENDOR_RATES, {"lengths": lengths["vendor"]})
    conn.execute("ANALYZE cdr_cust; ANALYZE cdr_vend")
    conn.execute(_RATED)
    row = conn.execute(_SUMMARY).fetchone()
    result.cdrs += int(_v(row, 0))
    result.rated += int(_v(row, 1))
    result.unrated += int(_v(row, 2))
    result.revenue += _v(row, 3)
    result.cost += _v(row, 4)
    result.uncosted += int(_v(row, 5))
    for reason, n in dict(_v(row, 6)).items():
        result.reasons[reason] = result.reasons.get(reason, 0) + int(n)
    result.hours.update(_v(r, 0) for r in conn.execute(_HOURS).fetchall())


def process(
    conn: psycopg.Connection[Any],
    *,
    since: datetime | None = None,
    window: timedelta | None = None,
    batch: int = 1_000_000,
    provider: LrnProvider | None = None,
    progress: Progress | None = None,
    small_window: int = SMALL_WINDOW,
) -> RatingResult:
    """Enrich and rate every pending CDR (no enriched row yet) starting at or after ``since``.

    Works in start-time windows of ``window`` (default: the span split so that a window holds about
    ``batch`` CDRs).
    """
    started = time.monotonic()
    result = RatingResult(revenue=0, cost=0, prepaid_debited=0)
    row = conn.execute(_PENDING_WINDOW, {"since": since or datetime(1970, 1, 1, tzinfo=UTC)}).fetchone()
    first, last, total = _v(row, 0), _v(row, 1), int(_v(row, 2) or 0)
    if not total:
        result.seconds = time.monotonic() - started
        return result
    conn.execute("SET LOCAL work_mem = '256MB'")
    if window is None:
        steps = max(1, -(-total // batch))
        window = max((last - first) / steps, timedelta(seconds=1)) + timedelta(microseconds=1)
    lengths: dict[str, Any] = {}
    lo = first
    while lo <= last:
        hi = lo + window
        _drop_temps(conn)
        conn.execute(_WORK_PENDING, {"from": lo, "to": hi})
        _rate_work(conn, provider, result, lengths, small_window)
        conn.execute(_LOCK_PREPAID)
        row = conn.execute(_INSERT).fetchone()
        result.prepaid_debited += _v(row, 1)
        result.windows += 1
        if progress:
            progress(result.cdrs, int(total))
        lo = hi
    _drop_temps(conn)
    result.seconds = time.monotonic() - started
    return result


def rerate(
    conn: psycopg.Connection[Any],
    *,
    start: datetime,
    end: datetime,
    account_id: UUID | None = None,
    provider: LrnProvider | None = None,
    small_window: int = SMALL_WINDOW,
) -> RatingResult:
    """Recompute rating of enriched CDRs in [start, end) (optionally one account); CDRs on issued invoices are skipped and reported."""
    if end <= start:
        raise InvalidCdrInput("to: must be after from")
    started = time.monotonic()
    result = RatingResult(revenue=0, cost=0, prepaid_debited=0)
    params = {"from": start, "to": end, "account": account_id}
    conn.execute("SET LOCAL work_mem = '256MB'")
    _drop_temps(conn)
    conn.execute(_WORK_RERATE, params)
    _rate_work(conn, provider, result, small_window=small_window)
    conn.execute(_LOCK_PREPAID)
    row = conn.execute(_UPDATE).fetchone()
    result.changed = int(_v(row, 1))
    result.prepaid_debited = -_v(row, 2)
    result.locked = [
        {"invoice_number": _v(r, 0), "ban": _v(r, 1), "cdrs": int(_v(r, 2))}
        for r in conn.execute(_LOCKED_REPORT, params).fetchall()
    ]
    _drop_temps(conn)
    result.windows = 1
    result.seconds = time.monotonic() - started
    return result


def _v(row: Any, index: int) -> Any:
    if row is None:
        return None
    if isinstance(row, dict):
        return list(row.values())[index]
    return row[index]
