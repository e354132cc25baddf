"""Numbers services: search, reserve, order, release and configure DIDs.

Plain functions taking a psycopg connection; the caller owns the transaction. Inventory writes go
through the SECURITY DEFINER functions of migration 0014 (tenants may read the inventory only).
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from pydantic import BaseModel

from warp.numbers.errors import InvalidNumber, NumberNotFound, NumbersNotAvailable, translate

NUMBER_TYPES = ("DID", "TOLL_FREE", "SHORT_CODE")
FEATURES = ("VOICE", "SMS", "MMS", "FAX", "E911")
E164_RE = re.compile(r"^\+[1-9][0-9]{1,14}$")
CONTAINS_RE = re.compile(r"^[0-9*]{1,15}$")
TRIGRAM_RUN_RE = re.compile(r"[0-9]{3}")


@contextmanager
def db_errors() -> Iterator[None]:
    """Turn database errors raised by the numbers functions/triggers into domain errors."""
    try:
        yield
    except psycopg.Error as exc:
        mapped = translate(exc)
        if mapped is None:
            raise
        raise mapped from exc


class AvailableNumber(BaseModel):
    number: str
    number_type: str
    npa: str | None
    nxx: str | None
    rate_center: str | None
    state: str | None
    lata: str | None
    features: list[str]
    resp_org_id: str | None = None
    """Toll-free numbers: the RespOrg holding the number (numbers.toll_free)."""


@dataclass(frozen=True)
class SearchFilter:
    """Filters of an available-number search (all optional, combined with AND)."""

    npa: str | None = None
    npanxx: str | None = None
    state: str | None = None
    rate_center: str | None = None
    lata: str | None = None
    contains: str | None = None
    number_type: str = "DID"
    features: tuple[str, ...] = ()


def _check_filter(f: SearchFilter) -> None:
    if f.npa is not None and not re.fullmatch(r"[2-9][0-9]{2}", f.npa):
        raise InvalidNumber("npa: three digits, first 2-9")
    if f.npanxx is not None and not re.fullmatch(r"[2-9][0-9]{5}", f.npanxx):
        raise InvalidNumber("npanxx: six digits, first 2-9")
    if f.state is not None and not re.fullmatch(r"[A-Z]{2}", f.state):
        raise InvalidNumber("state: two capital letters")
    if f.contains is not None and not CONTAINS_RE.fullmatch(f.contains):
        raise InvalidNumber("contains: 1-15 digits and * wildcards")
    if (
        f.contains is not None
        and not TRIGRAM_RUN_RE.search(f.contains)
        and not (f.npa or f.npanxx or f.rate_center)
    ):
        # Without a run of 3 digits no index can find the matches: the search would read the whole
        # inventory (hundreds of ms over a million numbers). Narrowing by area keeps it to a few ms.
        raise InvalidNumber(
            "contains: give at least 3 consecutive digits, or narrow the search with npa, npanxx or rate_center"
        )
    if f.number_type not in NUMBER_TYPES:
        raise InvalidNumber(f"number_type: one of {', '.join(NUMBER_TYPES)}")
    bad = [x for x in f.features if x not in FEATURES]
    if bad:
        raise InvalidNumber(f"features: unknown {', '.join(bad)}")


def search_available(
    conn: psycopg.Connection[Any], f: SearchFilter, limit: int = 20
) -> list[AvailableNumber]:
    """Available numbers matching ``f`` in number order (at most ``limit``)."""
    _check_filter(f)
    where: list[sql.Composable] = [sql.SQL("status = 'AVAILABLE'"), sql.SQL("number_type = %(number_type)s")]
    params: dict[str, Any] = {"number_type": f.number_type, "limit": limit}
    prefix = None
    if f.npanxx:
        prefix = "+1" + f.npanxx
    elif f.npa:
        prefix = "+1" + f.npa
    if prefix is not None:
        # E.164 numbers are '+' and digits: under COLLATE "C" a LIKE prefix is an index range and the
        # order is the numeric one, so the partial (number_type, ..., number COLLATE "C") indexes serve
        # both the filter and ORDER BY ... LIMIT without a sort (see bench/numbers_search.py).
        where.append(sql.SQL('number COLLATE "C" LIKE %(prefix)s'))
        params["prefix"] = prefix + "%"
    for column in ("state", "rate_center", "lata"):
        value = getattr(f, column)
        if value is not None:
            where.append(sql.SQL("{} = %({})s").format(sql.Identifier(column), sql.SQL(column)))
            params[column] = value
    if f.contains:
        # Served by the trigram index when selective, else by the ordered scan stopping at ``limit``.
        where.append(sql.SQL("number LIKE %(contains)s"))
        params["contains"] = "%" + f.contains.replace("*", "_") + "%"
    if f.features:
        where.append(sql.SQL("features @> %(features)s::text[]"))
        params["features"] = list(f.features)
    # With a run of 3+ digits the trigram index finds the few matches in a few ms, but the planner's
    # estimate for LIKE '%digits%' is often far too high and it walks the ordered index instead,
    # filtering tens of thousands of rows. Ordering by an expression no index provides leaves it the
    # trigram bitmap (then a top-N sort of the matches). Without such a run, the ordered scan stays.
    order = sql.SQL('number COLLATE "C"')
    if f.contains and TRIGRAM_RUN_RE.search(f.contains):
        order = sql.SQL("(number || '') COLLATE \"C\"")
    query = sql.SQL(
        "SELECT number, number_type, npa, nxx, rate_center, state, lata, features, "
        "(SELECT t.resp_org_id FROM numbers.toll_free t WHERE t.inventory_id = inventory.id) AS resp_org_id "
        "FROM numbers.inventory WHERE {} ORDER BY number_type, {} LIMIT %(limit)s"
    ).format(sql.SQL(" AND ").join(where), order)
    with conn.cursor(row_factory=dict_row) as cur:
        # Never a server-side prepared statement: psycopg prepares a query text after its 5th run, and
        # PostgreSQL may then cache a generic plan, built without the values. The best plan here depends
        # on them (a LIKE 'prefix%' becomes an index range only when the prefix is known; whether the
        # trigram index or the ordered scan wins depends on the pattern): the generic plan of npa +
        # '9*9*9*9*9' walked 760,000 index entries (450 ms) where the custom plan reads 8,000 (5 ms).
        # Planning each search costs ~0.2 ms (bench/numbers_search.py, docs/performance.md).
        cur.execute(query, params, prepare=False)
        return [AvailableNumber(**r) for r in cur.fetchall()]


def check_numbers(numbers: list[str]) -> list[str]:
    """Validate a list of E.164 numbers (deduplicated, order kept); InvalidNumber names the bad one."""
    seen: dict[str, None] = {}
    for n in numbers:
        if not E164_RE.fullmatch(n):
            raise InvalidNumber(f"numbers: {n!r} is not an E.164 number")
        seen[n] = None
    if not seen:
        raise InvalidNumber("numbers: at least one number is needed")
    return list(seen)


class Reservation(BaseModel):
    number: str
    reservation_expires_at: datetime


def reserve(
    conn: psycopg.Connection[Any],
    numbers: list[str],
    *,
    ttl: timedelta = timedelta(minutes=15),
    account_id: UUID | None = None,
) -> list[Reservation]:
    """Reserve all ``numbers`` for the account (default: the tenant) or none (NumbersNotAvailable)."""
    wanted = check_numbers(numbers)
    with db_errors(), conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT * FROM numbers.reserve_number(%s::text[], %s::interval, %s) ORDER BY number",
            (wanted, ttl, account_id),
        )
        return [Reservation(**r) for r in cur.fetchall()]


class HeldReservation(BaseModel):
    number: str
    account_id: UUID
    reserved_at: datetime
    reservation_expires_at: datetime


def list_reservations(conn: psycopg.Connection[Any]) -> list[HeldReservation]:
    """Live reservations of the tenant (and its descendants; all for staff).

    Tenants cannot read ``numbers.inventory.reserved_by_account_id`` (column privilege): another
    tenant's reservation is only ever seen as a RESERVED status.
    """
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute("SELECT * FROM numbers.my_reservations()")
        return [HeldReservation(**r) for r in cur.fetchall()]


def reserve_matching(
    conn: psycopg.Connection[Any],
    f: SearchFilter,
    quantity: int,
    *,
    ttl: timedelta = timedelta(minutes=15),
    account_id: UUID | None = None,
    attempts: int = 5,
) -> list[Reservation]:
    """Reserve ``quantity`` available numbers matching ``f`` (retrying when a racer took some).

    The first attempt takes the first matching numbers in order; after a collision, racers would all
    collide again on the same first numbers, so a retry samples ``quantity`` at random from the first
    ``10 x quantity`` matches (measured in bench/numbers_search.py).
    """
    rng = random.SystemRandom()
    for attempt in range(attempts):
        window = quantity if attempt == 0 else min(quantity * 10, 1000)
        matches = [n.number for n in search_available(conn, f, window)]
        if len(matches) < quantity:
            raise NumbersNotAvailable(f"quantity: only {len(matches)} numbers match the filter")
        found = matches if attempt == 0 else sorted(rng.sample(matches, quantity))
        try:
            with conn.transaction():
                return reserve(conn, found, ttl=ttl, account_id=account_id)
        except NumbersNotAvailable:
            continue
    raise NumbersNotAvailable("numbers: matching numbers kept being taken; try again")


def cleanup_expired_reservations(conn: psycopg.Connection[Any]) -> int:
    """Expired reservations back to AVAILABLE; returns how many."""
    row = conn.execute("SELECT numbers.cleanup_expired_reservations()").fetchone()
    return int(_first(row))


def recycle_aged_numbers(conn: psycopg.Connection[Any]) -> int:
    """AGING numbers past their aging period back to AVAILABLE; returns how many."""
    row = conn.execute("SELECT numbers.recycle_aged_numbers()").fetchone()
    return int(_first(row))


def _first(row: Any) -> Any:
    if row is None:
        return None
    if isinstance(row, dict):
        return next(iter(row.values()))
    return row[0]


class Did(BaseModel):
    id: UUID
    account_id: UUID
    number: str
    status: str
    trunk_id: UUID | None
    voice_enabled: bool
    messaging_enabled: bool
    campaign_id: UUID | None
    cnam_name: str | None
    e911_address_id: UUID | None
    e911_exempt: bool
    e911_exempt_reason: str | None
    activated_at: datetime
    created_at: datetime
    number_type: str = "DID"
    resp_org_id: str | None = None
    """Toll-free numbers: the RespOrg holding the number (numbers.toll_free)."""


DID_COLUMNS = (
    "d.id, d.account_id, d.number, d.status, d.trunk_id, d.voice_enabled, d.messaging_enabled, d.campaign_id, "
    "d.cnam_name, d.e911_address_id, d.e911_exempt, d.e911_exempt_reason, d.activated_at, d.created_at, "
    "(SELECT i.number_type FROM numbers.inventory i WHERE i.id = d.inventory_id) AS number_type, "
    "(SELECT t.resp_org_id FROM numbers.toll_free t WHERE t.inventory_id = d.inventory_id) AS resp_org_id"
)


def order(
    conn: psycopg.Connection[Any],
    numbers: list[str],
    *,
    account_id: UUID | None = None,
    e911_address_id: UUID | None = None,
) -> list[Did]:
    """Turn available or reserved numbers into DIDs of the account, all or none."""
    wanted = check_numbers(numbers)
    with db_errors(), conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"SELECT {DID_COLUMNS} FROM numbers.order_numbers(%s::text[], %s, %s) AS d ORDER BY d.number",
            (wanted, account_id, e911_address_id),
        )
        return [Did(**r) for r in cur.fetchall()]


def release(conn: psycopg.Connection[Any], number: str, *, aging: timedelta = timedelta(days=90)) -> datetime:
    """Disconnect a DID; its number ages until the returned time before it can be sold again."""
    with db_errors():
        row = conn.execute("SELECT numbers.release_did(%s, %s::interval)", (number, aging)).fetchone()
    value: datetime = _first(row)
    return value


def get_did(conn: psycopg.Connection[Any], number: str) -> Did:
    """One DID the caller can see (NumberNotFound otherwise)."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(f"SELECT {DID_COLUMNS} FROM numbers.dids d WHERE d.number = %s", (number,))
        row = cur.fetchone()
    if row is None:
        raise NumberNotFound(f"number {number}: no such DID")
    return Did(**row)


