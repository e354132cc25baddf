"""Toll-free data after import: view and change the RespOrg of toll-free numbers (staff only).

numbers.toll_free is a REFERENCE table (every tenant reads it, only staff write it); its audit trigger
records every change with the actor, so these functions only validate and write.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import phonenumbers
import psycopg
from psycopg.rows import dict_row
from pydantic import BaseModel

from warp.numbers.errors import InvalidNumber, NumberNotFound, NumbersForbidden
from warp.numbers.service import E164_RE, _first

RESP_ORG_RE = re.compile(r"^[A-Z0-9]{5}$")
"""A RespOrg ID as SMS/800 (Somos) assigns it: five letters or digits (entity + unit), upper case."""


class TollFree(BaseModel):
    number: str
    status: str
    resp_org_id: str
    resp_org_name: str | None
    sms800_status: str
    updated_at: datetime


def normalise_resp_org(value: str) -> str:
    """The RespOrg ID in canonical form (upper case), or InvalidNumber naming the field."""
    code = value.strip().upper()
    if not RESP_ORG_RE.fullmatch(code):
        raise InvalidNumber(f"resp_org_id: {value!r} is not a RespOrg ID (5 letters or digits, e.g. ABC01)")
    return code


def _check_name(name: str | None) -> str | None:
    if name is None:
        return None
    cleaned = " ".join(name.split())
    if not cleaned:
        return None
    if len(cleaned) > 100:
        raise InvalidNumber("resp_org_name: longer than 100 characters")
    if any(ord(c) < 32 for c in cleaned):
        raise InvalidNumber("resp_org_name: control characters are not allowed")
    return cleaned


_SELECT = (
    "SELECT i.number, i.status, t.resp_org_id, t.resp_org_name, t.sms800_status, t.updated_at "
    "FROM numbers.toll_free t JOIN numbers.inventory i ON i.id = t.inventory_id"
)


def get_toll_free(conn: psycopg.Connection[Any], number: str) -> TollFree:
    """The toll-free data of ``number`` (NumberNotFound when it has none)."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(_SELECT + " WHERE i.number = %s", (number,))
        row = cur.fetchone()
    if row is None:
        raise NumberNotFound(
            f"number {number}: no toll-free data (not a toll-free number, or no RespOrg yet)"
        )
    return TollFree(**row)


_UNSET: Any = object()

# Upsert of numbers.toll_free from EXCLUDED: with %(keep)s the name stays when the RespOrg ID does not
# change; a row that would not change is not updated (so not audited).
_UPSERT = (
    "ON CONFLICT (inventory_id) DO UPDATE SET resp_org_id = EXCLUDED.resp_org_id, "
    "resp_org_name = CASE WHEN %(keep)s AND numbers.toll_free.resp_org_id = EXCLUDED.resp_org_id "
    "THEN numbers.toll_free.resp_org_name ELSE EXCLUDED.resp_org_name END "
    "WHERE (numbers.toll_free.resp_org_id, numbers.toll_free.resp_org_name) IS DISTINCT FROM "
    "(EXCLUDED.resp_org_id, CASE WHEN %(keep)s AND numbers.toll_free.resp_org_id = EXCLUDED.resp_org_id "
    "THEN numbers.toll_free.resp_org_name ELSE EXCLUDED.resp_org_name END)"
)


def set_resp_org(
    conn: psycopg.Connection[Any],
    number: str,
    resp_org_id: str,
    *,
    resp_org_name: str | None = _UNSET,
) -> TollFree:
    """Set the RespOrg of a toll-free number of the inventory (staff only; caller's transaction).

    Creates the numbers.toll_free row when the import gave none. ``resp_org_name``: a new name, None to
    clear it; left out, the name is kept unless the RespOrg ID changes (then it is cleared: the old
    name belonged to the old RespOrg).
    """
    if not E164_RE.fullmatch(number):
        raise InvalidNumber(f"number: {number!r} is not an E.164 number")
    code = normalise_resp_org(resp_org_id)
    name = None if resp_org_name is _UNSET else _check_name(resp_org_name)
    if not _first(conn.execute("SELECT accounts.is_staff()").fetchone()):
        raise NumbersForbidden("resp_org_id: only staff may change a RespOrg")
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute("SELECT id, number_type FROM numbers.inventory WHERE number = %s FOR UPDATE", (number,))
        inv = cur.fetchone()
        if inv is None:
            raise NumberNotFound(f"number {number}: not in inventory")
        if inv["number_type"] != "TOLL_FREE":
            raise InvalidNumber(
                f"number: {number} is a {inv['number_type']}, not toll-free; only toll-free numbers have a RespOrg"
            )
        cur.execute(
            "INSERT INTO numbers.toll_free (inventory_id, resp_org_id, resp_org_name) "
            "VALUES (%(id)s, %(code)s, %(name)s) " + _UPSERT,
            {"id": inv["id"], "code": code, "name": name, "keep": resp_org_name is _UNSET},
        )
    return get_toll_free(conn, number)


