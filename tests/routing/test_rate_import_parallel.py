"""Parallel rate-deck import (two connections, two-phase commit): same rows as the serial path, all or
nothing, and recovery of a helper transaction left prepared."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from routing_helpers import ctrunk, one, rate

from warp.db import tenant
from warp.maintenance import service as maintenance
from warp.routing import rate_import
from warp.routing.errors import RateImportError

Conn = psycopg.Connection[Any]
TODAY = date(2026, 6, 15)


@pytest.fixture(autouse=True)
def _two_phase(conn: Conn) -> Iterator[None]:
    if int(one(conn, "SELECT current_setting('max_prepared_transactions')::int")) == 0:
        pytest.skip("server has max_prepared_transactions = 0 (the import loads serially)")
    yield
    # A failed test must not leave a prepared transaction behind (the database could not be dropped).
    for (gid,) in conn.execute(
        "SELECT gid FROM pg_prepared_xacts WHERE database = current_database()"
    ).fetchall():
        conn.execute(sql.SQL("ROLLBACK PREPARED {}").format(sql.Literal(gid)))


def deck(conn: Conn, trunk: str) -> list[tuple[Any, ...]]:
    rows = conn.execute(
        "SELECT prefix, destination_name, country_code, rate::text, interstate_rate::text, connection_fee::text, "
        "initial_increment, subsequent_increment, effective_date::text, expires_date::text "
        "FROM routing.rate_deck d JOIN routing.carrier_trunks ct ON ct.id = d.carrier_trunk_id "
        "WHERE ct.name = %s ORDER BY prefix, effective_date",
        (trunk,),
    ).fetchall()
    return [tuple(r) for r in rows]


def prepared(conn: Conn) -> int:
    return int(one(conn, "SELECT count(*) FROM pg_prepared_xacts WHERE gid LIKE 'warp-rate-import:%'"))


def import_tables(conn: Conn) -> int:
    return int(one(conn, "SELECT count(*) FROM pg_class WHERE relname LIKE 'rate\\_import\\_%'"))


def run(conn: Conn, path: Path, trunk: str, url: str | None, **kw: Any) -> Any:
    """One import in a staff transaction; parallel when ``url`` is given (any file size)."""
    with tenant.transaction(conn, tenant.STAFF):
        result = rate_import.import_rates(
            conn, carrier_trunk=trunk, path=path, today=TODAY, url=url, parallel_min_bytes=0, **kw
        )
    return result


def resolve(url: str) -> tuple[int, int]:
    with psycopg.connect(url, autocommit=True) as side:
        return rate_import.resolve_prepared(side)


def big_deck(path: Path, *, lines: int = 400, shift: str = "0.01") -> Path:
    """Prefixes of 1-7 digits over every first digit, jurisdictional and optional columns, two periods."""
    rows: dict[str, str] = {}
    for i in range(lines):
        prefix = str(i % 10) + str(i * 7919 % 10**6)[: i % 7]
        rows.setdefault(
            prefix, f'{prefix},{shift},{"0.02" if i % 3 else ""},"Dest, {i}",{i % 90},0.001,{1 + i % 60},6,,'
        )
    body = [
        *rows.values(),
        "99887766,0.05,,Later,,,,,2026-08-01,",
        "99887766,0.04,,Now,,,,,2026-06-01,2026-08-01",
    ]
    header = (
        "prefix,rate,interstate_rate,destination_name,country_code,connection_fee,initial_increment,"
        "subsequent_increment,effective_date,expires_date"
    )
    path.write_text("\n".join([header, *body]) + "\n")
    return path


def test_parallel_gives_the_serial_rows_merge_and_replace(conn: Conn, db_url: str, tmp_path: Path) -> None:
    ids = {name: ctrunk(conn, name) for name in ("serial", "parallel")}
    for trunk_id in ids.values():  # an existing deck on both sides of any split
        for prefix in ("1", "123", "5", "55", "9", "0", "777"):
            rate(conn, trunk_id, prefix, "0.5", effective="2026-01-01")
    first = big_deck(tmp_path / "first.csv")
    second = big_deck(tmp_path / "second.csv", lines=250, shift="0.03")
    for mode, path in (("merge", first), ("merge", second), ("replace", first)):
        serial = run(conn, path, "serial", None, mode=mode)
        parallel = run(conn, path, "parallel", db_url, mode=mode)
        assert prepared(conn) == 1  # the helper's half waits for the decision
        assert deck(conn, "parallel") != deck(conn, "serial")  # so the helper did part of the work
        assert resolve(db_url) == (1, 0)
        assert prepared(conn) == 0 and import_tables(conn) == 0
        assert deck(conn, "parallel") == deck(conn, "serial")
        keys = ("rows", "loaded", "skipped", "closed", "superseded", "effective_from", "problem_count")
        assert [getattr(parallel, k) for k in keys] == [getattr(serial, k) for k in keys], mode
    assert serial.closed > 0 and serial.superseded > 0
    assert len({r[0][0] for r in deck(conn, "parallel")}) == 10
    audit = one(
        conn,
        "SELECT count(*) FROM audit.audit_log WHERE table_name = 'rate_deck' AND record_id::text = %s",
        (str(ids["parallel"]),),
    )
    assert audit == 3


BAD = (
    "prefix,rate,effective_date\n"
    "1,0.01,\n"
    "12a,0.01,\n"  # line 3
    "2,-1,\n"  # line 4
    "3,0.01,\n"
    "4,0.01,\n"
    "5,0.01,2026-02-30\n"  # line 7
    "6,0.01,\n"
    "7,x,\n"  # line 9
    "8,0.01,2026-07-01\n"
    "8,0.02,2026-08-01\n"  # line 11 overlaps line 10 (second half of the file)
)


def test_bad_lines_in_both_halves_are_all_reported_and_nothing_is_loaded(
    conn: Conn, db_url: str, tmp_path: Path
) -> None:
    ctrunk(conn, "a")
    path = tmp_path / "bad.csv"
    path.write_text(BAD)
    with pytest.raises(RateImportError) as exc:
        run(conn, path, "a", db_url)
    assert sorted({line for line, _ in exc.value.problems}) == [3, 4, 7, 9]
    assert dict(exc.value.problems)[7] == "effective_date: 2026-02-30 is not a date (YYYY-MM-DD)"
    assert deck(conn, "a") == [] and prepared(conn) == 0
    resolve(db_url)
    assert import_tables(conn) == 0

    result = run(conn, path, "a", db_url, skip_bad=True)
    resolve(db_url)
    assert (result.rows, result.skipped, result.loaded) == (10, 5, 5)
    assert [line for line, _ in result.problems] == [3, 4, 7, 9, 11]
    assert [r[0] for r in deck(conn, "a")] == ["1", "3", "4", "6", "8"]


def test_malformed_csv_falls_back_to_the_serial_report(conn: Conn, db_url: str, tmp_path: Path) -> None:
    ctrunk(conn, "a")
    path = tmp_path / "ragged.csv"
    path.write_text("prefix,rate\n1,0.01\n2,0.02,extra\n\n3\n4,0.04\n5,0.05\n")
    with pytest.raises(RateImportError) as exc:
        run(conn, path, "a", db_url)
    assert sorted(dict(exc.value.problems)) == [3, 5]
    assert prepared(conn) == 0
    resolve(db_url)
    assert import_tables(conn) == 0


@pytest.mark.parametrize("failing", ["0", "9"])
def test_a_failing_half_leaves_nothing_loaded(conn: Conn, db_url: str, tmp_path: Path, failing: str) -> None:
    """A row refused in the caller's half ('0', below the split) or the helper's ('9', above it)."""
    ctrunk(conn, "a")
    conn.execute(
        "CREATE FUNCTION public.refuse_row() RETURNS trigger LANGUAGE plpgsql AS "
        "$$BEGIN IF NEW.prefix = '" + failing + "' THEN RAISE EXCEPTION 'refused %', NEW.prefix; END IF; "
        "RETURN NEW; END$$"
    )
    conn.execute(
        "CREATE TRIGGER refuse_row BEFORE INSERT ON routing.rate_deck FOR EACH ROW EXECUTE FUNCTION public.refuse_row()"
    )
    path = tmp_path / "deck.csv"
    path.write_text("prefix,rate\n" + "".join(f"{d}{n},0.01\n" for d in range(10) for n in ("", "1", "22")))
    with pytest.raises(psycopg.errors.RaiseException):
        run(conn, path, "a", db_url)
    assert prepared(conn) == 0 and deck(conn, "a") == []
    resolve(db_url)
    assert import_tables(conn) == 0


def test_caller_rollback_rolls_the_helper_back(conn: Conn, db_url: str, tmp_path: Path) -> None:
    ctrunk(conn, "a")
    path = big_deck(tmp_path / "deck.csv")
    with pytest.raises(RuntimeError), tenant.transaction(conn, tenant.STAFF):
        rate_import.import_rates(
            conn, carrier_trunk="a", path=path, today=TODAY, url=db_url, parallel_min_bytes=0
        )
        raise RuntimeError("caller fails after the import")
    assert prepared(conn) == 1
    assert resolve(db_url) == (0, 1)
    assert deck(conn, "a") == [] and prepared(conn) == 0 and import_tables(conn) == 0


def test_crashed_coordinator_is_recovered(conn: Conn, db_url: str, tmp_path: Path) -> None:
    """The caller's session dies after the helper prepared: the helper rolls back; a committed caller
    whose helper was never resolved gets it committed by the next import or by warp maintenance."""
    ctrunk(conn, "a")
    path = big_deck(tmp_path / "deck.csv")
    victim = psycopg.connect(db_url)
    pid = one(victim, "SELECT pg_backend_pid()")
    victim.commit()
    tenant.apply(victim, tenant.STAFF)
    rate_import.import_rates(
        victim, carrier_trunk="a", path=path, today=TODAY, url=db_url, parallel_min_bytes=0
    )
    assert prepared(conn) == 1
    conn.execute("SELECT pg_terminate_backend(%s, 10000)", (pid,))
    victim.close()
    # The next import of the trunk settles the orphan (rolled back: its coordinator died) and loads.
    first = run(conn, path, "a", db_url)
    assert prepared(conn) == 1  # this import's own helper
    resolve(db_url)
    assert len(deck(conn, "a")) == first.loaded and import_tables(conn) == 0

    # Committed caller, helper never resolved (the CLI died between the two): a serial import without
    # the URL refuses to wait on it; warp maintenance run commits it.
    newer = big_deck(tmp_path / "newer.csv", shift="0.03")
    run(conn, newer, "a", db_url, mode="replace")
    assert prepared(conn) == 1

    def flat_rates() -> set[str]:
        return {r[3] for r in deck(conn, "a") if r[1].startswith("Dest") and r[9] is None}

    assert flat_rates() == {"0.010000", "0.030000"}  # only the caller's half is visible yet
    with pytest.raises(RateImportError, match="still prepared"):
        run(conn, path, "a", None)
    report = maintenance.run(db_url)
    step = next(s for s in report.steps if s.name == "prepared rate imports")
    assert step.detail == "1 committed, 0 rolled back"
    assert prepared(conn) == 0 and import_tables(conn) == 0
    assert flat_rates() == {"0.030000"}


def test_split_offset_skips_newlines_inside_quotes(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    head = "prefix,rate,destination_name\n"
    quoted = '1,0.01,"a\n' + "x" * 100 + '\nb"\n'
    path.write_text(head + quoted + "2,0.02,c\n")
    offset = rate_import._split_offset(path)
    assert path.read_bytes()[:offset].decode().endswith('b"\n')
