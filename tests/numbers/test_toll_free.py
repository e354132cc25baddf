"""Toll-free data: RespOrg from the import into numbers.toll_free, shown on search and DID views."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from numbers_fixtures import tenant_ctx
from psycopg.rows import dict_row
from typer.testing import CliRunner

from warp.cli.main import app
from warp.db import tenant
from warp.numbers import service
from warp.numbers.service import SearchFilter

CSV = """number,number_type,npa,nxx,rate_center,state,lata,ocn,resp_org,resp_org_name
+18335550100,TOLL_FREE,833,555,,,,,warp1,WARP Telecom
+18445550101,TOLL_FREE,844,555,,,,,,
+18665550102,TOLL_FREE,866,555,,,,,BAD,
+13035550100,DID,303,555,DENVER,CO,656,1234,WARP1,
+18775550103,TOLL_FREE,877,555,,,,,,Orphan name
+18885550104,TOLL_FREE,888,555,,,,,XYZ99,
"""


@pytest.fixture
def runner(db_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("WARP_DATABASE_URL", db_url)
    return CliRunner()


def _import(runner: CliRunner, path: Path) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(app, ["numbers", "import", str(path), "--json"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, json.loads(result.stdout)


def test_import_creates_toll_free_rows_with_resp_org(
    runner: CliRunner, conn: psycopg.Connection[Any], tmp_path: Path
) -> None:
    path = tmp_path / "tf.csv"
    path.write_text(CSV)
    code, out = _import(runner, path)
    assert code == 1
    errors = {e["line"]: e["reason"] for e in out["errors"]}
    assert sorted(errors) == [4, 5, 6]
    assert errors[4].startswith("resp_org:") and "BAD" in errors[4]
    assert errors[5].startswith("resp_org:") and "not toll-free" in errors[5]
    assert errors[6].startswith("resp_org_name:")
    rows = conn.execute(
        "SELECT i.number, t.resp_org_id, t.resp_org_name, t.sms800_status, i.metadata FROM numbers.inventory i "
        "LEFT JOIN numbers.toll_free t ON t.inventory_id = i.id ORDER BY i.number"
    ).fetchall()
    assert rows == [
        ("+18335550100", "WARP1", "WARP Telecom", "SPARE", {}),
        ("+18445550101", None, None, None, {}),
        ("+18885550104", "XYZ99", None, "SPARE", {}),
    ]
    # Re-importing changes nothing, toll-free data included.
    before = conn.execute("SELECT count(*), max(updated_at) FROM numbers.toll_free").fetchone()
    code, out = _import(runner, path)
    assert (out["inserted"], out["unchanged"]) == (0, 3)
    assert conn.execute("SELECT count(*), max(updated_at) FROM numbers.toll_free").fetchone() == before


def test_resp_org_on_search_and_did_views(
    runner: CliRunner, db_url: str, accounts: dict[str, uuid.UUID], tmp_path: Path
) -> None:
    path = tmp_path / "tf.csv"
    path.write_text(CSV)
    _import(runner, path)
    with (
        psycopg.connect(db_url, row_factory=dict_row) as c,
        tenant.transaction(c, tenant_ctx(accounts["ALPHA"])),
    ):
        found = service.search_available(c, SearchFilter(number_type="TOLL_FREE"))
        assert [(n.number, n.resp_org_id) for n in found] == [
            ("+18335550100", "WARP1"),
            ("+18445550101", None),
            ("+18885550104", "XYZ99"),
        ]
        found = service.search_available(c, SearchFilter(number_type="TOLL_FREE", contains="83355"))
        assert [(n.number, n.resp_org_id) for n in found] == [("+18335550100", "WARP1")]
        dids = service.order(c, ["+18335550100"])
        assert [(d.number, d.number_type, d.resp_org_id) for d in dids] == [
            ("+18335550100", "TOLL_FREE", "WARP1")
        ]
        d = service.get_did(c, "+18335550100")
        assert (d.number_type, d.resp_org_id) == ("TOLL_FREE", "WARP1")
        listed = service.list_dids(c, limit=10)
        assert [(x.number, x.resp_org_id) for x in listed] == [("+18335550100", "WARP1")]
