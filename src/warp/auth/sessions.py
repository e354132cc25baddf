"""Portal login sessions: login with lockout and optional TOTP, token authentication, logout, cleanup."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row

from warp.auth import tokens, totp
from warp.auth.errors import InvalidCredentials, MfaRequired, Unauthenticated
from warp.auth.policy import AuthPolicy
from warp.auth.principal import Principal
from warp.db import tenant

# Login runs before anyone is known: its reads and lockout bookkeeping act as the system.
LOGIN_CONTEXT = tenant.Context(staff=True, actor_type="SYSTEM")


@dataclass(frozen=True)
class NewSession:
    """A session just opened: ``token`` is returned to the client once and stored only hashed."""

    token: str
    session_id: UUID
    user_id: UUID
    account_id: UUID | None
    expires_at: datetime
    idle_expires_at: datetime


def login(
    conn: psycopg.Connection[Any],
    *,
    email: str,
    password: str,
    policy: AuthPolicy,
    totp_code: str | None = None,
    client_ip: str | None = None,
    user_agent: str | None = None,
) -> NewSession:
    """Check credentials and open a session.

    ``conn`` must not be inside a transaction: failed attempts are committed (lockout) even
    though the call raises. Unknown email, wrong password, locked or disabled user all raise the
    same InvalidCredentials after the same bcrypt work, so the answer reveals nothing.
    """
    with tenant.transaction(conn, LOGIN_CONTEXT):
        user = (
            conn.cursor(row_factory=dict_row)
            .execute(
                "SELECT u.id, u.account_id, u.password_hash, u.status, u.failed_login_count, "
                "u.lock_expires_at, u.lock_expires_at > now() AS locked, u.totp_enabled, "
                "u.totp_secret_encrypted, u.backup_code_hashes, a.status AS account_status "
                "FROM auth.users u LEFT JOIN accounts.accounts a ON a.id = u.account_id "
                "WHERE lower(u.email) = lower(%s)",
                (email.strip(),),
            )
            .fetchone()
        )
    generic = InvalidCredentials("credentials: invalid email or password, or the user is locked")
    if user is None:
        tokens.check_password(password, None)
        raise generic
    password_ok = tokens.check_password(password, user["password_hash"])
    usable = user["status"] == "ACTIVE" and not user["locked"] and user["account_status"] != "CLOSED"
    if not usable:
        raise generic
    if not password_ok:
        _record_failure(conn, user["id"], policy)
        raise generic
    remaining_backup: list[str] | None = None
    if user["totp_enabled"]:
        if not totp_code:
            raise MfaRequired("totp_code: this user has a second factor; send totp_code")
        ok, remaining_backup = totp.check_second_factor(
            user["id"], totp_code, user["totp_secret_encrypted"], list(user["backup_code_hashes"]), policy
        )
        if not ok:
            _record_failure(conn, user["id"], policy)
            raise MfaRequired("totp_code: the code does not match")
    token = tokens.generate_session_token()
    with tenant.transaction(conn, LOGIN_CONTEXT):
        conn.execute(
            "UPDATE auth.users SET failed_login_count = 0, lock_expires_at = NULL, last_login_at = now(), "
            "backup_code_hashes = coalesce(%s, backup_code_hashes) WHERE id = %s",
            (remaining_backup, user["id"]),
        )
        row = (
            conn.cursor(row_factory=dict_row)
            .execute(
                "INSERT INTO auth.sessions (user_id, token_hash, ip_address, user_agent, mfa_verified, "
                "idle_expires_at, expires_at) VALUES (%s, %s, %s, %s, %s, "
                "now() + make_interval(secs => %s), now() + make_interval(secs => %s)) "
                "RETURNING id, idle_expires_at, expires_at",
                (
                    user["id"],
                    tokens.sha256_hex(token),
                    client_ip,
                    (user_agent or "")[:500] or None,
                    bool(user["totp_enabled"]),
                    policy.session_idle_seconds,
                    policy.session_absolute_seconds,
                ),
            )
            .fetchone()
        )
    assert row is not None
    return NewSession(
        token=token,
        session_id=row["id"],
        user_id=user["id"],
        account_id=user["account_id"],
        expires_at=row["expires_at"],
        idle_expires_at=row["idle_expires_at"],
    )


def _record_failure(conn: psycopg.Connection[Any], user_id: UUID, policy: AuthPolicy) -> None:
    """Count a failed attempt; the Nth in a row locks the user for the lockout period."""
    with tenant.transaction(conn, LOGIN_CONTEXT):
        conn.execute(
            """
            UPDATE auth.users SET
                failed_login_count = CASE WHEN lock_expires_at IS NOT NULL AND lock_expires_at <= now()
                                          THEN 1 ELSE failed_login_count + 1 END,
                lock_expires_at = CASE
                    WHEN (CASE WHEN lock_expires_at IS NOT NULL AND lock_expires_at <= now()
                               THEN 1 ELSE failed_login_count + 1 END) >= %(max)s
                    THEN now() + make_interval(secs => %(lock)s)
                    WHEN lock_expires_at <= now() THEN NULL
                    ELSE lock_expires_at END
            WHERE id = %(id)s
            """,
            {"max": policy.max_failed_logins, "lock": policy.lockout_seconds, "id": user_id},
        )


def authenticate_session(conn: psycopg.Connection[Any], token: str, policy: AuthPolicy) -> Principal:
    """The principal of a session token, or Unauthenticated (unknown, revoked, idle or expired).

    Runs through the SECURITY DEFINER function ``auth.authenticate_session`` (no tenant is known
    yet), which also slides the idle expiry, at most once a minute.
    """
    if not tokens.is_session_token(token):
        raise Unauthenticated("credentials: malformed token")
    row = (
        conn.cursor(row_factory=dict_row)
        .execute(
            "SELECT * FROM auth.authenticate_session(%s, %s)",
            (tokens.sha256_hex(token), policy.session_idle_seconds),
        )
        .fetchone()
    )
    if row is None:
        raise Unauthenticated("credentials: unknown or expired session")
    return Principal(
        kind="STAFF" if row["is_staff"] else "USER",
        actor_id=row["user_id"],
        account_id=row["account_id"],
        permissions=frozenset(row["permissions"] or ()),
        name=row["email"],
        user_id=row["user_id"],
        session_id=row["session_id"],
    )


def logout(conn: psycopg.Connection[Any], session_id: UUID) -> None:
    """Revoke a session (inside the principal's transaction)."""
    conn.execute(
        "UPDATE auth.sessions SET revoked_at = coalesce(revoked_at, now()) WHERE id = %s", (session_id,)
    )


def cleanup_expired_sessions(conn: psycopg.Connection[Any]) -> int:
    """Delete expired and revoked sessions; return how many."""
    row = conn.execute("SELECT auth.cleanup_expired_sessions()").fetchone()
    assert row is not None
    return int(next(iter(row.values())) if isinstance(row, dict) else row[0])
