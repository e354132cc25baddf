"""LERG and LRN reference data: CSV imports (COPY into staging, set-based checks) and LRN look-ups.

An LRN look-up asks the cache first; numbers missing (or expired) are asked of an ``LrnProvider``
(the vendor_mgmt service provider with capability ``lrn_lookup``), and the answers are cached with a TTL.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

import psycopg
from psycopg import sql

from warp.cdr.errors import ImportRefused, InvalidCdrInput
from warp.db import csvcopy
from warp.errors import WarpError

MAX_REPORTED = 1000


@dataclass
class ReferenceImport:
    """What a LERG or LRN import did."""

    kind: str
    file: str
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    problems: list[tuple[int, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "file": self.file,
            "rows": self.rows,
            "inserted": self.inserted,
            "updated": self.updated,
            "problems": [{"line": line, "error": msg} for line, msg in self.problems],
        }


def _stage(
    conn: psycopg.Connection[Any],
    table: str,
    path: Path,
    required: tuple[str, ...],
    optional: tuple[str, ...],
) -> tuple[list[str], list[tuple[int, str]]]:
    if not path.is_file():
        raise InvalidCdrInput(f"{path}: no such file")
    names = csvcopy.header(path)
    known = (*required, *optional)
    problems = [f"missing required column {c}" for c in required if c not in names]
    problems += [f"unknown column {c} (known: {', '.join(known)})" for c in names if c not in known]
    if len(set(names)) != len(names):
        problems.append("a column is given twice")
    if problems:
        raise ImportRefused(f"{path.name}: line 1: " + "; ".join(problems), [(1, p) for p in problems])
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table)))
    conn.execute(
        sql.SQL(
            "CREATE TEMP TABLE {} (row_no bigint GENERATED ALWAYS AS IDENTITY, src_line bigint, {}) ON COMMIT DROP"
        ).format(
            sql.Identifier(table),
            sql.SQL(", ").join(sql.SQL("{} text").format(sql.Identifier(c)) for c in known),
        )
    )
    return names, csvcopy.stage_csv(conn, table, path, names)


def _refuse_or_drop(
    conn: psycopg.Connection[Any], table: str, path: Path, problems: list[tuple[int, str]], skip_bad: bool
) -> None:
    problems.sort()
    if problems and not skip_bad:
        shown = "\n".join(f"  line {line}: {msg}" for line, msg in problems[:MAX_REPORTED])
        raise ImportRefused(
            f"{path.name}: {len({p[0] for p in problems})} bad line(s), nothing loaded "
            f"(use --skip-bad to load the good lines):\n{shown}",
            problems,
        )
    if problems:
        conn.execute(
            sql.SQL("DELETE FROM {} WHERE coalesce(src_line, row_no + 1) = ANY(%s)").format(
                sql.Identifier(table)
            ),
            ([line for line, _ in problems],),
        )


_LERG_CHECK = """
SELECT line, problem FROM (
    SELECT coalesce(src_line, row_no + 1) AS line, unnest(ARRAY[
        CASE WHEN btrim(npa) !~ '^[2-9][0-9]{2}$' OR npa IS NULL THEN 'npa: ' || coalesce(npa, '') || ' is not 3 digits (2-9 first)' END,
        CASE WHEN btrim(nxx) !~ '^[0-9]{3}$' OR nxx IS NULL THEN 'nxx: ' || coalesce(nxx, '') || ' is not 3 digits' END,
        CASE WHEN nullif(btrim(state), '') !~ '^[A-Za-z]{2}$' THEN 'state: ' || state || ' is not a 2-letter code' END,
        CASE WHEN length(btrim(lata)) > 5 THEN 'lata: longer than 5 characters' END,
        CASE WHEN length(btrim(ocn)) > 4 THEN 'ocn: longer than 4 characters' END,
        CASE WHEN length(btrim(rate_center)) > 64 THEN 'rate_center: longer than 64 characters' END,
        CASE WHEN nullif(btrim(country), '') !~ '^[A-Za-z]{2}$' THEN 'country: ' || country || ' is not a 2-letter code' END,
        CASE WHEN length(btrim(company)) > 200 THEN 'company: longer than 200 characters' END,
        CASE WHEN count(*) OVER (PARTITION BY btrim(npa), btrim(nxx)) > 1 THEN 'npa-nxx: ' || btrim(npa) || '-' || btrim(nxx) || ' appears more than once in the file' END
    ]) AS problem
    FROM lerg_stage
) AS p WHERE problem IS NOT NULL ORDER BY line
"""

_LERG_UPSERT = """
INSERT INTO cdr.lerg AS l (npa, nxx, state, lata, ocn, rate_center, country, company)
SELECT btrim(npa), btrim(nxx), upper(nullif(btrim(state), '')), nullif(btrim(lata), ''), nullif(btrim(ocn), ''),
       nullif(btrim(rate_center), ''), coalesce(upper(nullif(btrim(country), '')), 'US'), nullif(btrim(company), '')