def list_dids(
    conn: psycopg.Connection[Any],
    *,
    limit: int,
    after: tuple[datetime, UUID] | None = None,
    number_prefix: str | None = None,
    voice_enabled: bool | None = None,
    messaging_enabled: bool | None = None,
    trunk_id: UUID | None = None,
) -> list[Did]:
    """DIDs the caller can see, oldest first, keyset-paginated on (created_at, id)."""
    where: list[sql.Composable] = [sql.SQL("true")]
    params: dict[str, Any] = {"limit": limit}
    if after is not None:
        where.append(sql.SQL("(d.created_at, d.id) > (%(after_at)s, %(after_id)s)"))
        params["after_at"], params["after_id"] = after
    if number_prefix is not None:
        where.append(sql.SQL("d.number LIKE %(prefix)s"))
        params["prefix"] = number_prefix.replace("%", "").replace("_", "") + "%"
    for name, value in (
        ("voice_enabled", voice_enabled),
        ("messaging_enabled", messaging_enabled),
        ("trunk_id", trunk_id),
    ):
        if value is not None:
            where.append(sql.SQL("{} = %({})s").format(sql.Identifier("d", name), sql.SQL(name)))
            params[name] = value
    query = sql.SQL(
        "SELECT {} FROM numbers.dids d WHERE {} ORDER BY d.created_at, d.id LIMIT %(limit)s"
    ).format(sql.SQL(DID_COLUMNS), sql.SQL(" AND ").join(where))
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, params)
        return [Did(**r) for r in cur.fetchall()]


