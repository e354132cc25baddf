"""`warp numbers import`: every bad row reported by line, good rows loaded, re-import changes nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from warp.cli.main import app

GOOD_AND_BAD = """number,number_type,npa,nxx,rate_center,state,lata,ocn,carrier
+13035550100,DID,303,555,DENVER,CO,656,1234,acme
(303) 555-0101,DID,,,DENVER,co,656,1234,
303555010,DID,303,555,DENVER,CO,656,1234,
+13035550102,DID,304,555,DENVER,CO,656,1234,
+13035550103,FAX,303,555,DENVER,CO,656,1234,
+18335550100,TOLL_FREE,833,555,,,,,
+13035550104,TOLL_FREE,303,555,DENVER,CO,656,1234,
+13035550100,DID,303,555,DENVER,CO,656,1234,
+13035550105,DID,303,555,DENVER,Colorado,656,1234,
+11035550106,DID,103,555,DENVER,CO,656,1234,
not-a-number,DID,303,555,DENVER,CO,656,1234,
+13035550107,DID,303,555,DENVER,CO,656,1234,x,extra
"""


@pytest.fixture
def runner(db_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("WARP_DATABASE_URL", db_url)
    return CliRunner()


def _import(runner: CliRunner, path: Path) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(app, ["numbers", "import", str(path), "--json"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, json.loads(result.stdout)


def test_import_reports_every_bad_line_and_loads_the_good(
    runner: CliRunner, conn: psycopg.Connection[Any], tmp_path: Path
) -> None:
    path = tmp_path / "numbers.csv"
    path.write_text(GOOD_AND_BAD)
    code, out = _import(runner, path)
    assert code == 1
    lines = {e["line"]: e["reason"] for e in out["errors"]}
    assert sorted(lines) == [4, 5, 6, 8, 9, 10, 11, 12, 13]
    assert lines[4].startswith("number:")
    assert lines[5].startswith("npa:")
    assert lines[6].startswith("number_type:")
    assert lines[8].startswith("number_type:") and "not a toll-free" in lines[8]
    assert "already on line 2" in lines[9]
    assert lines[10].startswith("state:")
    assert "NANP" in lines[11]
    assert lines[12].startswith("number:")
    assert "more fields" in lines[13]
    assert (out["rows"], out["inserted"], out["unchanged"]) == (12, 3, 0)
    rows = conn.execute(
        "SELECT number, number_type, npa, nxx, state, status, metadata FROM numbers.inventory ORDER BY number"
    ).fetchall()
    assert rows == [
        ("+13035550100", "DID", "303", "555", "CO", "AVAILABLE", {"carrier": "acme"}),
        ("+13035550101", "DID", "303", "555", "CO", "AVAILABLE", {}),
        ("+18335550100", "TOLL_FREE", "833", "555", None, "AVAILABLE", {}),
    ]


def test_reimport_changes_nothing(runner: CliRunner, conn: psycopg.Connection[Any], tmp_path: Path) -> None:
    path = tmp_path / "numbers.csv"
    path.write_text(
        "number,number_type,npa,nxx,rate_center,state,lata,ocn\n"
        + "".join(f"+1415555{i:04d},DID,415,555,SNFC,CA,722,9740\n" for i in range(2500))
    )
    code, out = _import(runner, path)
    assert (code, out["inserted"], out["errors"]) == (0, 2500, [])
    before = conn.execute("SELECT count(*), max(updated_at) FROM numbers.inventory").fetchone()
    audit = conn.execute("SELECT count(*) FROM audit.audit_log").fetchone()
    code, out = _import(runner, path)
    assert (code, out["inserted"], out["unchanged"], out["errors"]) == (0, 0, 2500, [])
    assert conn.execute("SELECT count(*), max(updated_at) FROM numbers.inventory").fetchone() == before
    assert conn.execute("SELECT count(*) FROM audit.audit_log").fetchone() == audit


def test_missing_header_column_is_one_clear_error(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "numbers.csv"
    path.write_text("number,npa\n+13035550100,303\n")
    result = runner.invoke(app, ["numbers", "import", str(path)])
    assert result.exit_code != 0
    assert "number_type" in str(result.exception) or "number_type" in result.output