FROM lerg_stage
ON CONFLICT ON CONSTRAINT lerg_npa_nxx_key DO UPDATE SET
    state = EXCLUDED.state, lata = EXCLUDED.lata, ocn = EXCLUDED.ocn, rate_center = EXCLUDED.rate_center,
    country = EXCLUDED.country, company = EXCLUDED.company
RETURNING (xmax = 0) AS inserted
"""


def import_lerg(conn: psycopg.Connection[Any], path: Path, *, skip_bad: bool = False) -> ReferenceImport:
    """Load ``npa,nxx,state,lata,ocn,rate_center[,country][,company]``; existing NPA-NXX rows are updated."""
    result = ReferenceImport(kind="lerg", file=path.name)
    with conn.transaction():
        _, problems = _stage(
            conn,
            "lerg_stage",
            path,
            ("npa", "nxx", "state", "lata", "ocn", "rate_center"),
            ("country", "company"),
        )
        problems += [(int(r[0]), str(r[1])) for r in conn.execute(_LERG_CHECK).fetchall()]
        result.rows = _count(conn, "lerg_stage") + len({p[0] for p in problems if p[0]})
        _refuse_or_drop(conn, "lerg_stage", path, problems, skip_bad)
        flags = [bool(_first(r)) for r in conn.execute(_LERG_UPSERT).fetchall()]
        result.inserted = sum(flags)
        result.updated = len(flags) - result.inserted
        result.problems = problems[:MAX_REPORTED]
    return result


_LRN_CHECK = """
SELECT line, problem FROM (
    SELECT coalesce(src_line, row_no + 1) AS line, unnest(ARRAY[
        CASE WHEN cdr.e164(number) IS NULL THEN 'number: ' || coalesce(number, '') || ' is not a phone number' END,
        CASE WHEN nullif(btrim(lrn), '') IS NOT NULL AND cdr.nanp_number(cdr.e164(lrn)) IS NULL
             THEN 'lrn: ' || lrn || ' is not a 10-digit NANP LRN' END,
        CASE WHEN count(*) OVER (PARTITION BY cdr.e164(number)) > 1 THEN 'number: ' || number || ' appears more than once in the file' END
    ]) AS problem
    FROM lrn_stage
) AS p WHERE problem IS NOT NULL ORDER BY line
"""

_LRN_UPSERT = """
INSERT INTO cdr.lrn_cache AS c (number, lrn, source, looked_up_at, expires_at)
SELECT cdr.e164(number), '+1' || cdr.nanp_number(cdr.e164(nullif(btrim(lrn), ''))), 'IMPORT', now(), NULL
FROM lrn_stage
ON CONFLICT ON CONSTRAINT lrn_cache_number_key DO UPDATE SET
    lrn = EXCLUDED.lrn, source = 'IMPORT', service_provider_id = NULL, looked_up_at = now(), expires_at = NULL