@dataclass(frozen=True)
class LineError:
    line: int
    reason: str


@dataclass
class BulkResult:
    rows: int = 0
    changed: int = 0
    unchanged: int = 0
    errors: list[LineError] = field(default_factory=list)


def _normalise_number(raw: str) -> str:
    try:
        parsed = phonenumbers.parse(raw.strip(), "US")
    except phonenumbers.NumberParseException as exc:
        raise InvalidNumber(f"number: {raw!r} is not a phone number") from exc
    if not phonenumbers.is_possible_number(parsed):
        raise InvalidNumber(f"number: {raw!r} is not a possible phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def set_resp_orgs_from_csv(conn: psycopg.Connection[Any], lines: Iterable[str]) -> BulkResult:
    """Change the RespOrg of many toll-free numbers from CSV (``number,resp_org_id[,resp_org_name]``).

    All or nothing: every bad line is reported with its line number and reason, and then nothing is
    changed. With a ``resp_org_name`` column its value is set on every line (empty clears it); without
    it, names are kept where the RespOrg ID does not change (as ``set_resp_org``). Staff only.
    """
    reader = csv.DictReader(lines)
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in ("number", "resp_org_id") if c not in header]
    if missing:
        raise InvalidNumber(f"header: missing column(s) {', '.join(missing)} (line 1)")
    unknown = [h for h in header if h not in ("number", "resp_org_id", "resp_org_name")]
    if unknown:
        raise InvalidNumber(f"header: unknown column(s) {', '.join(unknown)} (line 1)")
    reader.fieldnames = header
    with_names = "resp_org_name" in header
    result = BulkResult()
    good: list[tuple[int, str, str, str | None]] = []
    seen: dict[str, int] = {}
    for row in reader:
        result.rows += 1
        line = reader.line_num
        if None in row:
            result.errors.append(LineError(line, "row: more fields than the header"))
            continue
        try:
            number = _normalise_number(row.get("number") or "")
            code = normalise_resp_org(row.get("resp_org_id") or "")
            name = _check_name(row.get("resp_org_name")) if with_names else None
        except InvalidNumber as exc:
            result.errors.append(LineError(line, str(exc)))
            continue
        if number in seen:
            result.errors.append(LineError(line, f"number: {number} already on line {seen[number]}"))
            continue
        seen[number] = line
        good.append((line, number, code, name))
    if not _first(conn.execute("SELECT accounts.is_staff()").fetchone()):
        raise NumbersForbidden("resp_org_id: only staff may change a RespOrg")
    conn.execute(
        "CREATE TEMP TABLE resp_org_changes (line integer, number text, resp_org_id text, resp_org_name text) "
        "ON COMMIT DROP"
    )
    try:
        with conn.cursor() as cur, cur.copy("COPY resp_org_changes FROM STDIN") as copy:
            for values in good:
                copy.write_row(values)
        with conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                "SELECT c.line, c.number, i.number_type FROM resp_org_changes c "
                "LEFT JOIN numbers.inventory i ON i.number = c.number "
                "WHERE i.id IS NULL OR i.number_type <> 'TOLL_FREE' ORDER BY c.line"
            )
            for r in cur.fetchall():
                reason = (
                    f"number: {r['number']} is not in inventory"
                    if r["number_type"] is None
                    else f"number: {r['number']} is a {r['number_type']}, not toll-free"
                )
                result.errors.append(LineError(r["line"], reason))
        result.errors.sort(key=lambda e: e.line)
        if result.errors:
            return result
        keep = not with_names
        cur2 = conn.execute(
            "INSERT INTO numbers.toll_free (inventory_id, resp_org_id, resp_org_name) "
            "SELECT i.id, c.resp_org_id, c.resp_org_name FROM resp_org_changes c "
            "JOIN numbers.inventory i ON i.number = c.number ORDER BY i.id " + _UPSERT,
            {"keep": keep},
        )
        result.changed = cur2.rowcount
        result.unchanged = len(good) - result.changed
        return result
    finally:
        conn.execute("DROP TABLE IF EXISTS resp_org_changes")
