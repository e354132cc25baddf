"""routing.rate_deck's prefix CHECK and its exclusion constraint's encoding.

The constraint compares -(length * 10^16 + digits) instead of the prefix text and a segment of the day
axis (a box) instead of a daterange, and the CHECK tests digits without a regex (ADR 0006): these tests
pin down that they still mean exactly "1-16 ASCII digits" and "no two overlapping periods for the same
carrier trunk and the same prefix string".
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

import psycopg
import pytest
from routing_helpers import ctrunk, rate

Conn = psycopg.Connection[Any]

EXCL = "rate_deck_carrier_trunk_id_prefix_excl"


@pytest.mark.parametrize(
    "prefix",
    ["", "12a", " 1", "1 ", "+1", "-1", "1.0", "1\n", "\uff11", "\u0663", "1e5", "0x1"],
)
def test_prefix_check_refuses_anything_but_ascii_digits(conn: Conn, prefix: str) -> None:
    a = ctrunk(conn, "a")
    with pytest.raises(psycopg.errors.CheckViolation) as exc:
        rate(conn, a, prefix, "0.01")
    assert exc.value.diag.constraint_name == "rate_deck_prefix_check"


def test_prefix_of_17_digits_is_refused(conn: Conn) -> None:
    a = ctrunk(conn, "a")
    with pytest.raises(psycopg.errors.StringDataRightTruncation):
        rate(conn, a, "1" * 17, "0.01")


def test_16_digit_prefixes_and_leading_zeros_are_distinct_keys(conn: Conn) -> None:
    a, b = ctrunk(conn, "a"), ctrunk(conn, "b")
    prefixes = [
        "0",
        "00",
        "0" * 16,
        "1",
        "01",
        "001",
        "0" * 15 + "1",
        "1" + "0" * 15,
        "9" * 15,
        "9" * 16,
        "09" + "9" * 14,
        "1234567890123456",
        "0234567890123456",
    ]
    for p in prefixes:  # same trunk, same open period: all distinct prefixes, so all accepted
        rate(conn, a, p, "0.01")
        rate(conn, b, p, "0.01")  # the other trunk never conflicts
    for p in prefixes:
        with pytest.raises(psycopg.errors.ExclusionViolation) as exc:
            rate(conn, a, p, "0.02", effective="2026-06-01", expires="2026-07-01")
        assert exc.value.diag.constraint_name == EXCL
    # 16 digits: a later period that does not overlap is fine, an overlapping one is not
    rate(conn, a, "9" * 16, "0.03", effective="2025-01-01", expires="2026-01-01")
    with pytest.raises(psycopg.errors.ExclusionViolation):
        rate(conn, a, "9" * 16, "0.03", effective="2025-06-01", expires="2026-01-02")
    count = conn.execute("SELECT count(*) FROM routing.rate_deck").fetchone()
    assert count is not None and count[0] == 2 * len(prefixes) + 1


def test_exclusion_agrees_with_the_definition_on_random_rows(conn: Conn) -> None:
    """Random rows over tricky prefixes, two trunks and short periods: each insert is refused exactly
    when an accepted row of the same trunk and the same prefix string has an overlapping period."""
    trunks = [ctrunk(conn, "a"), ctrunk(conn, "b")]
    prefixes = ["1", "01", "001", "10", "100", "0", "00", "9" * 16, "09" + "9" * 14, "1" + "0" * 15]
    rng = random.Random(6)
    base = date(1999, 12, 1)  # periods on both sides of the encoding's day 0 (2000-01-01)
    accepted: list[tuple[Any, str, date, date | None]] = []
    refused = 0
    for _ in range(300):
        trunk, prefix = rng.choice(trunks), rng.choice(prefixes)
        start = base + timedelta(days=rng.randrange(60))
        end = None if rng.random() < 0.2 else start + timedelta(days=rng.randrange(1, 15))
        overlaps = any(
            t == trunk and p == prefix and (e is None or start < e) and (end is None or s < end)
            for t, p, s, e in accepted
        )
        try:
            rate(
                conn,
                trunk,
                prefix,
                "0.01",
                effective=start.isoformat(),
                expires=None if end is None else end.isoformat(),
            )
        except psycopg.errors.ExclusionViolation as exc:
            assert exc.diag.constraint_name == EXCL
            assert overlaps, (prefix, start, end)
            refused += 1
        else:
            assert not overlaps, (prefix, start, end)
            accepted.append((trunk, prefix, start, end))
    assert refused and len(accepted) > 20  # both outcomes were exercised


@pytest.mark.parametrize(
    ("effective", "expires", "field"),
    [
        ("infinity", None, "effective_date"),
        ("-infinity", None, "effective_date"),
        ("2026-01-01", "infinity", "expires_date"),
    ],
)
def test_infinite_dates_are_refused(conn: Conn, effective: str, expires: str | None, field: str) -> None:
    a = ctrunk(conn, "a")
    with pytest.raises(psycopg.errors.CheckViolation) as exc:
        rate(conn, a, "1", "0.01", effective=effective, expires=expires)
    assert exc.value.diag.constraint_name == f"rate_deck_{field}_check"


def test_period_edges_one_day_apart(conn: Conn) -> None:
    """Whole days, half-open periods: touching is fine, one shared day is an overlap, at any date."""
    a = ctrunk(conn, "a")
    for day0, day1, day2 in [
        ("1899-12-30", "1899-12-31", "1900-01-01"),
        ("1999-12-31", "2000-01-01", "2000-01-02"),
        ("5874897-12-29", "5874897-12-30", "5874897-12-31"),
    ]:
        prefix = day0[:4]
        rate(conn, a, prefix, "0.01", effective=day0, expires=day1)  # one day
        rate(conn, a, prefix, "0.02", effective=day1, expires=day2)  # the next day: touches, no overlap
        with pytest.raises(psycopg.errors.ExclusionViolation):
            rate(conn, a, prefix, "0.03", effective=day0, expires=day2)
        with pytest.raises(psycopg.errors.ExclusionViolation):  # open end vs the last day
            rate(conn, a, prefix, "0.03", effective=day1)
        rate(conn, a, prefix, "0.04", effective=day2)  # open end, starting where the last one stops
    # an open-ended row conflicts with a row starting at the last date PostgreSQL can hold
    rate(conn, a, "7", "0.01", effective="2026-01-01")
    with pytest.raises(psycopg.errors.ExclusionViolation):
        rate(conn, a, "7", "0.01", effective="5874897-12-30", expires="5874897-12-31")
