"""Portal users: create or invite, list, change role, deactivate, set password, accept an invitation.

An invited user has no password: ``invite_user`` creates them INVITED with a one-time invite token
(random, returned once, stored only as its SHA-256 with an expiry in ``auth.users.metadata.invite``);
``accept_invite`` with that token and a new password sets the bcrypt password and activates the user,
once.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import class_row, dict_row

from warp.auth import rbac, tokens
from warp.auth.errors import AuthError, DuplicateEmail, InvalidAuthInput, UserNotFound
from warp.db import tenant

MIN_PASSWORD_LENGTH = 12
INVITE_TOKEN_PREFIX = "winv_"  # noqa: S105 - a public marker, not a secret
INVITE_TOKEN_RE = re.compile(r"^winv_[A-Za-z0-9_-]{43}$")
DEFAULT_INVITE_TTL = timedelta(hours=72)
MAX_INVITE_TTL = timedelta(days=30)


class InviteInvalid(AuthError):
    """An invitation token that is unknown, malformed, replaced, or whose user was deactivated."""

    code = "invite-invalid"
    http_status = 400


class InviteExpired(AuthError):
    code = "invite-expired"
    http_status = 410


class InviteUsed(AuthError):
    code = "invite-used"
    http_status = 410


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


@dataclass(frozen=True)
class Invite:
    """A fresh invitation: ``token`` is shown once (to whoever invited); only its SHA-256 is stored."""

    user_id: UUID
    token: str
    expires_at: datetime


def _new_invite(conn: psycopg.Connection[Any], user_id: UUID, ttl: timedelta) -> Invite:
    if ttl <= timedelta(0) or ttl > MAX_INVITE_TTL:
        raise InvalidAuthInput(f"invite_ttl: must be positive and at most {MAX_INVITE_TTL.days} days")
    token = INVITE_TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = conn.execute(
        "UPDATE auth.users SET metadata = metadata || jsonb_build_object('invite', jsonb_build_object("
        "'token_sha256', %s::text, 'issued_at', now(), 'expires_at', now() + %s::interval, 'used_at', NULL)) "
        "WHERE id = %s AND status = 'INVITED' RETURNING now() + %s::interval AS expires_at",
        (tokens.sha256_hex(token), ttl, user_id, ttl),
    ).fetchone()
    if row is None:
        raise InvalidAuthInput("user: only an INVITED user (no password yet) can be sent an invitation")
    expires_at: datetime = row["expires_at"] if isinstance(row, dict) else row[0]
    return Invite(user_id=user_id, token=token, expires_at=expires_at)


def invite_user(
    conn: psycopg.Connection[Any],
    *,
    email: str,
    role: str,
    account_id: UUID | None,
    display_name: str | None = None,
    staff: bool = False,
    ttl: timedelta = DEFAULT_INVITE_TTL,
) -> tuple[User, Invite]:
    """Create an INVITED user (no password) and their one-time invite token, in the caller's transaction."""
    with conn.transaction():
        user = create_user(
            conn, email=email, role=role, account_id=account_id, display_name=display_name, staff=staff
        )
        invite = _new_invite(conn, user.id, ttl)
    return user, invite


def reissue_invite(
    conn: psycopg.Connection[Any], user_id: UUID, *, ttl: timedelta = DEFAULT_INVITE_TTL
) -> Invite:
    """A new invite token for a user still INVITED (e.g. the first expired); the previous one stops working."""
    get_user(conn, user_id)  # another tenant's user is not found
    return _new_invite(conn, user_id, ttl)


# Accepting runs before anyone is authenticated: it finds the user by token hash as the system.
ACCEPT_CONTEXT = tenant.Context(staff=True, actor_type="SYSTEM")


def _invite_state(conn: psycopg.Connection[Any], token_hash: str) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT id, status, (metadata->'invite'->>'used_at') IS NOT NULL AS used, "
            "(metadata->'invite'->>'expires_at')::timestamptz <= now() AS expired "
            "FROM auth.users WHERE metadata->'invite'->>'token_sha256' = %s",
            (token_hash,),
        )
        return cur.fetchone()


def _refuse(state: dict[str, Any] | None) -> None:
    if state is None:
        raise InviteInvalid("token: not a valid invitation (unknown, or replaced by a newer invitation)")
    if state["used"]:
        raise InviteUsed("token: this invitation has already been used; log in, or ask for a new invitation")
    if state["status"] != "INVITED":
        raise InviteInvalid("token: the invited user is no longer waiting for an invitation (deactivated?)")
    if state["expired"]:
        raise InviteExpired(
            "token: this invitation has expired; ask your account administrator for a new one"
        )


def accept_invite(
    conn: psycopg.Connection[Any], token: str, password: str, *, bcrypt_rounds: int = 12
) -> User:
    """Set the invited user's password and activate them; the token works once, before it expires.

    ``conn`` must not be inside a transaction (this opens its own, as the system). Expired, used or
    unknown tokens raise InviteExpired / InviteUsed / InviteInvalid; a weak password InvalidAuthInput.
    """
    token = token.strip()
    if not INVITE_TOKEN_RE.fullmatch(token):
        raise InviteInvalid("token: not a valid invitation token")
    token_hash = tokens.sha256_hex(token)
    _check_password(password)
    with tenant.transaction(conn, ACCEPT_CONTEXT):
        state = _invite_state(conn, token_hash)
        _refuse(state)
    # bcrypt only for a live invitation (no CPU spent on guessed tokens); the UPDATE re-checks everything,
    # so of two racing accepts exactly one wins.
    password_hash = tokens.hash_password(password, bcrypt_rounds)
    assert state is not None
    actor = tenant.Context(staff=True, actor_type="USER", actor_id=state["id"])
    with tenant.transaction(conn, actor):
        row = conn.execute(
            "UPDATE auth.users SET password_hash = %s, password_changed_at = now(), status = 'ACTIVE', "
            "failed_login_count = 0, lock_expires_at = NULL, "
            "metadata = jsonb_set(metadata, '{invite,used_at}', to_jsonb(now())) "
            "WHERE metadata->'invite'->>'token_sha256' = %s AND status = 'INVITED' "
            "AND metadata->'invite'->>'used_at' IS NULL "
            "AND (metadata->'invite'->>'expires_at')::timestamptz > now() RETURNING id",
            (password_hash, token_hash),
        ).fetchone()
        if row is None:
            _refuse(_invite_state(conn, token_hash))
            raise InviteInvalid("token: not a valid invitation")  # pragma: no cover - _refuse raised
        return get_user(conn, state["id"])
