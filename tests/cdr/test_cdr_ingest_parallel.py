"""Large files load over two connections of their own: split by Call-ID, committed chunk by chunk,
exact counts, no duplicate under concurrent overlapping imports, and the caller's transaction kept
alone when it already wrote something (no wait cycle through the client)."""

from __future__ import annotations

import threading
from pathlib import Path

import psycopg
import pytest
from cdr_helpers import build_world, cdr_rows, one, write_csv

from warp.cdr import ingest
from warp.cdr.ingest import IngestResult, import_file
from warp.db import tenant

STAFF = tenant.Context(staff=True, actor_type="SYSTEM")


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> dict[int, list[tuple[bool, str]]]:
    """Every file over the helpers, chunks of 7; records (own connection?, Call-ID) per loader."""
    monkeypatch.setattr(ingest, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(ingest, "CHUNK_ROWS", 7)
    seen: dict[int, list[tuple[bool, str]]] = {}
    put = ingest._Loader.put

    def record(self: ingest._Loader, rows: list[tuple[str, str]]) -> None:
        seen.setdefault(id(self), []).extend(
            (self.settings is not None, line.split("\t")[2]) for _, line in rows
        )
        put(self, rows)

    monkeypatch.setattr(ingest._Loader, "put", record)
    return seen


def test_split_by_call_id_commits_chunks_and_counts_exactly(
    db_url: str, tmp_path: Path, loads: dict[int, list[tuple[bool, str]]]
) -> None:
    with psycopg.connect(db_url, autocommit=True) as admin:
        build_world(admin)
    rows = cdr_rows(60)
    rows[10][7] = "99"  # line 12: bad SIP code
    rows[20][4] = "2001:db8::1"  # line 22: IPv6, full rules (caller's transaction), unidentified
    path = write_csv(tmp_path / "two.csv", [*rows, *rows[5:9], rows[30], rows[30]])  # 6 duplicates
    with psycopg.connect(db_url) as conn, psycopg.connect(db_url, autocommit=True) as other:
        with tenant.transaction(conn, STAFF):
            result = import_file(conn, path)
            # the fast path's chunks are committed already (the two full-rules lines are not)
            assert one(other, "SELECT count(*) FROM cdr.raw_cdr") == 58
        assert (result.rows, result.inserted, result.duplicates, result.bad) == (66, 59, 6, 1)
        assert [line for _, line, _ in result.problems] == [12]
        assert result.unidentified == 12 + 1  # every 5th row (192.0.2.1) and the IPv6 one
    # two loaders, both on connections of their own, each Call-ID (and its duplicates) on one of them
    assert len(loads) == 2 and all(own for calls in loads.values() for own, _ in calls)
    first, second = ({call for _, call in calls} for calls in loads.values())
    assert first and second and not first & second
    assert sum(len(calls) for calls in loads.values()) == 66 - 2  # all but the two full-rules lines
    with psycopg.connect(db_url, autocommit=True) as check:
        assert one(check, "SELECT count(*) FROM cdr.raw_cdr") == 59
        assert one(check, "SELECT count(DISTINCT (call_id, start_time)) FROM cdr.raw_cdr") == 59
        assert one(check, "SELECT count(*) FROM cdr.raw_cdr WHERE trunk_identified") == 59 - 13
        assert one(check, "SELECT count(*) FROM cdr.raw_cdr WHERE account_id IS NOT NULL") == 59 - 13


def test_concurrent_overlapping_imports_count_exactly_and_store_once(
    db_url: str, tmp_path: Path, loads: dict[int, list[tuple[bool, str]]]
) -> None:
    with psycopg.connect(db_url, autocommit=True) as admin:
        build_world(admin)
    rows = cdr_rows(900)
    # the same CDRs in opposite orders: the loaders of the two imports wait on each other's rows
    a = write_csv(tmp_path / "a.csv", rows[:600])
    b = write_csv(tmp_path / "b.csv", [*reversed(rows[300:]), *rows[200:300]])
    results: dict[str, IngestResult] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def run(path: Path) -> None:
        try:
            with psycopg.connect(db_url) as conn:
                start.wait()
                with tenant.transaction(conn, STAFF):
                    results[path.name] = import_file(conn, path)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(p,)) for p in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors and not any(t.is_alive() for t in threads)
    ra, rb = results["a.csv"], results["b.csv"]
    assert (ra.rows, rb.rows) == (600, 700)
    assert ra.inserted + ra.duplicates == 600 and rb.inserted + rb.duplicates == 700
    assert ra.inserted + rb.inserted == 900  # every CDR stored by exactly one of them
    assert len(loads) == 4
    with psycopg.connect(db_url, autocommit=True) as check:
        assert one(check, "SELECT count(*) FROM cdr.raw_cdr") == 900
        assert one(check, "SELECT count(DISTINCT (call_id, start_time)) FROM cdr.raw_cdr") == 900
        total = float(one(check, "SELECT sum(duration) FROM cdr.raw_cdr"))
    assert total == pytest.approx(sum(float(r[2]) for r in rows))


