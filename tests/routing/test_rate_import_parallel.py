"""Parallel rate-deck import (two connections, two-phase commit): same rows as the serial path, all or
nothing, and recovery of a helper transaction left prepared."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo
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


def longest(conn: Conn, trunk: str, destination: str, day: date) -> tuple[str, str] | None:
    """The deck row a look-up of ``destination`` finds on ``day`` (longest prefix in force): prefix, rate."""
    row = conn.execute(
        "SELECT d.prefix, d.rate::text FROM routing.rate_deck d "
        "JOIN routing.carrier_trunks ct ON ct.id = d.carrier_trunk_id AND ct.name = %(trunk)s "
        "WHERE d.prefix = ANY (ARRAY(SELECT left(%(dest)s, n) FROM generate_series(1, length(%(dest)s)) n)) "
        "AND d.effective_date <= %(day)s AND (d.expires_date IS NULL OR d.expires_date > %(day)s) "
        "ORDER BY length(d.prefix) DESC LIMIT 1",
        {"trunk": trunk, "dest": destination, "day": day},
    ).fetchone()
    return None if row is None else (row[0], row[1])


def expected(deck_rates: dict[str, str], destination: str) -> tuple[str, str] | None:
    for n in range(len(destination), 0, -1):
        if destination[:n] in deck_rates:
            return destination[:n], deck_rates[destination[:n]]
    return None


def test_between_the_two_commits_every_destination_sees_one_whole_deck(
    conn: Conn, db_url: str, tmp_path: Path
) -> None:
    """The halves commit a few milliseconds apart. The median prefix of this file lies inside the "3"
    subtree, and the old deck prices "3" while the new one prices only longer "3..." prefixes: split at
    the median, "31500" would find no rate at all in between (old "3" closed, new "3150" not yet
    visible). The split moves to the subtree's edge instead, so each destination finds the old deck's
    answer or the new deck's, never a mix or nothing; after the helper's commit, the new one."""
    ctrunk(conn, "a")
    old = {"1": "0.500000", "3": "0.500000", "31": "0.400000", "5": "0.500000", "9": "0.500000"}
    old_path = tmp_path / "old.csv"
    old_path.write_text("prefix,rate\n" + "".join(f"{p},{r}\n" for p, r in old.items()))
    with tenant.transaction(conn, tenant.STAFF):
        rate_import.import_rates(conn, carrier_trunk="a", path=old_path, today=date(2026, 6, 1))
    new = {
        **{f"1{i:03d}": "0.100000" for i in range(100)},
        **{f"3{i:03d}": "0.200000" for i in range(200)},
        **{f"5{i:03d}": "0.300000" for i in range(100)},
    }
    new_path = tmp_path / "new.csv"
    new_path.write_text("prefix,rate\n" + "".join(f"{p},{r}\n" for p, r in new.items()))
    median = sorted(new)[(len(new) - 1) // 2]
    assert median.startswith("3") and len(median) > 1  # a split there would divide the "3" subtree

    run(conn, new_path, "a", db_url, mode="replace")
    assert prepared(conn) == 1  # the caller committed, the helper's half is not visible yet
    destinations = sorted({p + "0" for p in (*old, *new)} | {"31500", "3", "999"})
    seen = {"old": 0, "new": 0}
    for destination in destinations:
        found = longest(conn, "a", destination, TODAY)
        before, after = expected(old, destination), expected(new, destination)
        assert found in (before, after), (destination, found, before, after)
        if before != after:
            seen["new" if found == after else "old"] += 1
    assert seen["old"] and seen["new"]  # both halves really were in between
    resolve(db_url)
    assert all(longest(conn, "a", d, TODAY) == expected(new, d) for d in destinations)


def test_split_candidates_never_divide_nested_prefixes() -> None:
    assert rate_import.split_candidates("4420123", set()) == ["4420123"]
    assert rate_import.split_candidates("4420123", {"44", "442"}) == ["44", "45"]
    assert rate_import.split_candidates("4499", {"449"}) == ["449", "45"]
    assert rate_import.split_candidates("995", {"99"}) == ["99"]
    assert rate_import.split_candidates("7", {"7"}) == ["7"]
    # The property: no present prefix p and deck prefix q with p a proper prefix of q, p < s <= q.
    deck_prefixes = sorted(
        {"1", "2", "20", "23", "234", "2345", "23456", "24", "3", "7", "70", "71", "7123", "8"}
    )
    for median in ("23456", "2345", "71234", "24", "5", "0"):
        leading = {p for p in deck_prefixes if median.startswith(p) and p != median}
        for s in rate_import.split_candidates(median, leading):
            for p in deck_prefixes:
                for q in deck_prefixes:
                    if q.startswith(p) and p != q:
                        assert not (p < s <= q), (median, s, p, q)


def test_another_login_finishes_what_the_importing_login_prepared(
    conn: Conn, db_url: str, tmp_path: Path
) -> None:
    """PostgreSQL lets only the preparing role (or a superuser) finish a prepared transaction. The
    helper prepares as the import's login role, so the service resolves its own imports; a maintenance
    login that is a member of it finishes one left behind (acting as that role) and drops the staging
    tables that login owns, and is itself again afterwards."""
    ctrunk(conn, "a")
    suffix = uuid.uuid4().hex[:10]
    service, maint = f"rate_imp_svc_{suffix}", f"rate_imp_maint_{suffix}"
    conn.execute(
        sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'x' IN ROLE warp_app, warp_staff").format(
            sql.Identifier(service)
        )
    )
    conn.execute(
        sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'x' IN ROLE {}").format(*map(sql.Identifier, (maint, service)))
    )
    try:
        service_url = make_conninfo(db_url, user=service, password="x")
        with psycopg.connect(service_url) as importer:
            result = run(importer, big_deck(tmp_path / "deck.csv"), "a", service_url)
        owner = one(conn, "SELECT owner::text FROM pg_prepared_xacts WHERE gid LIKE 'warp-rate-import:%'")
        assert owner == service
        assert import_tables(conn) == 2  # the typed halves, owned by the service login
        with psycopg.connect(make_conninfo(db_url, user=maint, password="x"), autocommit=True) as other:
            assert rate_import.resolve_prepared(other) == (1, 0)
            assert one(other, "SELECT current_user::text") == maint
        assert prepared(conn) == 0 and import_tables(conn) == 0
        assert len(deck(conn, "a")) == result.loaded
    finally:
        for (gid,) in conn.execute("SELECT gid FROM pg_prepared_xacts WHERE database = current_database()"):
            conn.execute(sql.SQL("ROLLBACK PREPARED {}").format(sql.Literal(gid)))
        for role in (maint, service):
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (role,))
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
