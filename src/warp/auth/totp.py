"""Optional TOTP second factor (RFC 6238 via pyotp) with one-time backup codes stored hashed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
import pyotp
from psycopg.rows import dict_row

from warp.auth import crypto, tokens
from warp.auth.errors import TotpError, UserNotFound
from warp.auth.policy import AuthPolicy

ISSUER = "WARP"


@dataclass(frozen=True)
class Enrollment:
    """A TOTP seed being set up: shown once to the user for their authenticator app."""

    secret: str
    provisioning_uri: str


def begin_enrollment(conn: psycopg.Connection[Any], user_id: UUID, policy: AuthPolicy) -> Enrollment:
    """Store a new (encrypted) seed for ``user_id``; TOTP is enabled only after :func:`confirm`."""
    row = (
        conn.cursor(row_factory=dict_row)
        .execute("SELECT email, totp_enabled FROM auth.users WHERE id = %s", (user_id,))
        .fetchone()
    )
    if row is None:
        raise UserNotFound(f"user: no user {user_id}")
    if row["totp_enabled"]:
        raise TotpError("totp: a second factor is already enabled for this user")
    secret = pyotp.random_base32()
    conn.execute(
        "UPDATE auth.users SET totp_secret_encrypted = %s WHERE id = %s",
        (crypto.encrypt(policy, secret), user_id),
    )
    uri = pyotp.TOTP(secret).provisioning_uri(name=row["email"], issuer_name=ISSUER)
    return Enrollment(secret=secret, provisioning_uri=uri)


def confirm(conn: psycopg.Connection[Any], user_id: UUID, code: str, policy: AuthPolicy) -> list[str]:
    """Enable TOTP once the user proves a code; return fresh backup codes (shown once, stored hashed)."""
    row = (
        conn.cursor(row_factory=dict_row)
        .execute("SELECT totp_secret_encrypted, totp_enabled FROM auth.users WHERE id = %s", (user_id,))
        .fetchone()
    )
    if row is None:
        raise UserNotFound(f"user: no user {user_id}")
    if row["totp_enabled"] or row["totp_secret_encrypted"] is None:
        raise TotpError("totp: start an enrollment first")
    secret = crypto.decrypt(policy, row["totp_secret_encrypted"])
    if not pyotp.TOTP(secret).verify(code.strip(), valid_window=1):
        raise TotpError("code: the code does not match")
    codes = tokens.generate_backup_codes()
    conn.execute(
        "UPDATE auth.users SET totp_enabled = true, backup_code_hashes = %s WHERE id = %s",
        ([tokens.hash_backup_code(str(user_id), c) for c in codes], user_id),
    )
    return codes


def check_second_factor(
    user_id: UUID, code: str, secret_encrypted: bytes, backup_hashes: list[str], policy: AuthPolicy
) -> tuple[bool, list[str] | None]:
    """Whether ``code`` is a valid TOTP or unused backup code; for a backup code also the hashes left."""
    code = code.strip()
    secret = crypto.decrypt(policy, secret_encrypted)
    if code.isdigit() and pyotp.TOTP(secret).verify(code, valid_window=1):
        return True, None
    wanted = tokens.hash_backup_code(str(user_id), code)
    for stored in backup_hashes:
        if tokens.same_hash(stored, wanted):
            return True, [h for h in backup_hashes if h != stored]
    return False, None
