"""Toll-free data after import: view and change the RespOrg of toll-free numbers (staff only).

numbers.toll_free is a REFERENCE table (every tenant reads it, only staff write it); its audit trigger
records every change with the actor, so these functions only validate and write.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

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
            "INSERT INTO numbers.toll_free (inventory_id, resp_org_id, resp_org_name) VALUES (%(id)s, %(code)s, %(name)s) "
            "ON CONFLICT (inventory_id) DO UPDATE SET resp_org_id = EXCLUDED.resp_org_id, "
            "resp_org_name = CASE WHEN %(keep)s AND numbers.toll_free.resp_org_id = EXCLUDED.resp_org_id "
            "THEN numbers.toll_free.resp_org_name ELSE EXCLUDED.resp_org_name END "
            "WHERE (numbers.toll_free.resp_org_id, numbers.toll_free.resp_org_name) IS DISTINCT FROM "
            "(EXCLUDED.resp_org_id, CASE WHEN %(keep)s AND numbers.toll_free.resp_org_id = EXCLUDED.resp_org_id "
            "THEN numbers.toll_free.resp_org_name ELSE EXCLUDED.resp_org_name END)",
            {"id": inv["id"], "code": code, "name": name, "keep": resp_org_name is _UNSET},
        )
    return get_toll_free(conn, number)
