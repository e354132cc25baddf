"""A streaming read replica (pg_basebackup): rows written on the primary appear there, writes never go
there, and reporting reads use it when WARP_REPLICA_URL is set (primary when unreachable)."""

from __future__ import annotations

import time

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg.rows import dict_row

from ops_fixtures import replica_url, wait_for_replay
from warp.api.app import create_app
from warp.db import tenant
from warp.db.cluster import LocalCluster
from warp.reporting import service
from warp_auth_fixtures import STAFF, TEST_POLICY, World, bearer


def test_rows_replicate_and_the_replica_refuses_writes(db_url: str, replica: LocalCluster) -> None:
    standby = replica_url(replica, db_url)
    with psycopg.connect(db_url, autocommit=True) as primary:
        primary.execute("INSERT INTO accounts.accounts (ban, name) VALUES ('REPL-1', 'Replicated')")
    deadline = time.monotonic() + 30
    while True:
        try:
            with psycopg.connect(standby, autocommit=True) as r:
                if r.execute("SELECT name FROM accounts.accounts WHERE ban = 'REPL-1'").fetchone() == (
                    "Replicated",
                ):
                    assert r.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
                    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                        r.execute("INSERT INTO accounts.accounts (ban, name) VALUES ('REPL-2', 'x')")
                    break
        except psycopg.OperationalError:
            pass  # the database is still being replayed
        assert time.monotonic() < deadline, "row never reached the replica"
        time.sleep(0.1)


def test_reports_read_from_the_replica_and_writes_stay_on_the_primary(
    world: World, replica: LocalCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    standby = replica_url(replica, world.url)
    with psycopg.connect(world.url, row_factory=dict_row, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO cdr.raw_cdr (start_time, call_id, sip_code, duration, account_id) "
            "VALUES (now() - interval '1 hour', 'r-1', 200, 30, %s)",
            (world.acme,),
        )
        with tenant.transaction(conn, STAFF):
            service.refresh_all(conn)
    wait_for_replay(world.url, standby)
    monkeypatch.setenv("WARP_REPLICA_URL", standby)
    world.user(None, "ops@warp.example", role="staff_admin")
    with TestClient(create_app(world.url, policy=TEST_POLICY, pool_size=4)) as client:
        assert client.get("/ready").json()["reporting"] == {
            "target": "replica",
            "reason": "streaming replica",
        }
        token = client.post(
            "/v1/auth/login", json={"email": "ops@warp.example", "password": "correct horse battery staple"}
        ).json()["token"]  # a write (session row): done on the primary
        r = client.get("/v1/reports/traffic", headers=bearer(token))
        assert r.status_code == 200, r.text
        assert r.headers["X-Warp-Read-Source"] == "replica"
        assert [row["attempts"] for row in r.json()["data"]] == [1]
        # A write through the API lands on the primary (the replica would refuse it).
        created = client.post(
            "/v1/api-keys",
            headers=bearer(token),
            json={"account_id": str(world.globex), "scopes": ["cdr:read"]},
        )
        assert created.status_code == 201, created.text
        source = client.app.state.reporting  # type: ignore[attr-defined]
        with source.connection() as (conn, target), pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            assert target == "replica"
            conn.execute("DELETE FROM auth.api_keys")
        conn.rollback()
    with psycopg.connect(world.url) as primary:
        assert primary.execute(
            "SELECT count(*) FROM auth.api_keys WHERE account_id = %s", (world.globex,)
        ).fetchone() == (1,)


def test_unreachable_replica_falls_back_to_the_primary(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARP_REPLICA_URL", "postgresql://postgres@127.0.0.1:1/nowhere?connect_timeout=1")
    world.user(None, "ops@warp.example", role="staff_admin")
    with TestClient(create_app(world.url, policy=TEST_POLICY, pool_size=4)) as client:
        ready = client.get("/ready").json()["reporting"]
        assert ready["target"] == "primary" and ready["reason"].startswith("replica unreachable")
        token = client.post(
            "/v1/auth/login", json={"email": "ops@warp.example", "password": "correct horse battery staple"}
        ).json()["token"]
        r = client.get("/v1/reports/traffic", headers=bearer(token))
        assert r.status_code == 200 and r.headers["X-Warp-Read-Source"] == "primary"
