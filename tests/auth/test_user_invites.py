"""Invitations: an invited user gets a one-time token (stored only as SHA-256, expiring); accepting it
with a password activates the user, once."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import sql
from psycopg.rows import dict_row

from warp.api.app import create_app
from warp.auth import tokens, users
from warp.auth.errors import InvalidAuthInput
from warp.auth.users import InviteInvalid, InviteUsed
from warp_auth_fixtures import PASSWORD, TEST_POLICY, World, bearer

NEW_PASSWORD = "a long enough new password"
PROBLEM = "application/problem+json"


def _invite(client: TestClient, w: World, email: str = "new@acme.example") -> dict[str, Any]:
    admin = bearer(w.key(w.acme, ["users:read", "users:write"]))
    r = client.post("/v1/users", headers=admin, json={"email": email, "role": "read_only"})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def _login(client: TestClient, email: str, password: str) -> int:
    return client.post("/v1/auth/login", json={"email": email, "password": password}).status_code


def _user_row(w: World, user_id: str) -> dict[str, Any]:
    with psycopg.connect(w.url, row_factory=dict_row) as c:
        row = c.execute(
            "SELECT status, password_hash, metadata, password_changed_at FROM auth.users WHERE id = %s",
            (user_id,),
        ).fetchone()
    assert row is not None
    return row


def test_invite_accept_then_login_and_token_is_single_use(client: TestClient, world: World) -> None:
    created = _invite(client, world)
    token = created["invite_token"]
    assert created["status"] == "INVITED" and token.startswith("winv_") and created["invite_expires_at"]
    # Stored only as its SHA-256; the clear token is nowhere in the database (users or audit trail).
    row = _user_row(world, created["id"])
    assert row["password_hash"] is None
    assert row["metadata"]["invite"]["token_sha256"] == tokens.sha256_hex(token)
    with psycopg.connect(world.url) as c:
        hits = c.execute(
            "SELECT (SELECT count(*) FROM auth.users u WHERE u::text LIKE %(t)s) + "
            "(SELECT count(*) FROM audit.audit_log a WHERE a::text LIKE %(t)s)",
            {"t": f"%{token[5:]}%"},
        ).fetchone()
    assert hits == (0,)
    # The invite token is not a credential and an INVITED user cannot log in.
    assert client.get("/v1/me", headers=bearer(token)).status_code == 401
    assert _login(client, "new@acme.example", NEW_PASSWORD) == 401

    r = client.post("/v1/auth/invite/accept", json={"token": token, "password": NEW_PASSWORD})
    assert r.status_code == 200, r.text
    assert (
        r.json()["status"] == "ACTIVE" and r.json()["id"] == created["id"] and "invite_token" not in r.json()
    )
    row = _user_row(world, created["id"])
    assert row["password_hash"].startswith("$2b$12$") and row["password_changed_at"] is not None
    assert row["metadata"]["invite"]["used_at"] is not None
    assert _login(client, "new@acme.example", NEW_PASSWORD) == 200

    r = client.post("/v1/auth/invite/accept", json={"token": token, "password": "another password entirely"})
    assert r.status_code == 410 and r.headers["content-type"].startswith(PROBLEM)
    assert r.json()["type"] == "urn:warp:problem:invite-used" and "already been used" in r.json()["detail"]
    assert _login(client, "new@acme.example", NEW_PASSWORD) == 200  # the second attempt changed nothing


def test_expired_unknown_and_malformed_tokens(client: TestClient, world: World) -> None:
    created = _invite(client, world)
    with psycopg.connect(world.url, autocommit=True) as c:
        c.execute(
            "UPDATE auth.users SET metadata = jsonb_set(metadata, '{invite,expires_at}', "
            "to_jsonb(now() - interval '1 second')) WHERE id = %s",
            (created["id"],),
        )
    r = client.post(
        "/v1/auth/invite/accept", json={"token": created["invite_token"], "password": NEW_PASSWORD}
    )
    assert r.status_code == 410 and r.headers["content-type"].startswith(PROBLEM)
    assert r.json()["type"] == "urn:warp:problem:invite-expired" and "expired" in r.json()["detail"]
    assert _user_row(world, created["id"])["status"] == "INVITED"

    unknown = "winv_" + "A" * 43
    r = client.post("/v1/auth/invite/accept", json={"token": unknown, "password": NEW_PASSWORD})
    assert r.status_code == 400 and r.json()["type"] == "urn:warp:problem:invite-invalid"
    r = client.post("/v1/auth/invite/accept", json={"token": "not-a-token", "password": NEW_PASSWORD})
    assert r.status_code == 400 and r.json()["type"] == "urn:warp:problem:invite-invalid"
    r = client.post("/v1/auth/invite/accept", json={"token": created["invite_token"], "password": "short"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.password"


def test_reissue_replaces_the_token_and_tenants_are_isolated(client: TestClient, world: World) -> None:
    created = _invite(client, world)
    admin = bearer(world.key(world.acme, ["users:read", "users:write"]))
    r = client.post(f"/v1/users/{created['id']}/invite", headers=admin)
    assert r.status_code == 201, r.text
    fresh = r.json()["invite_token"]
    assert fresh != created["invite_token"] and r.json()["user_id"] == created["id"]
    # Another tenant cannot re-invite (or even see) the user.
    other = bearer(world.key(world.globex, ["users:read", "users:write"]))
    assert client.post(f"/v1/users/{created['id']}/invite", headers=other).status_code == 404
    r = client.post(
        "/v1/auth/invite/accept", json={"token": created["invite_token"], "password": NEW_PASSWORD}
    )
    assert r.status_code == 400 and r.json()["type"] == "urn:warp:problem:invite-invalid"
    r = client.post("/v1/auth/invite/accept", json={"token": fresh, "password": NEW_PASSWORD})
    assert r.status_code == 200 and r.json()["status"] == "ACTIVE"
    # An active user is not re-invited.
    r = client.post(f"/v1/users/{created['id']}/invite", headers=admin)
    assert r.status_code == 422 and "INVITED" in r.json()["detail"]
    # A user created with a password gets no invite token.
    r = client.post(
        "/v1/users",
        headers=admin,
        json={"email": "pw@acme.example", "role": "read_only", "password": PASSWORD},
    )
    assert r.status_code == 201 and r.json()["status"] == "ACTIVE" and r.json()["invite_token"] is None


def test_deactivated_invitee_cannot_accept(client: TestClient, world: World) -> None:
    created = _invite(client, world)
    admin = bearer(world.key(world.acme, ["users:read", "users:write"]))
    assert client.post(f"/v1/users/{created['id']}/deactivate", headers=admin).status_code == 200
    r = client.post(
        "/v1/auth/invite/accept", json={"token": created["invite_token"], "password": NEW_PASSWORD}
    )
    assert r.status_code == 400 and r.json()["type"] == "urn:warp:problem:invite-invalid"
    assert _user_row(world, created["id"])["status"] == "DISABLED"


def _service_invite(world: World) -> users.Invite:
    with world.staff() as conn:
        _, invite = users.invite_user(
            conn, email=f"{uuid.uuid4().hex[:8]}@acme.example", role="read_only", account_id=world.acme
        )
    return invite


def test_service_weak_password_keeps_token_and_ttl_bounds(world: World) -> None:
    before = datetime.now(UTC)
    invite = _service_invite(world)
    # Valid for 72 hours by default.
    assert before + timedelta(hours=72) <= invite.expires_at <= datetime.now(UTC) + timedelta(hours=72)
    with psycopg.connect(world.url, row_factory=dict_row) as conn:
        with pytest.raises(InvalidAuthInput, match="password"):
            users.accept_invite(conn, invite.token, "x" * 11)
        assert users.accept_invite(conn, invite.token, NEW_PASSWORD).status == "ACTIVE"
    with world.staff() as conn, pytest.raises(InvalidAuthInput, match="invite_ttl"):
        users.invite_user(
            conn, email="ttl@acme.example", role="read_only", account_id=world.acme, ttl=timedelta(days=31)
        )
    with world.staff() as conn:
        assert conn.execute(
            "SELECT count(*) AS n FROM auth.users WHERE email = 'ttl@acme.example'"
        ).fetchone() == {"n": 0}


def test_racing_accepts_exactly_one_wins(world: World) -> None:
    invite = _service_invite(world)
    barrier = threading.Barrier(4)
    outcomes: list[str] = []
    lock = threading.Lock()

    def accept(i: int) -> None:
        with psycopg.connect(world.url, row_factory=dict_row) as conn:
            barrier.wait()
            try:
                users.accept_invite(conn, invite.token, f"password number {i} is long")
                result = f"ok{i}"
            except (InviteUsed, InviteInvalid) as exc:
                result = exc.code
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=accept, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [o for o in outcomes if o.startswith("ok")]
    assert len(winners) == 1 and sorted(o for o in outcomes if not o.startswith("ok")) == ["invite-used"] * 3
    # The stored password is the winner's.
    with psycopg.connect(world.url, row_factory=dict_row) as conn:
        row = conn.execute("SELECT password_hash FROM auth.users WHERE id = %s", (invite.user_id,)).fetchone()
    assert row is not None
    assert tokens.check_password(f"password number {winners[0][2:]} is long", row["password_hash"])


def _clear_text_hits(url: str, needles: list[str]) -> list[str]:
    """(schema.table.column) of every text-like column that contains one of ``needles``."""
    hits: list[str] = []
    with psycopg.connect(url) as conn:
        columns = conn.execute(
            "SELECT n.nspname, c.relname, a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_type t ON t.oid = a.atttypid "
            "WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND a.attnum > 0 AND NOT a.attisdropped "
            "AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') "
            "AND t.typname IN ('text', 'varchar', 'bpchar', 'json', 'jsonb', '_text')"
        ).fetchall()
        for schema, table, column in columns:
            found = conn.execute(
                sql.SQL("SELECT 1 FROM {} WHERE {}::text LIKE ANY (%s) LIMIT 1").format(
                    sql.Identifier(schema, table), sql.Identifier(column)
                ),
                ([f"%{n}%" for n in needles],),
            ).fetchone()
            if found:
                hits.append(f"{schema}.{table}.{column}")
    return hits


def test_no_invite_token_or_password_in_clear_with_the_request_log_on(world: World) -> None:
    app = create_app(world.url, policy=TEST_POLICY, pool_size=4)
    with TestClient(app, client=("198.51.100.8", 1)) as c:
        created = _invite(c, world, "logged@acme.example")
        token = created["invite_token"]
        r = c.post("/v1/auth/invite/accept", json={"token": token, "password": NEW_PASSWORD})
        assert r.status_code == 200
        assert (
            c.post("/v1/auth/invite/accept", json={"token": token, "password": NEW_PASSWORD}).status_code
            == 410
        )
        app.state.request_log.flush()
    with psycopg.connect(world.url) as conn:
        logged = conn.execute(
            "SELECT path, status_code FROM audit.api_request_log WHERE path LIKE '/v1/%%' ORDER BY requested_at"
        ).fetchall()
    assert logged == [("/v1/users", 201), ("/v1/auth/invite/accept", 200), ("/v1/auth/invite/accept", 410)]
    # The scan can find things: the user's email is stored in clear, as it should be.
    assert "auth.users.email" in _clear_text_hits(world.url, ["logged@acme.example"])
    assert _clear_text_hits(world.url, [token[5:], NEW_PASSWORD]) == []
