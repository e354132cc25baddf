"""Inventory import from CSV: validate every row, load the good ones in one COPY, report the bad ones."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import phonenumbers
import psycopg

REQUIRED = ("number", "number_type", "npa", "nxx", "rate_center", "state", "lata", "ocn")
OPTIONAL = ("features", "country", "resp_org", "resp_org_name")
RESP_ORG_RE = re.compile(r"^[A-Z0-9]{5}$")
TOLL_FREE_NPAS = frozenset({"800", "833", "844", "855", "866", "877", "888"})
FEATURES = frozenset({"VOICE", "SMS", "MMS", "FAX", "E911"})
BATCH = 5000


@dataclass(frozen=True)
class RowError:
    line: int
    reason: str


@dataclass
class ImportResult:
    rows: int = 0
    inserted: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)


@dataclass(frozen=True)
class _Good:
    line: int
    values: tuple[Any, ...]


class ImportFileError(Exception):
    """The file cannot be imported at all (missing header columns)."""


def _normalise(raw: str, number_type: str) -> tuple[str, str | None, str | None]:
    """(E.164 number, npa, nxx) or ValueError naming the problem."""
    try:
        parsed = phonenumbers.parse(raw.strip(), "US")
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"number: {raw!r} is not a phone number ({exc._msg})") from exc
    if number_type == "SHORT_CODE":
        raise ValueError("number_type: short codes are not imported from number files")
    if not phonenumbers.is_possible_number(parsed):
        raise ValueError(f"number: {raw!r} is not a possible phone number")
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    npa = nxx = None
    if parsed.country_code == 1:
        national = str(parsed.national_number)
        if len(national) != 10 or national[0] in "01" or national[3] in "01":
            raise ValueError(
                f"number: {raw!r} is not a valid NANP number (NPA-NXX-XXXX, NPA and NXX start 2-9)"
            )
        npa, nxx = national[:3], national[3:6]
    return e164, npa, nxx


def _check_row(row: dict[str, str], extra: list[str]) -> tuple[Any, ...]:
    number_type = (row.get("number_type") or "DID").strip().upper()
    if number_type not in ("DID", "TOLL_FREE"):
        raise ValueError(f"number_type: {number_type!r} is not DID or TOLL_FREE")
    number, npa, nxx = _normalise(row.get("number") or "", number_type)
    given_npa, given_nxx = (row.get("npa") or "").strip(), (row.get("nxx") or "").strip()
    if given_npa and given_npa != npa:
        raise ValueError(f"npa: {given_npa!r} does not match the number {number}")
    if given_nxx and given_nxx != nxx:
        raise ValueError(f"nxx: {given_nxx!r} does not match the number {number}")
    if number_type == "TOLL_FREE" and npa not in TOLL_FREE_NPAS:
        raise ValueError(f"number_type: {number} is not a toll-free number")
    if number_type == "DID" and npa in TOLL_FREE_NPAS:
        raise ValueError(f"number_type: {number} is toll-free, not a DID")
    state = (row.get("state") or "").strip().upper() or None
    if state is not None and (len(state) != 2 or not state.isalpha() or not state.isascii()):
        raise ValueError(f"state: {state!r} is not a two-letter code")
    lata = (row.get("lata") or "").strip() or None
    if lata is not None and not (lata.isdigit() and len(lata) <= 5):
        raise ValueError(f"lata: {lata!r} is not up to 5 digits")
    ocn = (row.get("ocn") or "").strip().upper() or None
    if ocn is not None and (len(ocn) != 4 or not ocn.isalnum()):
        raise ValueError(f"ocn: {ocn!r} is not a 4-character OCN")
    rate_center = (row.get("rate_center") or "").strip() or None
    if rate_center is not None and len(rate_center) > 64:
        raise ValueError("rate_center: longer than 64 characters")
    features_raw = (row.get("features") or "").strip()
    if features_raw:
        features = sorted({f.strip().upper() for f in features_raw.replace(";", ",").split(",") if f.strip()})
        unknown = [f for f in features if f not in FEATURES]
        if unknown:
            raise ValueError(f"features: unknown {', '.join(unknown)}")
    else:
        features = ["SMS", "VOICE"]
    resp_org = (row.get("resp_org") or "").strip().upper() or None
    resp_org_name = (row.get("resp_org_name") or "").strip() or None
    if resp_org is not None and number_type != "TOLL_FREE":
        raise ValueError(f"resp_org: {number} is not toll-free; only toll-free numbers have a RespOrg")
    if resp_org is not None and not RESP_ORG_RE.fullmatch(resp_org):
        raise ValueError(f"resp_org: {resp_org!r} is not a 5-character RespOrg code")
    if resp_org_name is not None and resp_org is None:
        raise ValueError("resp_org_name: given without resp_org")
    if resp_org_name is not None and len(resp_org_name) > 100:
        raise ValueError("resp_org_name: longer than 100 characters")
    metadata = {k: row[k] for k in extra if row.get(k) not in (None, "")}
    return (
        number,
        number_type,
        npa,
        nxx,
        rate_center,
        state,
        lata,
        ocn,
        "{" + ",".join(features) + "}",
        json.dumps(metadata, sort_keys=True),
        resp_org,
        resp_org_name,
    )


def validate(
    lines: io.TextIOBase | Any, progress: Callable[[int], None] | None = None
) -> tuple[list[_Good], ImportResult]:
    """Check every row of a CSV stream; the good rows and a result listing every bad one by line."""
    reader = csv.DictReader(lines)
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise ImportFileError(f"header: missing column(s) {', '.join(missing)} (line 1)")
    reader.fieldnames = header
    extra = [h for h in header if h not in REQUIRED and h not in OPTIONAL]
    result = ImportResult()
    good: list[_Good] = []
    seen: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        result.rows += 1
        if progress is not None and result.rows % 1000 == 0:
            progress(1000)
        if None in row:
            result.errors.append(RowError(line, "row: more fields than the header"))
            continue
        try:
            values = _check_row(row, extra)
        except ValueError as exc:
            result.errors.append(RowError(line, str(exc)))
            continue
        first = seen.get(values[0])
        if first is not None:
            result.errors.append(RowError(line, f"number: {values[0]} already on line {first}"))
            continue
        seen[values[0]] = line
        good.append(_Good(line, values))
    if progress is not None:
        progress(result.rows % 1000)
    return good, result


def load(conn: psycopg.Connection[Any], good: list[_Good], result: ImportResult) -> ImportResult:
    """COPY the good rows into a staging table and add the new numbers to the inventory (caller's transaction)."""
    conn.execute(
        "CREATE TEMP TABLE inventory_import (number text, number_type text, npa text, nxx text, "
        "rate_center text, state text, lata text, ocn text, features text[], metadata jsonb, resp_org text, "
        "resp_org_name text) ON COMMIT DROP"
    )
    with conn.cursor() as cur, cur.copy("COPY inventory_import FROM STDIN") as copy:
        for g in good:
            copy.write_row(g.values)
    cur2 = conn.execute(
        "INSERT INTO numbers.inventory (number, number_type, npa, nxx, rate_center, state, lata, ocn, features, "
        "metadata) SELECT number, number_type, npa, nxx, rate_center, state, lata, ocn, features, metadata "
        "FROM inventory_import ORDER BY number ON CONFLICT (number) DO NOTHING"
    )
    result.inserted = cur2.rowcount
    # Toll-free data (RespOrg) of toll-free rows that carry one; existing rows are left unchanged.
    conn.execute(
        "INSERT INTO numbers.toll_free (inventory_id, resp_org_id, resp_org_name) "
        "SELECT i.id, s.resp_org, s.resp_org_name FROM inventory_import s "
        "JOIN numbers.inventory i ON i.number = s.number "
        "WHERE s.resp_org IS NOT NULL AND i.number_type = 'TOLL_FREE' ORDER BY i.number "
        "ON CONFLICT (inventory_id) DO NOTHING"
    )
    result.unchanged = len(good) - result.inserted
    conn.execute("DROP TABLE inventory_import")
    return result


def import_file(
    conn: psycopg.Connection[Any], path: Path, progress: Callable[[int], None] | None = None
) -> ImportResult:
    """Validate ``path`` and load its good rows (numbers already in inventory are left unchanged)."""
    with path.open(newline="", encoding="utf-8-sig") as fh:
        good, result = validate(fh, progress)
    return load(conn, good, result)