def test_a_transaction_that_already_wrote_loads_on_its_own_connection(
    db_url: str, tmp_path: Path, loads: dict[int, list[tuple[bool, str]]]
) -> None:
    with psycopg.connect(db_url, autocommit=True) as admin:
        build_world(admin)
    rows = cdr_rows(40)
    first = write_csv(tmp_path / "first.csv", rows[:20])
    more = write_csv(tmp_path / "more.csv", rows[10:])
    with psycopg.connect(db_url) as conn, psycopg.connect(db_url, autocommit=True) as other:
        with tenant.transaction(conn, STAFF):
            conn.execute("UPDATE accounts.accounts SET name = name || '!' WHERE ban = 'ACME'")
            result = import_file(conn, first)
            # the caller holds a row lock: a helper waiting on it would wait for the caller, who
            # waits for the helper; so this file stays in the caller's transaction
            assert one(other, "SELECT count(*) FROM cdr.raw_cdr") == 0
            again = import_file(conn, more)
        assert (result.inserted, again.inserted, again.duplicates) == (20, 20, 10)
    assert loads and all(not own for calls in loads.values() for own, _ in calls)
    with psycopg.connect(db_url, autocommit=True) as check:
        assert one(check, "SELECT count(*) FROM cdr.raw_cdr") == 40


def test_fast_path_ids_are_version_7_and_grow_in_load_order(db_url: str, tmp_path: Path) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        build_world(conn)
        rows = cdr_rows(30)
        rows[4][7] = "99"  # bad line
        rows[8][4] = "2001:db8::1"  # full rules: the column default's id
        import_file(conn, write_csv(tmp_path / "ids.csv", rows))
        ids = conn.execute("SELECT id::text, source_line FROM cdr.raw_cdr ORDER BY source_line").fetchall()
    assert len(ids) == 29
    fast = [i for i, line in ids if line != 10]
    assert all(i[14] == "7" and i[19] in "89ab" for i in fast)
    assert fast == sorted(fast) and len(set(fast)) == 28  # one chunk: numbered in file order
    assert next(i for i, line in ids if line == 10)[14] == "4"


def test_a_repeatable_read_transaction_loads_on_its_own_connection(
    db_url: str, tmp_path: Path, loads: dict[int, list[tuple[bool, str]]]
) -> None:
    with psycopg.connect(db_url, autocommit=True) as admin:
        build_world(admin)
    path = write_csv(tmp_path / "rr.csv", cdr_rows(20))
    with psycopg.connect(db_url) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        with tenant.transaction(conn, STAFF):
            # its snapshot would not see rows the helpers commit later
            assert import_file(conn, path).inserted == 20
            assert one(conn, "SELECT count(*) FROM cdr.raw_cdr") == 20
    assert loads and all(not own for calls in loads.values() for own, _ in calls)