RETURNING (xmax = 0) AS inserted
"""


def import_lrn(conn: psycopg.Connection[Any], path: Path, *, skip_bad: bool = False) -> ReferenceImport:
    """Load ``number,lrn`` into the LRN cache (no expiry); an empty lrn records "not ported"."""
    result = ReferenceImport(kind="lrn", file=path.name)
    with conn.transaction():
        _, problems = _stage(conn, "lrn_stage", path, ("number", "lrn"), ())
        problems += [(int(r[0]), str(r[1])) for r in conn.execute(_LRN_CHECK).fetchall()]
        result.rows = _count(conn, "lrn_stage") + len({p[0] for p in problems if p[0]})
        _refuse_or_drop(conn, "lrn_stage", path, problems, skip_bad)
        flags = [bool(_first(r)) for r in conn.execute(_LRN_UPSERT).fetchall()]
        result.inserted = sum(flags)
        result.updated = len(flags) - result.inserted
        result.problems = problems[:MAX_REPORTED]
    return result


# --- LRN look-ups ---------------------------------------------------------------------------------


class LrnProvider(Protocol):
    """An LNP data source (an LRN "dip"): E.164 numbers in, LRN (E.164) or None (not ported) out."""

    name: str

    def lookup(self, numbers: list[str]) -> Mapping[str, str | None]:
        """Answers for the numbers the provider knows; numbers it cannot answer are left out."""
        ...


class LocalLrnProvider:
    """An in-memory provider for tests and the demo (ported numbers given up front)."""

    def __init__(self, ported: Mapping[str, str] | None = None, name: str = "local") -> None:
        self.name = name
        self.ported = dict(ported or {})
        self.calls: list[list[str]] = []

    def lookup(self, numbers: list[str]) -> Mapping[str, str | None]:
        self.calls.append(list(numbers))
        return {n: self.ported.get(n) for n in numbers}


DEFAULT_TTL = timedelta(days=7)
LOOKUP_CHUNK = 5000
"""Numbers per provider request."""

PROVIDER_ERRORS: tuple[type[BaseException], ...] = (WarpError, OSError, TimeoutError)
"""What a failing provider may raise (failover exhausted, vendor error, network)."""


@dataclass
class LrnLookup:
    """The answer of :func:`lookup_lrns`: LRN per number, and what the provider was asked."""

    lrns: dict[str, str | None] = field(default_factory=dict)
    cached: int = 0
    asked: int = 0
    answered: int = 0
    providers: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def lookup_lrns(
    conn: psycopg.Connection[Any],
    numbers: Iterable[str],
    provider: LrnProvider | None,
    *,
    ttl: timedelta = DEFAULT_TTL,
    provider_id: Any = None,
    chunk: int = LOOKUP_CHUNK,
    raise_errors: bool = False,
) -> LrnLookup:
    """LRNs of NANP ``numbers``: from the cache when present and unexpired, else from ``provider`` (then cached).

    The provider is asked in chunks of ``chunk`` numbers; each answer is cached (with the id of the
    service provider that gave it, when the provider tells: ``last_provider_id``) and expires after
    ``ttl``. When the provider fails (every registry provider down), the numbers it could not answer
    stay unresolved, the error is returned in ``errors`` (or raised with ``raise_errors``), and
    rating goes on with the destination's own NPA-NXX.
    """
    out = LrnLookup()
    wanted = sorted({n for n in numbers if n and n.startswith("+1")})
    if not wanted:
        return out
    rows = conn.execute(
        "SELECT number, lrn FROM cdr.lrn_cache WHERE number = ANY(%s) AND (expires_at IS NULL OR expires_at > now())",
        (wanted,),
    ).fetchall()
    out.lrns = {str(_first(r)): _second(r) for r in rows}
    out.cached = len(out.lrns)
    missing = [n for n in wanted if n not in out.lrns]
    if not missing or provider is None:
        return out
    for i in range(0, len(missing), chunk):
        part = missing[i : i + chunk]
        out.asked += len(part)
        try:
            answer = provider.lookup(part)
        except PROVIDER_ERRORS as exc:
            if raise_errors:
                raise
            out.errors.append(getattr(exc, "message", None) or str(exc) or type(exc).__name__)
            break
        asked = set(part)
        answers = {n: lrn for n, lrn in answer.items() if n in asked}
        used = getattr(provider, "last_provider", None)
        if used and used not in out.providers:
            out.providers.append(str(used))
        if answers:
            conn.execute(
                "INSERT INTO cdr.lrn_cache AS c (number, lrn, source, service_provider_id, looked_up_at, expires_at) "
                "SELECT n, l, 'PROVIDER', %s, now(), now() + %s FROM unnest(%s::text[], %s::text[]) AS u(n, l) "
                "ON CONFLICT ON CONSTRAINT lrn_cache_number_key DO UPDATE SET lrn = EXCLUDED.lrn, source = 'PROVIDER', "
                "service_provider_id = EXCLUDED.service_provider_id, looked_up_at = now(), expires_at = EXCLUDED.expires_at",
                (
                    getattr(provider, "last_provider_id", None) or provider_id,
                    ttl,
                    list(answers),
                    list(answers.values()),
                ),
            )
            out.lrns.update(answers)
            out.answered += len(answers)
    return out


def resolve_lrns(
    conn: psycopg.Connection[Any],
    numbers: Iterable[str],
    provider: LrnProvider | None,
    *,
    ttl: timedelta = DEFAULT_TTL,
    provider_id: Any = None,
) -> dict[str, str | None]:
    """LRNs of NANP ``numbers`` (cache, then ``provider``); a provider failure is raised."""
    return lookup_lrns(conn, numbers, provider, ttl=ttl, provider_id=provider_id, raise_errors=True).lrns


class RegistryLrnProvider:
    """The enabled ``lrn_lookup`` service providers of vendor_mgmt, in failover order.

    Each request goes to the providers by priority (``vendor_mgmt.get_providers_by_capability``)
    until one answers; a failing provider gets a DOWN health record and the next is tried
    (:func:`warp.vendors.service.with_failover`). ``last_provider``/``last_provider_id`` name the one
    that answered, so the cache records where each LRN came from.
    """

    name = "registry"

    def __init__(self, conn: psycopg.Connection[Any], secrets: Any = None) -> None:
        from warp.vendors.secrets import SecretResolver

        self.conn = conn
        self.secrets = secrets if secrets is not None else SecretResolver()
        self.last_provider: str | None = None
        self.last_provider_id: Any = None

    def lookup(self, numbers: list[str]) -> Mapping[str, str | None]:
        from warp.vendors import service

        answer, used = service.with_failover(
            self.conn, "lrn_lookup", lambda p: p.lookup(numbers), self.secrets
        )
        self.last_provider = used
        row = self.conn.execute(
            "SELECT id FROM vendor_mgmt.service_providers WHERE name = %s", (used,)
        ).fetchone()
        self.last_provider_id = _first(row)
        return dict(answer)


def registry_lrn_provider(conn: psycopg.Connection[Any], secrets: Any = None) -> RegistryLrnProvider | None:
    """A :class:`RegistryLrnProvider` when at least one ``lrn_lookup`` provider is enabled, else None."""
    row = conn.execute(
        "SELECT count(*) FROM vendor_mgmt.get_providers_by_capability('lrn_lookup')"
    ).fetchone()
    return RegistryLrnProvider(conn, secrets) if _first(row) else None


def _count(conn: psycopg.Connection[Any], table: str) -> int:
    return int(
        _first(conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone())
    )


def _first(row: Any) -> Any:
    if row is None:
        return None
    return next(iter(row.values())) if isinstance(row, dict) else row[0]


def _second(row: Any) -> Any:
    return list(row.values())[1] if isinstance(row, dict) else row[1]
