"""Login, sessions, lockout, logout, expiry, cleanup and the TOTP second factor."""

from __future__ import annotations

import psycopg
import pyotp
from fastapi.testclient import TestClient

from warp.auth import sessions
from warp.auth.errors import InvalidCredentials
from warp.auth.tokens import sha256_hex
from warp_auth_fixtures import PASSWORD, TEST_POLICY, World, bearer


def login(
    client: TestClient, email: str, password: str = PASSWORD, **extra: str
) -> tuple[int, dict[str, object]]:
    r = client.post("/v1/auth/login", json={"email": email, "password": password, **extra})
    return r.status_code, r.json()


def test_login_me_logout(client: TestClient, world: World) -> None:
    user_id = world.user(world.acme, "Ann@Acme.example", role="billing_viewer")
    status, body = login(client, "ann@acme.EXAMPLE")
    assert status == 200, body
    token = str(body["token"])
    with psycopg.connect(world.url) as conn:
        stored = conn.execute(
            "SELECT token_hash FROM auth.sessions WHERE user_id = %s", (user_id,)
        ).fetchone()
    assert stored == (sha256_hex(token),)
    me = client.get("/v1/me", headers=bearer(token)).json()
    assert me["kind"] == "USER" and me["id"] == str(user_id)
    assert me["scopes"] == ["accounts:read", "billing:read", "cdr:read"]
    assert client.get("/v1/users", headers=bearer(token)).status_code == 403
    assert client.post("/v1/auth/logout", headers=bearer(token)).status_code == 204
    assert client.get("/v1/me", headers=bearer(token)).status_code == 401


def test_lockout_after_n_failures_without_revealing_the_email(client: TestClient, world: World) -> None:
    world.user(world.acme, "bob@acme.example")
    unknown = login(client, "nobody@acme.example", "wrong password!")
    assert unknown[0] == 401
    for _ in range(TEST_POLICY.max_failed_logins):
        wrong = login(client, "bob@acme.example", "wrong password!")
        assert wrong[0] == 401
    locked = login(client, "bob@acme.example")  # the right password, but locked now
    assert locked[0] == 401

    def shape(body: dict[str, object]) -> dict[str, object]:
        return {k: v for k, v in body.items() if k != "request_id"}

    assert shape(unknown[1]) == shape(wrong[1]) == shape(locked[1])
    with psycopg.connect(world.url, autocommit=True) as conn:
        conn.execute(
            "UPDATE auth.users SET lock_expires_at = now() - interval '1 second' WHERE email = 'bob@acme.example'"
        )
    assert login(client, "bob@acme.example")[0] == 200


def test_failures_below_the_limit_reset_on_success(client: TestClient, world: World) -> None:
    world.user(world.acme, "cat@acme.example")
    for _ in range(TEST_POLICY.max_failed_logins - 1):
        assert login(client, "cat@acme.example", "wrong password!")[0] == 401
    assert login(client, "cat@acme.example")[0] == 200
    for _ in range(TEST_POLICY.max_failed_logins - 1):
        assert login(client, "cat@acme.example", "wrong password!")[0] == 401
    assert login(client, "cat@acme.example")[0] == 200


def test_idle_and_absolute_expiry_and_cleanup(client: TestClient, world: World) -> None:
    world.user(world.acme, "dan@acme.example")
    tokens = [str(login(client, "dan@acme.example")[1]["token"]) for _ in range(3)]
    with psycopg.connect(world.url, autocommit=True) as conn:
        conn.execute(
            "UPDATE auth.sessions SET idle_expires_at = now() - interval '1 second' WHERE token_hash = %s",
            (sha256_hex(tokens[0]),),
        )
        conn.execute(
            "UPDATE auth.sessions SET created_at = now() - interval '2 days', idle_expires_at = now() - interval '1 day', "
            "expires_at = now() - interval '1 second' WHERE token_hash = %s",
            (sha256_hex(tokens[1]),),
        )
    assert client.get("/v1/me", headers=bearer(tokens[0])).status_code == 401
    assert client.get("/v1/me", headers=bearer(tokens[1])).status_code == 401
    assert client.get("/v1/me", headers=bearer(tokens[2])).status_code == 200
    with psycopg.connect(world.url, autocommit=True) as conn:
        assert sessions.cleanup_expired_sessions(conn) == 2
        assert conn.execute("SELECT count(*) FROM auth.sessions").fetchone() == (1,)


def test_deactivated_user_loses_sessions_and_login(client: TestClient, world: World) -> None:
    world.user(world.acme, "admin@acme.example")
    victim = world.user(world.acme, "eve@acme.example", role="read_only")
    admin = str(login(client, "admin@acme.example")[1]["token"])
    eve = str(login(client, "eve@acme.example")[1]["token"])
    r = client.post(f"/v1/users/{victim}/deactivate", headers=bearer(admin))
    assert r.status_code == 200 and r.json()["status"] == "DISABLED"
    assert client.get("/v1/me", headers=bearer(eve)).status_code == 401
    assert login(client, "eve@acme.example")[0] == 401


def test_totp_enrollment_login_and_single_use_backup_codes(client: TestClient, world: World) -> None:
    world.user(world.acme, "fay@acme.example")
    token = str(login(client, "fay@acme.example")[1]["token"])
    r = client.post("/v1/me/totp", headers=bearer(token))
    assert r.status_code == 201
    secret = r.json()["secret"]
    assert (
        client.post(
            "/v1/me/totp/confirm",
            headers=bearer(token),
            json={"code": "000000" if pyotp.TOTP(secret).now() != "000000" else "111111"},
        ).status_code
        == 422
    )
    r = client.post("/v1/me/totp/confirm", headers=bearer(token), json={"code": pyotp.TOTP(secret).now()})
    assert r.status_code == 200, r.text
    backup = r.json()["backup_codes"]
    assert len(backup) == 10
    with psycopg.connect(world.url) as conn:
        row = conn.execute(
            "SELECT totp_secret_encrypted, backup_code_hashes FROM auth.users WHERE email = 'fay@acme.example'"
        ).fetchone()
    assert row is not None and secret.encode() not in bytes(row[0]) and backup[0] not in row[1]

    status, body = login(client, "fay@acme.example")
    assert status == 401 and body["type"] == "urn:warp:problem:mfa-required"
    assert login(client, "fay@acme.example", totp_code=pyotp.TOTP(secret).now())[0] == 200
    assert login(client, "fay@acme.example", totp_code=backup[0])[0] == 200
    assert login(client, "fay@acme.example", totp_code=backup[0])[0] == 401  # used up


def test_login_service_raises_the_same_error_for_unknown_and_wrong(world: World) -> None:
    world.user(world.acme, "gil@acme.example")
    messages = []
    with psycopg.connect(world.url) as conn:
        for email in ("gil@acme.example", "ghost@acme.example"):
            try:
                sessions.login(conn, email=email, password="wrong password!", policy=TEST_POLICY)
            except InvalidCredentials as exc:
                messages.append((exc.code, exc.message))
    assert len(messages) == 2 and messages[0] == messages[1]
