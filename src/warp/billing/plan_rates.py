"""Rate plan imports of messaging and number prices (the voice deck is in :mod:`warp.billing.rate_plans`).

Same conventions as the voice import: a header-named CSV (any column order, names case-insensitive), all
or nothing, every bad line reported with its number and field; dates ISO (YYYY-MM-DD), effective_date
defaulting to today. These files have a few dozen lines, so they are checked in Python. The merge is the
deck's: for each key in the file (message type + direction + destination type, or number type), the
plan's rows starting on or after the new row's start are dropped (superseded) and the row in force then
is closed at that date.

messaging: ``message_type`` (SMS | MMS), ``rate`` required; ``direction`` (OUTBOUND | INBOUND, default
OUTBOUND), ``destination_type`` (DOMESTIC | INTERNATIONAL | TOLL_FREE, default DOMESTIC) optional.
numbers: ``number_type`` (DID | TOLL_FREE | SHORT_CODE) and at least one of ``monthly_charge``,
``setup_charge``, ``port_in_fee`` (missing ones are 0).
"""

from __future__ import annotations

import csv
import itertools
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql

from warp.db import csvcopy

KINDS = ("voice", "messaging", "numbers")
DATES = ("effective_date", "expires_date")


@dataclass(frozen=True)
class Spec:
    """One importable rate table."""

    table: str
    keys: tuple[str, ...]
    required: tuple[str, ...]
    choices: dict[str, tuple[str, ...]]
    defaults: dict[str, str]
    rates: tuple[str, ...]  # DECIMAL(10,6)
    money: tuple[str, ...]  # DECIMAL(12,2)
    need_one_of: tuple[str, ...] = ()

    @property
    def known(self) -> tuple[str, ...]:
        return (*self.keys, *self.rates, *self.money, *DATES)


SPECS = {
    "messaging": Spec(
        table="messaging_rates",
        keys=("message_type", "direction", "destination_type"),
        required=("message_type", "rate"),
        choices={
            "message_type": ("SMS", "MMS"),
            "direction": ("OUTBOUND", "INBOUND"),
            "destination_type": ("DOMESTIC", "INTERNATIONAL", "TOLL_FREE"),
        },
        defaults={"direction": "OUTBOUND", "destination_type": "DOMESTIC"},
        rates=("rate",),
        money=(),
    ),
    "numbers": Spec(
        table="number_rates",
        keys=("number_type",),
        required=("number_type",),
        choices={"number_type": ("DID", "TOLL_FREE", "SHORT_CODE")},
        defaults={},
        rates=(),
        money=("monthly_charge", "setup_charge", "port_in_fee"),
        need_one_of=("monthly_charge", "setup_charge", "port_in_fee"),
    ),
}


def detect_kind(columns: list[str]) -> str | None:
    """voice (a prefix column), messaging (message_type) or numbers (number_type); None if none fits."""
    if "prefix" in columns:
        return "voice"
    if "message_type" in columns:
        return "messaging"
    if "number_type" in columns:
        return "numbers"
    return None


def header_problems(spec: Spec, columns: list[str]) -> list[str]:
    problems = csvcopy.column_problems(columns, spec.known)
    missing = [c for c in spec.required if c not in columns]
    if missing:
        problems.append(f"missing required column(s) {', '.join(missing)}")
    if spec.need_one_of and not any(c in columns for c in spec.need_one_of):
        problems.append(f"missing a price column: one of {', '.join(spec.need_one_of)}")
    return problems


def _decimal(field: str, text: str, places: int, digits: int) -> tuple[Decimal | None, str | None]:
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None, f"{field}: {text!r} is not a number"
    if not value.is_finite():
        return None, f"{field}: {text!r} is not a number"
    if value < 0:
        return None, f"{field}: {text} is negative"
    if value != value.quantize(Decimal(1).scaleb(-places)):
        return None, f"{field}: {text} has more than {places} decimals"
    if value >= Decimal(10) ** (digits - places):
        return None, f"{field}: {text} is too large"
    return value, None


def _date(field: str, text: str) -> tuple[date | None, str | None]:
    try:
        return date.fromisoformat(text), None
    except ValueError:
        return None, f"{field}: {text!r} is not a date (YYYY-MM-DD)"


