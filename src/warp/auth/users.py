"""Portal users: create or invite, list, change role, deactivate, set password."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import class_row

from warp.auth import rbac, tokens
from warp.auth.errors import DuplicateEmail, InvalidAuthInput, UserNotFound

MIN_PASSWORD_LENGTH = 12


@dataclass(frozen=True)
class User:
    """A user as shown to callers (no hashes, no seeds)."""

    id: UUID
    account_id: UUID | None
    email: str
    display_name: str | None
    status: str
    is_staff: bool
    totp_enabled: bool
    roles: list[str]
    last_login_at: datetime | None
    created_at: datetime


_SELECT = (
    "SELECT u.id, u.account_id, u.email, u.display_name, u.status, u.is_staff, u.totp_enabled, "
    "coalesce((SELECT array_agg(r.name ORDER BY r.name) FROM auth.user_roles ur "
    "JOIN auth.roles r ON r.id = ur.role_id WHERE ur.user_id = u.id), '{}') AS roles, "
    "u.last_login_at, u.created_at FROM auth.users u"
)


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidAuthInput(f"password: must be at least {MIN_PASSWORD_LENGTH} characters")
    if "\x00" in password:
        raise InvalidAuthInput("password: must not contain NUL characters")


def create_user(
    conn: psycopg.Connection[Any],
    *,
    email: str,
    role: str,
    account_id: UUID | None,
    display_name: str | None = None,
    password: str | None = None,
    bcrypt_rounds: int = 12,
    staff: bool = False,
) -> User:
    """Create a user with one role: ACTIVE with ``password``, else INVITED (no password yet)."""
    if staff != (account_id is None):
        raise InvalidAuthInput("account_id: staff users have no account; customer users need one")
    if password is not None:
        _check_password(password)
    rid = rbac.role_id(conn, role, staff=staff)
    password_hash = None if password is None else tokens.hash_password(password, bcrypt_rounds)
    try:
        with conn.transaction():
            row = conn.execute(
                "INSERT INTO auth.users (account_id, email, display_name, password_hash, status, is_staff, "
                "password_changed_at) VALUES (%s, %s, %s, %s, %s, %s, CASE WHEN %s THEN now() END) "
                "RETURNING id",
                (
                    account_id,
                    email.strip(),
                    display_name,
                    password_hash,
                    "INVITED" if password is None else "ACTIVE",
                    staff,
                    password is not None,
                ),
            ).fetchone()
            assert row is not None
            user_id = next(iter(row.values())) if isinstance(row, dict) else row[0]
            conn.execute("INSERT INTO auth.user_roles (user_id, role_id) VALUES (%s, %s)", (user_id, rid))
    except psycopg.errors.UniqueViolation as exc:
        if exc.diag.constraint_name == "users_email_key":
            raise DuplicateEmail(f"email: a user with email {email!r} already exists") from exc
        raise
    except psycopg.errors.CheckViolation as exc:
        if exc.diag.constraint_name == "users_email_check":
            raise InvalidAuthInput("email: not a valid email address") from exc
        raise
    return get_user(conn, user_id)


def get_user(conn: psycopg.Connection[Any], user_id: UUID) -> User:
    """One user, as visible to the transaction (another tenant's user is not found)."""
    row = (
        conn.cursor(row_factory=class_row(User)).execute(f"{_SELECT} WHERE u.id = %s", (user_id,)).fetchone()
    )
    if row is None:
        raise UserNotFound(f"user: no user {user_id}")
    return row


def list_users(
    conn: psycopg.Connection[Any],
    *,
    account_id: UUID | None = None,
    limit: int = 100,
    after: tuple[datetime, UUID] | None = None,
) -> list[User]:
    """Users visible to the transaction (optionally of one account), oldest first, keyset-paged."""
    where: list[str] = ["true"]
    params: list[Any] = []
    if account_id is not None:
        where.append("u.account_id = %s")
        params.append(account_id)
    if after is not None:
        where.append("(u.created_at, u.id) > (%s, %s)")
        params.extend(after)
    cur = conn.cursor(row_factory=class_row(User))
    return cur.execute(
        f"{_SELECT} WHERE {' AND '.join(where)} ORDER BY u.created_at, u.id LIMIT %s", [*params, limit]
    ).fetchall()


def set_role(conn: psycopg.Connection[Any], user_id: UUID, role: str) -> User:
    """Replace the user's roles with ``role``."""
    user = get_user(conn, user_id)
    rid = rbac.role_id(conn, role, staff=user.is_staff)
    conn.execute("DELETE FROM auth.user_roles WHERE user_id = %s AND role_id <> %s", (user_id, rid))
    conn.execute(
        "INSERT INTO auth.user_roles (user_id, role_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
        (user_id, rid),
    )
    return get_user(conn, user_id)


def deactivate_user(conn: psycopg.Connection[Any], user_id: UUID) -> User:
    """Disable a user and revoke every session they hold."""
    get_user(conn, user_id)
    conn.execute(
        "UPDATE auth.users SET status = 'DISABLED', deactivated_at = coalesce(deactivated_at, now()) "
        "WHERE id = %s",
        (user_id,),
    )
    conn.execute(
        "UPDATE auth.sessions SET revoked_at = now() WHERE user_id = %s AND revoked_at IS NULL", (user_id,)
    )
    return get_user(conn, user_id)


def set_password(
    conn: psycopg.Connection[Any], user_id: UUID, password: str, *, bcrypt_rounds: int = 12
) -> User:
    """Set a new password (activates an invited user) and revoke existing sessions."""
    _check_password(password)
    get_user(conn, user_id)
    conn.execute(
        "UPDATE auth.users SET password_hash = %s, password_changed_at = now(), failed_login_count = 0, "
        "lock_expires_at = NULL, status = CASE WHEN status = 'INVITED' THEN 'ACTIVE' ELSE status END "
        "WHERE id = %s",
        (tokens.hash_password(password, bcrypt_rounds), user_id),
    )
    conn.execute(
        "UPDATE auth.sessions SET revoked_at = now() WHERE user_id = %s AND revoked_at IS NULL", (user_id,)
    )
    return get_user(conn, user_id)
