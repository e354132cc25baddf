"""Customer rate plans: CSV import of voice, messaging and number rates and the plan in force for an account.

The kind of file is told by its header (a ``prefix`` column: voice; ``message_type``: messaging;
``number_type``: numbers) or given explicitly; messaging and number files go to
:mod:`warp.billing.plan_rates`.

``import_plan`` follows the carrier rate deck conventions (``warp.routing.rate_import``): a
header-named CSV streamed with COPY into the same staging table, the same one-pass field checks and
overlap check (reused, not copied), every bad line reported with its number; then a merge into
billing.voice_rates: for each prefix in the file, the plan's rows in force at (or starting after) the
new row's effective date are closed (or dropped). ``minimum_seconds`` is the one extra column.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from warp.billing import plan_rates
from warp.billing.errors import RatePlanImportError, RatePlanNotFound
from warp.db import csvcopy
from warp.routing import rate_import

EXTRA = ("minimum_seconds",)
KNOWN = tuple(c for c in rate_import.KNOWN if c != "country_code") + EXTRA
STAGE_COLUMNS = (*rate_import.KNOWN, *EXTRA)
MAX_REPORTED = rate_import.MAX_REPORTED

_MIN_CHECK = """
SELECT coalesce(src_line, row_no + 1), 'minimum_seconds: ' || minimum_seconds || ' is not a whole number of seconds'
FROM rate_import_stage
WHERE nullif(btrim(minimum_seconds), '') !~ '^[0-9]{1,6}$'
"""


@dataclass
class PlanImportResult:
    """What a rate plan import did."""

    plan: str
    kind: str = "voice"
    created: bool = False
    rows: int = 0
    loaded: int = 0
    closed: int = 0
    superseded: int = 0
    problems: list[tuple[int, str]] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "plan": self.plan,
            "kind": self.kind,
            "created": self.created,
            "rows": self.rows,
            "loaded": self.loaded,
            "closed": self.closed,
            "superseded": self.superseded,
            "problems": [{"line": line, "error": msg} for line, msg in self.problems],
            "seconds": round(self.seconds, 3),
        }


def _header(path: Path) -> list[str]:
    names = csvcopy.header(path)
    if not names:
        raise RatePlanImportError(f"{path.name}: line 1: missing header (need at least prefix and rate)")
    problems = csvcopy.column_problems(names, KNOWN)
    if "prefix" not in names:
        problems.append("missing required column prefix")
    if not any(c in names for c in rate_import.RATE_COLUMNS):
        problems.append("missing column rate (or interstate_rate/intrastate_rate/indeterminate_rate)")
    if problems:
        raise RatePlanImportError(f"{path.name}: line 1: " + "; ".join(problems), [(1, p) for p in problems])
    return names


def _plan(conn: psycopg.Connection[Any], name: str, create: bool) -> tuple[UUID, bool]:
    row = conn.execute("SELECT id FROM billing.rate_plans WHERE name = %s FOR UPDATE", (name,)).fetchone()
    if row is not None:
        return _v(row), False
    if not create:
        raise RatePlanNotFound(f"plan: no rate plan named {name!r}")
    row = conn.execute(
        "INSERT INTO billing.rate_plans (name, description) VALUES (%s, %s) RETURNING id",
        (name, "imported with warp rate-plans import"),
    ).fetchone()
    return _v(row), True


def import_plan(
    conn: psycopg.Connection[Any],
    *,
    plan: str,
    path: Path,
    create: bool = True,
    today: date | None = None,
    progress: csvcopy.Progress | None = None,
    kind: str | None = None,
) -> PlanImportResult:
    """Load the voice, messaging or number rates of ``plan`` (created when missing) from a CSV, all or nothing.

    ``kind`` (voice | messaging | numbers) defaults to what the header says.
    """
    started = time.monotonic()
    if not path.is_file():
        raise RatePlanImportError(f"{path}: no such file")
    today = today or datetime.now(UTC).date()
    if kind is None:
        kind = plan_rates.detect_kind(csvcopy.header(path))
        if kind is None:
            raise RatePlanImportError(
                f"{path.name}: line 1: cannot tell the kind of rates: the header needs prefix (voice), "
                "message_type (messaging) or number_type (numbers)",
                [(1, "no prefix, message_type or number_type column")],
            )
    if kind not in plan_rates.KINDS:
        raise RatePlanImportError(f"kind: {kind!r} is not one of {', '.join(plan_rates.KINDS)}")
    if kind != "voice":
        return _import_other(
            conn, plan=plan, path=path, create=create, today=today, kind=kind, started=started
        )
    columns = _header(path)
    with conn.transaction():
        plan_id, created = _plan(conn, plan, create)
        result = PlanImportResult(plan=plan, created=created)
        conn.execute(
            sql.SQL(
                "CREATE TEMP TABLE rate_import_stage (row_no bigint GENERATED ALWAYS AS IDENTITY, "
                "src_line bigint, {}) ON COMMIT DROP"
            ).format(sql.SQL(", ").join(sql.SQL("{} text").format(sql.Identifier(c)) for c in STAGE_COLUMNS))
        )
        problems = csvcopy.stage_csv(conn, "rate_import_stage", path, columns, progress)
        staged = conn.execute("SELECT count(*) FROM rate_import_stage").fetchone()
        result.rows = int(_v(staged)) + len(problems)
        params = {"today": today, "offset": 0}
        problems += rate_import.field_problems(conn, "rate_import_stage", params)
        problems += [(int(_v(r, 0)), str(_v(r, 1))) for r in conn.execute(_MIN_CHECK)]
        if not problems:
            rate_import.type_staged_lines(conn, params)
            conn.execute(
                "ALTER TABLE rate_import_rows ADD COLUMN minimum_seconds integer NOT NULL DEFAULT 0; "
                "UPDATE rate_import_rows r SET minimum_seconds = nullif(btrim(s.minimum_seconds), '')::integer "
                "FROM rate_import_stage s WHERE coalesce(s.src_line, s.row_no + 1) = r.line "
                "AND nullif(btrim(s.minimum_seconds), '') IS NOT NULL"
            )
            problems += rate_import.overlaps(conn, "rate_import_rows")
        if problems:
            problems.sort()
            shown = "\n".join(f"  line {line}: {msg}" for line, msg in problems[:MAX_REPORTED])
            raise RatePlanImportError(
                f"{path.name}: {len({p[0] for p in problems})} bad line(s), nothing loaded:\n{shown}",
                problems,
            )
        ids = {"plan": plan_id}
        firsts = "(SELECT prefix, min(effective_date) AS starts FROM rate_import_rows GROUP BY prefix) AS n"
        result.superseded = conn.execute(
            f"DELETE FROM billing.voice_rates v USING {firsts} WHERE v.rate_plan_id = %(plan)s "
            "AND v.prefix = n.prefix AND v.effective_date >= n.starts",
            ids,
        ).rowcount
        result.closed = conn.execute(
            f"UPDATE billing.voice_rates v SET expires_date = n.starts FROM {firsts} "
            "WHERE v.rate_plan_id = %(plan)s AND v.prefix = n.prefix AND v.effective_date < n.starts "
            "AND (v.expires_date IS NULL OR v.expires_date > n.starts)",
            ids,
        ).rowcount
        result.loaded = conn.execute(
            "INSERT INTO billing.voice_rates (rate_plan_id, prefix, destination_name, rate, interstate_rate, "
            "intrastate_rate, indeterminate_rate, connection_fee, initial_increment, subsequent_increment, "
            "minimum_seconds, effective_date, expires_date) "
            "SELECT %(plan)s, prefix, destination_name, rate, interstate_rate, intrastate_rate, "
            "indeterminate_rate, connection_fee, initial_increment, subsequent_increment, minimum_seconds, "
            "effective_date, expires_date FROM rate_import_rows",
            ids,
        ).rowcount
    result.seconds = time.monotonic() - started
    return result


def _import_other(
    conn: psycopg.Connection[Any],
    *,
    plan: str,
    path: Path,
    create: bool,
    today: date,
    kind: str,
    started: float,
) -> PlanImportResult:
    spec = plan_rates.SPECS[kind]
    rows, problems = plan_rates.parse(spec, path, today)
    if problems:
        problems.sort()
        shown = "\n".join(f"  line {line}: {msg}" for line, msg in problems[:MAX_REPORTED])
        raise RatePlanImportError(
            f"{path.name}: {len({p[0] for p in problems})} bad line(s), nothing loaded:\n{shown}", problems
        )
    with conn.transaction():
        plan_id, created = _plan(conn, plan, create)
        loaded, closed, superseded = plan_rates.merge(conn, spec, plan_id, [values for _, values in rows])
    return PlanImportResult(
        plan=plan,
        kind=kind,
        created=created,
        rows=len(rows),
        loaded=loaded,
        closed=closed,
        superseded=superseded,
        seconds=time.monotonic() - started,
    )


def assign_plan(
    conn: psycopg.Connection[Any],
    account_id: UUID,
    plan: str,
    effective_at: datetime,
    expires_at: datetime | None = None,
) -> UUID:
    """Put ``plan`` in force for the account over [effective_at, expires_at); overlaps are refused."""
    from warp.billing.errors import OverlappingRatePlan

    plan_id, _ = _plan(conn, plan, create=False)
    try:
        with conn.transaction():
            row = conn.execute(
                "INSERT INTO billing.account_rate_plans (account_id, rate_plan_id, effective_at, expires_at) "
                "VALUES (%s, %s, %s, %s) RETURNING id",
                (account_id, plan_id, effective_at, expires_at),
            ).fetchone()
    except psycopg.errors.ExclusionViolation as exc:
        raise OverlappingRatePlan(
            f"effective_at: account {account_id} already has a rate plan in force in that period"
        ) from exc
    return UUID(str(_v(row)))


def current_plan(
    conn: psycopg.Connection[Any], account_id: UUID, *, prefix: str | None = None, limit: int = 1000
) -> dict[str, Any]:
    """The plan in force now for the account with today's voice, messaging and number prices."""
    cur = conn.cursor(row_factory=dict_row)
    plan = cur.execute(
        "SELECT p.id, p.name, p.description, p.currency, ap.effective_at, ap.expires_at "
        "FROM billing.account_rate_plans ap JOIN billing.rate_plans p ON p.id = ap.rate_plan_id "
        "WHERE ap.account_id = %s AND ap.effective_at <= now() AND (ap.expires_at IS NULL OR ap.expires_at > now())",
        (account_id,),
    ).fetchone()
    if plan is None:
        raise RatePlanNotFound("rate plan: no rate plan is in force for this account")
    today = "effective_date <= CURRENT_DATE AND (expires_date IS NULL OR expires_date > CURRENT_DATE)"
    voice = cur.execute(
        "SELECT prefix, destination_name, rate, interstate_rate, intrastate_rate, indeterminate_rate, "
        "connection_fee, initial_increment, subsequent_increment, minimum_seconds, effective_date, expires_date "
        f"FROM billing.voice_rates WHERE rate_plan_id = %s AND {today} "
        "AND (%s::text IS NULL OR prefix LIKE %s::text || '%%') ORDER BY prefix LIMIT %s",
        (plan["id"], prefix, prefix, limit),
    ).fetchall()
    messaging = cur.execute(
        "SELECT message_type, direction, destination_type, rate, effective_date, expires_date "
        f"FROM billing.messaging_rates WHERE rate_plan_id = %s AND {today} "
        "ORDER BY message_type, direction, destination_type",
        (plan["id"],),
    ).fetchall()
    numbers = cur.execute(
        "SELECT number_type, monthly_charge, setup_charge, port_in_fee, effective_date, expires_date "
        f"FROM billing.number_rates WHERE rate_plan_id = %s AND {today} ORDER BY number_type",
        (plan["id"],),
    ).fetchall()
    return {**plan, "voice_rates": voice, "messaging_rates": messaging, "number_rates": numbers}


def _v(row: Any, index: int = 0) -> Any:
    if row is None:
        return None
    if isinstance(row, dict):
        return list(row.values())[index]
    return row[index]