def parse(
    spec: Spec, path: Path, today: date
) -> tuple[list[tuple[int, dict[str, Any]]], list[tuple[int, str]]]:
    """Rows (line, typed values) and problems (line, message) of a file, header included (line 1)."""
    rows: list[tuple[int, dict[str, Any]]] = []
    problems: list[tuple[int, str]] = []
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        try:
            header = [c.strip().lower() for c in next(reader)]
        except StopIteration:
            return [], [(1, "missing header")]
        bad = header_problems(spec, header)
        if bad:
            return [], [(1, "; ".join(bad))]
        line = 1
        try:
            for record in reader:
                line = reader.line_num
                if not any(v.strip() for v in record):
                    continue
                if len(record) != len(header):
                    problems.append((line, f"{len(record)} fields, the header has {len(header)}"))
                    continue
                raw = {c: v.strip() for c, v in zip(header, record, strict=True)}
                values: dict[str, Any] = {}
                errors = []
                for key in spec.keys:
                    text = raw.get(key, "").upper() or spec.defaults.get(key, "")
                    if not text:
                        errors.append(f"{key}: required")
                    elif text not in spec.choices[key]:
                        errors.append(f"{key}: {raw[key]!r} is not one of {', '.join(spec.choices[key])}")
                    values[key] = text
                for col in spec.rates:
                    if not raw.get(col):
                        errors.append(f"{col}: required")
                        continue
                    values[col], err = _decimal(col, raw[col], 6, 10)
                    if err:
                        errors.append(err)
                for col in spec.money:
                    values[col], err = _decimal(col, raw.get(col) or "0", 2, 12)
                    if err:
                        errors.append(err)
                values["effective_date"], values["expires_date"] = today, None
                for col in DATES:
                    if raw.get(col):
                        values[col], err = _date(col, raw[col])
                        if err:
                            errors.append(err)
                eff, exp = values["effective_date"], values["expires_date"]
                if isinstance(eff, date) and isinstance(exp, date) and exp <= eff:
                    errors.append(f"expires_date: {exp} is not after the effective date {eff}")
                if errors:
                    problems.append((line, "; ".join(errors)))
                else:
                    rows.append((line, values))
        except csv.Error as exc:
            problems.append((reader.line_num or line + 1, f"malformed CSV: {exc}"))
    problems += _overlaps(spec, rows)
    return rows, problems


def _overlaps(spec: Spec, rows: list[tuple[int, dict[str, Any]]]) -> list[tuple[int, str]]:
    """Two lines of the file for the same key whose date ranges overlap."""
    problems = []
    by_key: dict[tuple[str, ...], list[tuple[int, dict[str, Any]]]] = {}
    for line, values in rows:
        by_key.setdefault(tuple(values[k] for k in spec.keys), []).append((line, values))
    for key, lines in by_key.items():
        lines.sort(key=lambda r: r[1]["effective_date"])
        for (l1, a), (l2, b) in itertools.pairwise(lines):
            if a["expires_date"] is None or a["expires_date"] > b["effective_date"]:
                problems.append(
                    (
                        l2,
                        f"{'/'.join(key)}: in force from {b['effective_date']} while line {l1} "
                        f"(from {a['effective_date']}) still is",
                    )
                )
    return problems


def merge(
    conn: psycopg.Connection[Any], spec: Spec, plan_id: UUID, rows: list[dict[str, Any]]
) -> tuple[int, int, int]:
    """Write checked rows into the plan: (loaded, closed, superseded)."""
    table = sql.Identifier("billing", spec.table)
    key_match = sql.SQL(" AND ").join(
        sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder(k)) for k in spec.keys
    )
    firsts: dict[tuple[str, ...], date] = {}
    for values in rows:
        key = tuple(values[k] for k in spec.keys)
        firsts[key] = min(firsts.get(key, values["effective_date"]), values["effective_date"])
    closed = superseded = 0
    for key, starts in firsts.items():
        params = {**dict(zip(spec.keys, key, strict=True)), "plan": plan_id, "starts": starts}
        superseded += conn.execute(
            sql.SQL(
                "DELETE FROM {} WHERE rate_plan_id = %(plan)s AND {} AND effective_date >= %(starts)s"
            ).format(table, key_match),
            params,
        ).rowcount
        closed += conn.execute(
            sql.SQL(
                "UPDATE {} SET expires_date = %(starts)s WHERE rate_plan_id = %(plan)s AND {} "
                "AND effective_date < %(starts)s AND (expires_date IS NULL OR expires_date > %(starts)s)"
            ).format(table, key_match),
            params,
        ).rowcount
    columns = (*spec.keys, *spec.rates, *spec.money, *DATES)
    insert = sql.SQL("INSERT INTO {} (rate_plan_id, {}) VALUES (%(plan)s, {})").format(
        table,
        sql.SQL(", ").join(sql.Identifier(c) for c in columns),
        sql.SQL(", ").join(sql.Placeholder(c) for c in columns),
    )
    with conn.cursor() as cur:
        cur.executemany(insert, [{**values, "plan": plan_id} for values in rows])
    return len(rows), closed, superseded
