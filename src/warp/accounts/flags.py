"""Per-account feature flags and their evaluation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from warp.accounts.errors import InvalidAccount


@dataclass(frozen=True)
class FeatureFlag:
    id: UUID
    account_id: UUID
    flag_key: str
    enabled: bool
    value: dict[str, Any]
    description: str | None
    expires_at: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class FlagEvaluation:
    """Whether a flag is on for an account now, and why."""

    flag_key: str
    account_id: UUID
    enabled: bool
    value: dict[str, Any]
    reason: str  # ACCOUNT_FLAG | EXPIRED | DISABLED | DEFAULT


_COLUMNS = "id, account_id, flag_key, enabled, value, description, expires_at, created_at"


def list_flags(
    conn: psycopg.Connection[Any], account_id: UUID, *, limit: int, after: tuple[datetime, UUID] | None = None
) -> list[FeatureFlag]:
    cur = conn.cursor(row_factory=class_row(FeatureFlag))
    where: str = "account_id = %s"
    params: list[Any] = [account_id]
    if after is not None:
        where += " AND (created_at, id) > (%s, %s)"
        params.extend(after)
    return cur.execute(
        f"SELECT {_COLUMNS} FROM accounts.feature_flags WHERE {where} ORDER BY created_at, id LIMIT %s",
        [*params, limit],
    ).fetchall()


def evaluate_flag(conn: psycopg.Connection[Any], account_id: UUID, flag_key: str) -> FlagEvaluation:
    """The flag's state for the account now: off unless the account has it enabled and unexpired."""
    cur = conn.cursor(row_factory=class_row(FeatureFlag))
    row = cur.execute(
        f"SELECT {_COLUMNS} FROM accounts.feature_flags WHERE account_id = %s AND flag_key = %s",
        (account_id, flag_key),
    ).fetchone()
    if row is None:
        return FlagEvaluation(flag_key, account_id, False, {}, "DEFAULT")
    if row.expires_at is not None and row.expires_at <= datetime.now(row.expires_at.tzinfo):
        return FlagEvaluation(flag_key, account_id, False, row.value, "EXPIRED")
    return FlagEvaluation(
        flag_key, account_id, row.enabled, row.value, "ACCOUNT_FLAG" if row.enabled else "DISABLED"
    )


def set_flag(
    conn: psycopg.Connection[Any],
    account_id: UUID,
    flag_key: str,
    *,
    enabled: bool,
    value: dict[str, Any] | None = None,
    description: str | None = None,
    expires_at: datetime | None = None,
) -> FeatureFlag:
    """Create or replace a flag for the account."""
    cur = conn.cursor(row_factory=class_row(FeatureFlag))
    try:
        with conn.transaction():
            row = cur.execute(
                "INSERT INTO accounts.feature_flags (account_id, flag_key, enabled, value, description, "
                "expires_at) VALUES (%s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (account_id, flag_key) DO UPDATE SET "
                "enabled = EXCLUDED.enabled, value = EXCLUDED.value, description = EXCLUDED.description, "
                f"expires_at = EXCLUDED.expires_at RETURNING {_COLUMNS}",
                (account_id, flag_key, enabled, Jsonb(value or {}), description, expires_at),
            ).fetchone()
    except psycopg.errors.CheckViolation as exc:
        raise InvalidAccount("flag_key: lowercase letters, digits and . _ : - only") from exc
    assert row is not None
    return row