EDITABLE = ("trunk_id", "voice_enabled", "messaging_enabled", "campaign_id", "cnam_name", "e911_address_id")


def update_did(conn: psycopg.Connection[Any], number: str, changes: dict[str, Any]) -> Did:
    """Change a DID's configuration. ``e911_exempt_reason`` (text) exempts it from E911, None lifts it."""
    get_did(conn, number)
    sets: list[sql.Composable] = []
    params: dict[str, Any] = {"number": number}
    for key, value in changes.items():
        if key in EDITABLE:
            sets.append(sql.SQL("{} = %({})s").format(sql.Identifier(key), sql.SQL(key)))
            params[key] = value
        elif key == "e911_exempt_reason":
            if value is not None and not str(value).strip():
                raise InvalidNumber("e911_exempt_reason: give a reason for the exemption")
            sets.append(sql.SQL("e911_exempt = %(exempt)s, e911_exempt_reason = %(reason)s"))
            params["exempt"] = value is not None
            params["reason"] = value
        else:
            raise InvalidNumber(f"{key}: not an editable DID field")
    if sets:
        query = sql.SQL("UPDATE numbers.dids SET {} WHERE number = %(number)s").format(
            sql.SQL(", ").join(sets)
        )
        with db_errors():
            conn.execute(query, params)
    return get_did(conn, number)
