"""Changing a toll-free number's RespOrg after import: service, `warp numbers resp-org`, staff API, audit."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from numbers_fixtures import STAFF, tenant_ctx
from psycopg.rows import dict_row
from typer.testing import CliRunner

from warp.cli.main import app
from warp.db import tenant
from warp.numbers import toll_free
from warp.numbers.errors import InvalidNumber, NumberNotFound, NumbersError, NumbersForbidden
from warp_auth_fixtures import World, bearer, client, seeded_url, world  # noqa: F401

TF = "+18335550100"
TF_BARE = "+18445550101"
DID = "+13035550100"


def _load(conn: psycopg.Connection[Any]) -> None:
    conn.execute(
        "INSERT INTO numbers.inventory (number, number_type, npa, nxx) VALUES "
        "(%s, 'TOLL_FREE', '833', '555'), (%s, 'TOLL_FREE', '844', '555'), (%s, 'DID', '303', '555')",
        (TF, TF_BARE, DID),
    )
    conn.execute(
        "INSERT INTO numbers.toll_free (inventory_id, resp_org_id, resp_org_name) "
        "SELECT id, 'OLD01', 'Old RespOrg' FROM numbers.inventory WHERE number = %s",
        (TF,),
    )


def _audit(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT action, old_row->>'resp_org_id', new_row->>'resp_org_id', new_row->>'resp_org_name', actor_type "
        "FROM audit.audit_log WHERE schema_name = 'numbers' AND table_name = 'toll_free' ORDER BY created_at, id"
    ).fetchall()


@pytest.fixture
def staff_conn(db_url: str, conn: psycopg.Connection[Any]) -> Any:
    _load(conn)
    with psycopg.connect(db_url, row_factory=dict_row) as c:
        yield c


def test_service_changes_resp_org_keeps_or_clears_name_and_audits(
    staff_conn: psycopg.Connection[Any], conn: psycopg.Connection[Any]
) -> None:
    with tenant.transaction(staff_conn, STAFF):
        tf = toll_free.set_resp_org(staff_conn, TF, " new02 ")
    assert (tf.resp_org_id, tf.resp_org_name) == ("NEW02", None)  # a new RespOrg drops the old one's name
    with tenant.transaction(staff_conn, STAFF):
        tf = toll_free.set_resp_org(staff_conn, TF, "NEW02", resp_org_name="  New   Carrier ")
    assert (tf.resp_org_id, tf.resp_org_name) == ("NEW02", "New Carrier")
    with tenant.transaction(staff_conn, STAFF):
        tf = toll_free.set_resp_org(staff_conn, TF, "NEW02")  # same ID, name left out: kept, no change
    assert tf.resp_org_name == "New Carrier"
    with tenant.transaction(staff_conn, STAFF):
        tf = toll_free.set_resp_org(staff_conn, TF, "NEW02", resp_org_name=None)
    assert tf.resp_org_name is None
    # A toll-free number imported without a RespOrg gets its toll_free row now.
    with tenant.transaction(staff_conn, STAFF):
        tf = toll_free.set_resp_org(staff_conn, TF_BARE, "ABC12", resp_org_name="ABC")
    assert (tf.number, tf.resp_org_id, tf.sms800_status) == (TF_BARE, "ABC12", "SPARE")
    # Every real change is in the audit log with the acting staff; the no-op wrote nothing.
    assert _audit(conn) == [
        ("INSERT", None, "OLD01", "Old RespOrg", "SYSTEM"),
        ("UPDATE", "OLD01", "NEW02", None, "STAFF"),
        ("UPDATE", "NEW02", "NEW02", "New Carrier", "STAFF"),
        ("UPDATE", "NEW02", "NEW02", None, "STAFF"),
        ("INSERT", None, "ABC12", "ABC", "STAFF"),
    ]


@pytest.mark.parametrize(
    ("number", "code", "error", "field"),
    [
        (TF, "ABC1", InvalidNumber, "resp_org_id"),
        (TF, "ABC123", InvalidNumber, "resp_org_id"),
        (TF, "AB-01", InvalidNumber, "resp_org_id"),
        (TF, "", InvalidNumber, "resp_org_id"),
        (DID, "ABC01", InvalidNumber, "not toll-free"),
        ("+18885550199", "ABC01", NumberNotFound, "not in inventory"),
        ("8335550100", "ABC01", InvalidNumber, "number"),
    ],
)
def test_service_refuses_bad_input(
    staff_conn: psycopg.Connection[Any], number: str, code: str, error: type[Exception], field: str
) -> None:
    with pytest.raises(error, match=field), tenant.transaction(staff_conn, STAFF):
        toll_free.set_resp_org(staff_conn, number, code)
    with tenant.transaction(staff_conn, STAFF):
        assert toll_free.get_toll_free(staff_conn, TF).resp_org_id == "OLD01"


def test_service_refuses_tenants_and_long_names(
    staff_conn: psycopg.Connection[Any], conn: psycopg.Connection[Any]
) -> None:
    row = conn.execute(
        "INSERT INTO accounts.accounts (ban, name, account_type) VALUES ('T1', 'T1', 'CUSTOMER') RETURNING id"
    ).fetchone()
    assert row is not None
    with pytest.raises(NumbersForbidden), tenant.transaction(staff_conn, tenant_ctx(row[0])):
        toll_free.set_resp_org(staff_conn, TF, "NEW02")
    with pytest.raises(InvalidNumber, match="resp_org_name"), tenant.transaction(staff_conn, STAFF):
        toll_free.set_resp_org(staff_conn, TF, "NEW02", resp_org_name="x" * 101)
    assert conn.execute("SELECT resp_org_id FROM numbers.toll_free").fetchall() == [("OLD01",)]


def test_cli_resp_org(db_url: str, conn: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    _load(conn)
    monkeypatch.setenv("WARP_DATABASE_URL", db_url)
    runner = CliRunner()
    result = runner.invoke(app, ["numbers", "resp-org", TF, "cli01", "--name", "CLI Org", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert (out["number"], out["resp_org_id"], out["resp_org_name"]) == (TF, "CLI01", "CLI Org")
    result = runner.invoke(app, ["numbers", "resp-org", TF, "CLI01", "--clear-name"])
    assert result.exit_code == 0 and "RespOrg CLI01" in result.stdout
    result = runner.invoke(app, ["numbers", "resp-org", TF, "BAD"])
    assert isinstance(result.exception, InvalidNumber) and "resp_org_id" in str(result.exception)
    result = runner.invoke(app, ["numbers", "resp-org", DID, "CLI02"])
    assert isinstance(result.exception, InvalidNumber) and "not toll-free" in str(result.exception)
    result = runner.invoke(app, ["numbers", "resp-org", TF, "CLI02", "--name", "X", "--clear-name"])
    assert isinstance(result.exception, NumbersError) and "--clear-name" in str(result.exception)
    assert conn.execute("SELECT resp_org_id, resp_org_name FROM numbers.toll_free").fetchall() == [
        ("CLI01", None)
    ]
    assert [r[0] for r in _audit(conn)] == ["INSERT", "UPDATE", "UPDATE"]


def _staff(client: TestClient, w: World) -> dict[str, str]:  # noqa: F811
    w.user(None, "ops@warp.example", role="staff_admin")
    r = client.post(
        "/v1/auth/login", json={"email": "ops@warp.example", "password": "correct horse battery staple"}
    )
    assert r.status_code == 200, r.text
    return bearer(r.json()["token"])


def test_admin_api_resp_org(client: TestClient, world: World) -> None:  # noqa: F811
    with psycopg.connect(world.url, autocommit=True) as c:
        _load(c)
    customer = bearer(world.key(world.globex, scopes=["numbers:read", "numbers:write", "admin"]))
    url = f"/v1/admin/toll-free/{TF}"
    assert client.patch(url, json={"resp_org_id": "CUS01"}, headers=customer).status_code == 403
    assert client.get(url, headers=customer).status_code == 403
    staff = _staff(client, world)
    r = client.get(url, headers=staff)
    assert r.status_code == 200 and r.json()["resp_org_id"] == "OLD01"
    r = client.patch(url, json={"resp_org_id": "api01", "resp_org_name": "API Org"}, headers=staff)
    assert r.status_code == 200, r.text
    assert (r.json()["resp_org_id"], r.json()["resp_org_name"]) == ("API01", "API Org")
    r = client.patch(url, json={"resp_org_id": "API01"}, headers=staff)  # name left out: kept
    assert r.json()["resp_org_name"] == "API Org"
    r = client.patch(url, json={"resp_org_id": "API01", "resp_org_name": None}, headers=staff)
    assert r.json()["resp_org_name"] is None
    r = client.patch(url, json={"resp_org_id": "TOOLONG"}, headers=staff)
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert "resp_org_id" in r.text
    r = client.patch(f"/v1/admin/toll-free/{DID}", json={"resp_org_id": "API02"}, headers=staff)
    assert r.status_code == 422 and "not toll-free" in r.json()["detail"]
    r = client.patch("/v1/admin/toll-free/+18885550199", json={"resp_org_id": "API02"}, headers=staff)
    assert r.status_code == 404
    assert client.get(f"/v1/admin/toll-free/{TF_BARE}", headers=staff).status_code == 404
    # Customers see the new RespOrg in search results.
    r = client.get("/v1/available-numbers", params={"number_type": "TOLL_FREE"}, headers=customer)
    assert {n["number"]: n["resp_org_id"] for n in r.json()}[TF] == "API01"
    with psycopg.connect(world.url) as c:
        rows = c.execute(
            "SELECT action, new_row->>'resp_org_id', actor_type, actor_id IS NOT NULL FROM audit.audit_log "
            "WHERE table_name = 'toll_free' AND action = 'UPDATE' ORDER BY created_at, id"
        ).fetchall()
    assert rows == [("UPDATE", "API01", "STAFF", True), ("UPDATE", "API01", "STAFF", True)]


BULK_BAD = """number,resp_org_id,resp_org_name
+18335550100,NEW01,New Org
(844) 555-0101,new02,
+13035550100,NEW03,
+18885550199,NEW04,
+18335550100,NEW05,
+18775550100,TOOLONG,
12,NEW06,
"""


def test_bulk_resp_org_is_all_or_nothing_with_line_errors(
    staff_conn: psycopg.Connection[Any], conn: psycopg.Connection[Any]
) -> None:
    with tenant.transaction(staff_conn, STAFF):
        result = toll_free.set_resp_orgs_from_csv(staff_conn, io.StringIO(BULK_BAD))
    assert (result.rows, result.changed) == (7, 0)
    errors = {e.line: e.reason for e in result.errors}
    assert sorted(errors) == [4, 5, 6, 7, 8]
    assert "+13035550100 is a DID, not toll-free" in errors[4]
    assert "+18885550199 is not in inventory" in errors[5]
    assert "already on line 2" in errors[6]
    assert errors[7].startswith("resp_org_id:") and errors[8].startswith("number:")
    assert conn.execute("SELECT resp_org_id FROM numbers.toll_free").fetchall() == [("OLD01",)]
    assert [r[0] for r in _audit(conn)] == ["INSERT"]

    good = "number,resp_org_id,resp_org_name\n+18335550100,NEW01,New Org\n(844) 555-0101,new02,\n"
    with tenant.transaction(staff_conn, STAFF):
        result = toll_free.set_resp_orgs_from_csv(staff_conn, io.StringIO(good))
    assert (result.rows, result.changed, result.unchanged, result.errors) == (2, 2, 0, [])
    rows = conn.execute(
        "SELECT i.number, t.resp_org_id, t.resp_org_name FROM numbers.toll_free t "
        "JOIN numbers.inventory i ON i.id = t.inventory_id ORDER BY i.number"
    ).fetchall()
    assert rows == [(TF, "NEW01", "New Org"), (TF_BARE, "NEW02", None)]
    # Again: nothing to change, nothing audited. Without the name column, names are kept.
    with tenant.transaction(staff_conn, STAFF):
        result = toll_free.set_resp_orgs_from_csv(staff_conn, io.StringIO(good))
        assert (result.changed, result.unchanged) == (0, 2)
        result = toll_free.set_resp_orgs_from_csv(
            staff_conn, io.StringIO(f"number,resp_org_id\n{TF},NEW01\n")
        )
        assert (result.changed, result.unchanged) == (0, 1)
    audited = _audit(conn)  # the last two rows come from one transaction (same created_at): any order
    assert audited[0][0] == "INSERT" and sorted(r[0] for r in audited[1:]) == ["INSERT", "UPDATE"]
    with pytest.raises(InvalidNumber, match="missing column"), tenant.transaction(staff_conn, STAFF):
        toll_free.set_resp_orgs_from_csv(staff_conn, io.StringIO("number,resp_org\n"))


def test_cli_resp_org_import(
    db_url: str, conn: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _load(conn)
    monkeypatch.setenv("WARP_DATABASE_URL", db_url)
    runner = CliRunner()
    bad, good = tmp_path / "bad.csv", tmp_path / "good.csv"
    bad.write_text(BULK_BAD)
    good.write_text(f"number,resp_org_id\n{TF},CLI01\n{TF_BARE},CLI02\n")
    result = runner.invoke(app, ["numbers", "resp-org-import", str(bad), "--json"])
    assert result.exit_code == 1
    assert [e["line"] for e in json.loads(result.stdout)["errors"]] == [4, 5, 6, 7, 8]
    result = runner.invoke(app, ["numbers", "resp-org-import", str(bad)])
    assert result.exit_code == 1 and f"{bad}:5: number: +18885550199 is not in inventory" in result.output
    assert "nothing changed" in result.output
    result = runner.invoke(app, ["numbers", "resp-org-import", str(good), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"rows": 2, "changed": 2, "unchanged": 0, "errors": []}
    assert conn.execute("SELECT resp_org_id FROM numbers.toll_free ORDER BY resp_org_id").fetchall() == [
        ("CLI01",),
        ("CLI02",),
    ]
