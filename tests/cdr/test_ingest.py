"""CDR ingest: Kamailio CSV and JSON lines, dedup on (Call-ID, start), bad lines, unidentified trunks."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cdr_helpers import HEADER, build_world, cdr_rows, one, write_csv

from warp.cdr.errors import InvalidCdrInput
from warp.cdr.ingest import import_file, import_files
from warp.db import tenant
from warp.db.tenant import Context


@pytest.fixture
def staff(conn: psycopg.Connection[Any]) -> Any:
    build_world(conn)
    conn.autocommit = False
    tenant.apply(conn, Context(staff=True, actor_type="SYSTEM"))
    return conn


def test_import_identifies_trunks_and_keeps_unidentified(
    staff: psycopg.Connection[Any], tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "a.csv", cdr_rows(100))
    result = import_file(staff, path)
    assert (result.rows, result.inserted, result.duplicates, result.bad) == (100, 100, 0, 0)
    assert result.unidentified == 20
    by_ban = dict(
        staff.execute(
            "SELECT coalesce(a.ban, '-'), count(*) FROM cdr.raw_cdr r LEFT JOIN accounts.accounts a ON a.id = r.account_id GROUP BY 1"
        ).fetchall()
    )
    assert by_ban == {"ACME": 40, "GLOBEX": 40, "-": 20}
    assert one(staff, "SELECT count(*) FROM cdr.failed_calls") == 20
    assert one(staff, "SELECT count(*) FROM cdr.failed_calls WHERE reason = 'UNKNOWN_SOURCE_IP'") == 20
    row = staff.execute(
        "SELECT ani, dnis, raw_ani, source_file, source_line, carrier_trunk_id IS NOT NULL, start_time "
        "FROM cdr.raw_cdr WHERE call_id = 'call-1@switch'"
    ).fetchone()
    assert row is not None
    assert row[0] == "+12125550199" and row[1] == "+12125550101" and row[2] == "sip:+12125550199@10.1.0.7"
    assert row[3] == "a.csv" and row[4] == 3 and row[5] is True
    assert row[6].isoformat() == "2026-11-10T12:00:01+00:00"


def test_reimport_and_overlap_count_duplicates(staff: psycopg.Connection[Any], tmp_path: Path) -> None:
    rows = cdr_rows(50)
    a = write_csv(tmp_path / "a.csv", rows[:30])
    b = write_csv(tmp_path / "b.csv", rows[20:])
    first = import_files(staff, [a, b])
    assert (first.inserted, first.duplicates) == (50, 10)
    again = import_files(staff, [a, b])
    assert (again.inserted, again.duplicates) == (0, 60)
    assert one(staff, "SELECT count(*) FROM cdr.raw_cdr") == 50
    # same Call-ID at another start time is another CDR
    other = [list(r) for r in rows[:1]]
    other[0][0] = "2026-11-10 13:00:00"
    assert import_file(staff, write_csv(tmp_path / "c.csv", other)).inserted == 1


def test_bad_lines_reported_rest_loaded(staff: psycopg.Connection[Any], tmp_path: Path) -> None:
    rows = cdr_rows(6)
    rows[1][0] = "2026-02-30 10:00:00"  # line 3
    rows[2][2] = "ten"  # line 4
    rows[3][4] = "not-an-ip"  # line 5
    rows[4][7] = "99"  # line 6
    path = write_csv(tmp_path / "bad.csv", rows)
    with path.open("a") as fh:
        fh.write('2026-11-10 12:30:00,"unterminated\n')  # line 8: ragged / malformed
    result = import_file(staff, path)
    lines = sorted({(f, line) for f, line, _ in result.problems})
    assert lines == [("bad.csv", 3), ("bad.csv", 4), ("bad.csv", 5), ("bad.csv", 6), ("bad.csv", 8)]
    messages = " ".join(m for _, _, m in result.problems)
    assert (
        "start_time" in messages
        and "duration" in messages
        and "src_ip" in messages
        and "sip_code" in messages
    )
    assert result.inserted == 2 and result.bad == 5
    assert one(staff, "SELECT count(*) FROM cdr.raw_cdr") == 2


def test_header_problems_refuse_file(staff: psycopg.Connection[Any], tmp_path: Path) -> None:
    path = write_csv(tmp_path / "h.csv", [], header=["start_time", "callid"])
    with pytest.raises(InvalidCdrInput, match=r"h.csv: line 1: missing required column duration"):
        import_file(staff, path)


def test_timezone_and_extra_columns(staff: psycopg.Connection[Any], tmp_path: Path) -> None:
    rows = [[*r, "PCMU"] for r in cdr_rows(1)]
    path = write_csv(tmp_path / "tz.csv", rows, header=[*HEADER, "codec"])
    import_file(staff, path, tz="America/New_York")
    start, extra = staff.execute("SELECT start_time, extra FROM cdr.raw_cdr").fetchone()  # type: ignore[misc]
    assert start.isoformat() == "2026-11-10T17:00:00+00:00"
    assert extra == {"codec": "PCMU"}


def test_jsonl(staff: psycopg.Connection[Any], tmp_path: Path) -> None:
    lines = [json.dumps(dict(zip(HEADER, r, strict=True))) for r in cdr_rows(4)]
    lines.insert(2, "{not json")
    lines.append(
        json.dumps({**dict(zip(HEADER, cdr_rows(5)[4], strict=True)), "duration": 12.5, "sip_code": 200})
    )
    path = tmp_path / "cdrs.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = import_file(staff, path, fmt="jsonl")
    assert [(f, line) for f, line, _ in result.problems] == [("cdrs.jsonl", 3)]
    assert result.inserted == 5
    assert one(staff, "SELECT duration FROM cdr.raw_cdr WHERE call_id = 'call-4@switch'") == Decimal("12.500")
    assert one(staff, "SELECT count(*) FROM cdr.raw_cdr WHERE ingest_source = 'JSONL'") == 5
