"""warp rates import: validation with line numbers, all-or-nothing, --skip-bad, merge and replace."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from routing_helpers import ctrunk, one, rate

from warp.db import tenant
from warp.routing.errors import CarrierTrunkNotFound, RateImportError
from warp.routing.rate_import import import_rates

Conn = psycopg.Connection[Any]
TODAY = date(2026, 6, 15)


def deck(conn: Conn, trunk: str = "a") -> list[tuple[str, str, str, str | None]]:
    rows = conn.execute(
        "SELECT prefix, coalesce(rate::text, ''), effective_date::text, expires_date::text FROM routing.rate_deck d "
        "JOIN routing.carrier_trunks ct ON ct.id = d.carrier_trunk_id WHERE ct.name = %s "
        "ORDER BY prefix, effective_date",
        (trunk,),
    ).fetchall()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def run(conn: Conn, path: Path, **kw: Any) -> Any:
    with tenant.transaction(conn, tenant.STAFF):
        return import_rates(conn, carrier_trunk=kw.pop("trunk", "a"), path=path, today=TODAY, **kw)


def write(tmp_path: Path, text: str, name: str = "deck.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_import_with_defaults_and_optional_columns(conn: Conn, tmp_path: Path) -> None:
    ctrunk(conn, "a")
    path = write(
        tmp_path,
        "\ufeffPrefix, rate ,destination_name,connection_fee,initial_increment,subsequent_increment,effective_date\n"
        "1,0.0100,USA,,,,\n"
        "44,0.02,UK,0.001,30,6,2026-07-01\n",
    )
    result = run(conn, path)
    assert (result.rows, result.loaded, result.skipped) == (2, 2, 0)
    row = conn.execute(
        "SELECT destination_name, connection_fee, initial_increment, subsequent_increment, effective_date::text "
        "FROM routing.rate_deck WHERE prefix = '44'"
    ).fetchone()
    assert row is not None and tuple(row) == ("UK", Decimal("0.001"), 30, 6, "2026-07-01")
    assert deck(conn)[0] == ("1", "0.010000", "2026-06-15", None)  # effective today by default
    audit = conn.execute(
        "SELECT record_id, new_row ->> 'loaded', new_row ->> 'file' FROM audit.audit_log "
        "WHERE table_name = 'rate_deck' AND action = 'INSERT'"
    ).fetchall()
    assert len(audit) == 1 and audit[0][1:] == ("2", "deck.csv")


def test_jurisdictional_deck_without_rate_column(conn: Conn, tmp_path: Path) -> None:
    ctrunk(conn, "a")
    path = write(
        tmp_path, "prefix,interstate_rate,intrastate_rate,indeterminate_rate\n1202555,0.004,0.009,0.006\n"
    )
    assert run(conn, path).loaded == 1
    row = conn.execute("SELECT rate, interstate_rate, intrastate_rate FROM routing.rate_deck").fetchone()
    assert row is not None and row[0] is None and str(row[1]) == "0.004000" and str(row[2]) == "0.009000"


BAD = (
    "prefix,rate,effective_date,expires_date,initial_increment\n"
    "1,0.01,,,\n"  # line 2 ok
    "12a,0.01,,,\n"  # 3 bad prefix
    "44,-0.5,,,\n"  # 4 negative rate
    "45,,,,\n"  # 5 no rate
    "46,0.01,2026-02-30,,\n"  # 6 impossible date
    "47,0.01,2026-07-01,2026-07-01,\n"  # 7 expires not after effective
    "48,0.01,,,0\n"  # 8 zero increment
    "49,abc,,,\n"  # 9 not a number
    "50,0.01,,,\n"  # 10 ok
    ",0.01,,,\n"  # 11 missing prefix
)


def test_bad_file_reports_every_bad_line_and_loads_nothing(conn: Conn, tmp_path: Path) -> None:
    ctrunk(conn, "a")
    path = write(tmp_path, BAD)
    with pytest.raises(RateImportError) as exc:
        run(conn, path)
    assert sorted({line for line, _ in exc.value.problems}) == [3, 4, 5, 6, 7, 8, 9, 11]
    problems = dict(exc.value.problems)
    assert problems[3] == "prefix: 12a is not 1-16 digits"
    assert problems[4].startswith("rate: -0.5 is not a non-negative number")
    assert problems[6] == "effective_date: 2026-02-30 is not a date (YYYY-MM-DD)"
    assert problems[7] == "expires_date: 2026-07-01 is not after the effective date"
    assert "line 3: prefix" in exc.value.message and "nothing loaded" in exc.value.message
    assert deck(conn) == []


def test_skip_bad_loads_the_good_lines(conn: Conn, tmp_path: Path) -> None:
    ctrunk(conn, "a")
    result = run(conn, write(tmp_path, BAD), skip_bad=True)
    assert (result.rows, result.loaded, result.skipped) == (10, 2, 8)
    assert [line for line, _ in result.problems][:3] == [3, 4, 5]
    assert [r[0] for r in deck(conn)] == ["1", "50"]


def test_malformed_csv_lines_are_reported_with_numbers(conn: Conn, tmp_path: Path) -> None:
    ctrunk(conn, "a")
    path = write(tmp_path, "prefix,rate\n1,0.01\n2,0.02,extra\n\n3\n4,0.04\n")
    with pytest.raises(RateImportError) as exc:
        run(conn, path)
    assert dict(exc.value.problems) == {
        3: "expected 2 fields (as in the header), found 3",
        5: "expected 2 fields (as in the header), found 1",
    }
    result = run(conn, path, skip_bad=True)
    assert result.loaded == 2 and [r[0] for r in deck(conn)] == ["1", "4"]


def test_overlaps_inside_the_file_name_both_lines(conn: Conn, tmp_path: Path) -> None:
    ctrunk(conn, "a")
    path = write(tmp_path, "prefix,rate,effective_date\n1,0.01,2026-07-01\n2,0.01,\n1,0.02,2026-08-01\n")
    with pytest.raises(RateImportError) as exc:
        run(conn, path)
    assert exc.value.problems == [(4, "prefix 1: effective period overlaps line 2")]


def test_header_problems(conn: Conn, tmp_path: Path) -> None:
    ctrunk(conn, "a")
    with pytest.raises(RateImportError, match="missing required column prefix"):
        run(conn, write(tmp_path, "rate\n0.1\n"))
    with pytest.raises(RateImportError, match="unknown column"):
        run(conn, write(tmp_path, "prefix,rate,colour\n1,0.1,red\n"))
    with pytest.raises(RateImportError, match="missing column rate"):
        run(conn, write(tmp_path, "prefix,destination_name\n1,US\n"))
    with pytest.raises(CarrierTrunkNotFound):
        run(conn, write(tmp_path, "prefix,rate\n1,0.1\n"), trunk="nope")


def test_merge_closes_only_the_prefixes_in_the_file(conn: Conn, tmp_path: Path) -> None:
    a = ctrunk(conn, "a")
    rate(conn, a, "1", "0.0100", effective="2026-01-01", expires="2026-09-01")
    rate(conn, a, "44", "0.0200", effective="2026-01-01")
    rate(conn, a, "1", "0.0300", effective="2026-09-01")  # superseded by the new row of 2026-07-01
    run(conn, write(tmp_path, "prefix,rate,effective_date\n1,0.0150,2026-07-01\n"), mode="merge")
    assert deck(conn) == [
        ("1", "0.010000", "2026-01-01", "2026-07-01"),
        ("1", "0.015000", "2026-07-01", None),
        ("44", "0.020000", "2026-01-01", None),
    ]


def test_replace_closes_the_whole_current_deck(conn: Conn, tmp_path: Path) -> None:
    a = ctrunk(conn, "a")
    ctrunk(conn, "b")
    rate(conn, a, "1", "0.0100", effective="2026-01-01")
    rate(conn, a, "44", "0.0200", effective="2026-01-01", expires="2026-12-01")
    rate(conn, a, "33", "0.0200", effective="2026-01-01", expires="2026-03-01")  # already over: untouched
    run(conn, write(tmp_path, "prefix,rate\n1,0.0150\n", "b.csv"), trunk="b")
    result = run(conn, write(tmp_path, "prefix,rate\n1,0.0150\n49,0.0300\n"), mode="replace")
    assert (result.closed, result.superseded, result.loaded) == (2, 0, 2)
    assert deck(conn) == [
        ("1", "0.010000", "2026-01-01", "2026-06-15"),
        ("1", "0.015000", "2026-06-15", None),
        ("33", "0.020000", "2026-01-01", "2026-03-01"),
        ("44", "0.020000", "2026-01-01", "2026-06-15"),
        ("49", "0.030000", "2026-06-15", None),
    ]
    assert deck(conn, "b") == [("1", "0.015000", "2026-06-15", None)]  # other trunks untouched
    # Re-importing the same day replaces today's rows instead of colliding with them.
    result = run(conn, write(tmp_path, "prefix,rate\n1,0.0120\n"), mode="replace")
    assert (result.superseded, result.loaded) == (2, 1)
    assert (
        one(
            conn,
            "SELECT count(*) FROM routing.rate_deck WHERE expires_date IS NULL AND carrier_trunk_id = %s",
            (a,),
        )
        == 1
    )


def test_prefix_validation_is_ascii_digits_1_to_16(conn: Conn, tmp_path: Path) -> None:
    """The line check (no regex) refuses what the deck's CHECK refuses, with the line number."""
    ctrunk(conn, "a")
    bad = ["1" * 17, "+1", "1-2", "\uff11\uff12", "\u0663", "1.5", '"1 2"', "0x1"]
    good = ["0", "0" * 16, "9" * 16, "01"]
    path = write(tmp_path, "prefix,rate\n" + "".join(f"{p},0.01\n" for p in [*bad, *good]))
    with pytest.raises(RateImportError) as exc:
        run(conn, path)
    assert sorted(line for line, _ in exc.value.problems) == list(range(2, 2 + len(bad)))
    assert all(
        msg.startswith("prefix: ") and msg.endswith(" is not 1-16 digits") for _, msg in exc.value.problems
    )
    result = run(conn, path, skip_bad=True)
    assert result.loaded == len(good) and result.skipped == len(bad)
    assert sorted(r[0] for r in deck(conn)) == sorted(good)
