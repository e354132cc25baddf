"""billing.billable_seconds and billing.call_charge: the issue's rating cases and a property test."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def billable(conn: psycopg.Connection[Any], d: int, i: int, s: int, m: int = 0) -> int:
    row = conn.execute("SELECT billing.billable_seconds(%s, %s, %s, %s)", (d, i, s, m)).fetchone()
    assert row is not None
    return int(row[0])


def charge(
    conn: psycopg.Connection[Any], d: int, rate: str, i: int, s: int, fee: str = "0", m: int = 0
) -> Decimal:
    row = conn.execute(
        "SELECT billing.call_charge(%s, %s::numeric, %s, %s, %s::numeric, %s)", (d, rate, i, s, fee, m)
    ).fetchone()
    assert row is not None
    return Decimal(row[0])


@pytest.mark.parametrize(
    ("duration", "inc", "expected"),
    [
        # 1/1: per second
        (1, (1, 1), 1),
        (59, (1, 1), 59),
        (61, (1, 1), 61),
        # 6/6
        (1, (6, 6), 6),
        (6, (6, 6), 6),
        (7, (6, 6), 12),
        (61, (6, 6), 66),
        # 30/6
        (1, (30, 6), 30),
        (30, (30, 6), 30),
        (31, (30, 6), 36),
        (36, (30, 6), 36),
        (37, (30, 6), 42),
        # 60/60
        (1, (60, 60), 60),
        (60, (60, 60), 60),
        (61, (60, 60), 120),
        (121, (60, 60), 180),
    ],
)
def test_increments(
    conn: psycopg.Connection[Any], duration: int, inc: tuple[int, int], expected: int
) -> None:
    assert billable(conn, duration, *inc) == expected


def test_minimum_duration(conn: psycopg.Connection[Any]) -> None:
    # A 5 s call with a 30 s minimum on 6/6 bills 30 s; a longer call is unaffected by the minimum.
    assert billable(conn, 5, 6, 6, 30) == 30
    assert billable(conn, 31, 6, 6, 30) == 36
    assert billable(conn, 5, 1, 1, 60) == 60
    # The minimum applies before the initial increment: 60/60 with 90 s minimum -> 120.
    assert billable(conn, 10, 60, 60, 90) == 120


def test_zero_and_negative_duration(conn: psycopg.Connection[Any]) -> None:
    assert billable(conn, 0, 60, 60, 30) == 0
    assert billable(conn, -5, 6, 6) == 0
    assert charge(conn, 0, "0.010000", 60, 60, fee="0.05", m=30) == 0
    assert charge(conn, -1, "0.010000", 1, 1, fee="0.05") == 0


def test_charge_per_increment(conn: psycopg.Connection[Any]) -> None:
    # 61 s at 0.012/min: 1/1 -> 61 s = 0.0122; 6/6 -> 66 s = 0.0132; 60/60 -> 120 s = 0.024
    assert charge(conn, 61, "0.012", 1, 1) == Decimal("0.012200")
    assert charge(conn, 61, "0.012", 6, 6) == Decimal("0.013200")
    assert charge(conn, 61, "0.012", 60, 60) == Decimal("0.024000")
    assert charge(conn, 31, "0.012", 30, 6) == Decimal("0.007200")


def test_connection_fee_added_once(conn: psycopg.Connection[Any]) -> None:
    assert charge(conn, 60, "0.010000", 60, 60, fee="0.002500") == Decimal("0.012500")
    assert charge(conn, 1, "0", 1, 1, fee="0.1") == Decimal("0.100000")


def test_rounds_half_up_to_six_places(conn: psycopg.Connection[Any]) -> None:
    # 1 s at 0.000001/min = 0.0000000166.. -> 0.000000; 30 s at 0.000001/min = 0.0000005 -> 0.000001 (half up)
    assert charge(conn, 1, "0.000001", 1, 1) == Decimal("0.000000")
    assert charge(conn, 30, "0.000001", 1, 1) == Decimal("0.000001")
    # 7 s at 0.010001/min = 0.00116678333.. -> 0.001167
    assert charge(conn, 7, "0.010001", 1, 1) == Decimal("0.001167")
    assert charge(conn, 7, "0.010001", 1, 1).as_tuple().exponent == -6


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    duration=st.integers(min_value=-10, max_value=100_000),
    initial=st.integers(min_value=1, max_value=120),
    subsequent=st.integers(min_value=1, max_value=120),
    minimum=st.integers(min_value=0, max_value=300),
    rate_micros=st.integers(min_value=0, max_value=9_999_999_999),
    fee_micros=st.integers(min_value=0, max_value=99_999_999),
)
def test_matches_reference_model(
    conn: psycopg.Connection[Any],
    duration: int,
    initial: int,
    subsequent: int,
    minimum: int,
    rate_micros: int,
    fee_micros: int,
) -> None:
    rate = Decimal(rate_micros).scaleb(-6)
    fee = Decimal(fee_micros).scaleb(-6)
    if duration <= 0:
        seconds, expected = 0, Decimal(0)
    else:
        d = max(duration, minimum)
        seconds = initial if d <= initial else initial + math.ceil((d - initial) / subsequent) * subsequent
        expected = (Decimal(seconds) * rate / 60 + fee).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)
    got = conn.execute(
        "SELECT billing.billable_seconds(%s, %s, %s, %s), billing.call_charge(%s, %s, %s, %s, %s, %s)",
        (duration, initial, subsequent, minimum, duration, rate, initial, subsequent, fee, minimum),
    ).fetchone()
    assert got is not None
    assert got[0] == seconds
    assert Decimal(got[1]) == expected
    # Properties: never below the duration (when billed), a whole number of increments past the first.
    if duration > 0:
        assert seconds >= max(duration, minimum)
        assert seconds == initial or (seconds - initial) % subsequent == 0
