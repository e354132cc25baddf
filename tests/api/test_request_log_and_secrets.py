"""The request log gets every request (sanitized); afterwards no secret is anywhere in the database."""

from __future__ import annotations

import psycopg
import pyotp
from fastapi.testclient import TestClient
from psycopg import sql

from warp.api.app import create_app
from warp_auth_fixtures import PASSWORD, TEST_POLICY, World, bearer

TEXT_TYPES = ("text", "varchar", "bpchar", "json", "jsonb", "_text", "_varchar", "bytea", "inet", "_inet")


def scan(url: str, secrets: list[str]) -> list[str]:
    """Every (table.column, secret) where a column's text contains a secret."""
    hits = []
    with psycopg.connect(url) as conn:
        columns = conn.execute(
            """
            SELECT n.nspname, c.relname, a.attname, t.typname
            FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_type t ON t.oid = a.atttypid
            WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND a.attnum > 0 AND NOT a.attisdropped
              AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND t.typname = ANY(%s)
            """,
            (list(TEXT_TYPES),),
        ).fetchall()
        assert len(columns) > 100
        patterns = [f"%{s}%" for s in secrets]
        for schema, table, column, typname in columns:
            expr = (
                sql.SQL("convert_from({}, 'SQL_ASCII')") if typname == "bytea" else sql.SQL("{}::text")
            ).format(sql.Identifier(column))
            found = conn.execute(
                sql.SQL(
                    "SELECT s FROM unnest(%s::text[]) s WHERE EXISTS (SELECT 1 FROM {} WHERE {} LIKE s)"
                ).format(sql.Identifier(schema, table), expr),
                (patterns,),
            ).fetchall()
            hits += [f"{schema}.{table}.{column}: {row[0][1:9]}..." for row in found]
    return hits


def test_requests_are_logged_and_no_secret_is_stored_in_clear(world: World) -> None:
    app = create_app(world.url, policy=TEST_POLICY, pool_size=4)
    secrets = [PASSWORD, "another very secret password"]
    world.user(world.acme, "root@acme.example")
    with TestClient(app, client=("198.51.100.7", 1)) as client:
        r = client.post("/v1/auth/login", json={"email": "root@acme.example", "password": PASSWORD})
        token = r.json()["token"]
        secrets.append(token)
        r = client.post("/v1/api-keys", headers=bearer(token), json={"name": "made over http"})
        key = r.json()["key"]
        secrets += [key, key.rsplit("_", 1)[1]]
        cli_key = world.key(world.globex, ["accounts:read"])
        secrets += [cli_key, cli_key.rsplit("_", 1)[1]]
        client.get("/v1/me", headers=bearer(cli_key) | {"X-Request-ID": "trace-me-1"})
        r = client.post(
            "/v1/users",
            headers=bearer(key),
            json={
                "email": "pw@acme.example",
                "role": "read_only",
                "password": "another very secret password",
            },
        )
        assert r.status_code == 201
        r = client.post("/v1/me/totp", headers=bearer(token))
        seed = r.json()["secret"]
        secrets.append(seed)
        r = client.post("/v1/me/totp/confirm", headers=bearer(token), json={"code": pyotp.TOTP(seed).now()})
        secrets += r.json()["backup_codes"]
        client.post("/v1/auth/login", json={"email": "root@acme.example", "password": "wrong " + PASSWORD})
        client.post("/v1/auth/logout", headers=bearer(token))
        written = app.state.request_log.flush()
    assert written >= 0
    with psycopg.connect(world.url) as conn:
        logged = conn.execute(
            "SELECT method, path, status_code, request_id, account_id, api_key_id, host(client_ip) "
            "FROM audit.api_request_log ORDER BY requested_at"
        ).fetchall()
        traced = conn.execute(
            "SELECT status_code, account_id FROM audit.api_request_log WHERE request_id = 'trace-me-1'"
        ).fetchall()
    assert len(logged) == 8  # every request above, failures included
    assert ("POST", "/v1/auth/login", 200) in [row[:3] for row in logged]
    assert traced == [(200, world.globex)]
    assert {row[6] for row in logged} == {"198.51.100.7"}
    assert scan(world.url, secrets) == []


def test_scan_finds_a_secret_when_there_is_one(world: World) -> None:
    """The scan itself can fail: a clear value planted in a jsonb column is found."""
    with psycopg.connect(world.url, autocommit=True) as conn:
        conn.execute(
            "UPDATE accounts.accounts SET metadata = '{\"note\": \"planted-secret-123\"}' WHERE ban = 'ACME'"
        )
    assert sorted(scan(world.url, ["planted-secret-123"])) == [
        "accounts.accounts.metadata: planted-...",
        "audit.audit_log.new_row: planted-...",  # the audit trail copied it too
    ]
