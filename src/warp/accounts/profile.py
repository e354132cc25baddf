"""Account profile: read one account, list visible accounts, update the editable fields."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from warp.accounts.errors import AccountNotFound, InvalidAccount

EDITABLE = ("name", "legal_name", "timezone", "tax_id", "billing_country", "billing_state", "metadata")
STAFF_EDITABLE = ("status", "tax_exempt", "currency")


@dataclass(frozen=True)
class AccountProfile:
    """The account fields shown through the API."""

    id: UUID
    ban: str
    name: str
    legal_name: str | None
    account_type: str
    status: str
    timezone: str
    currency: str
    tax_exempt: bool
    billing_country: str
    billing_state: str | None
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime


_COLUMNS = (
    "id, ban, name, legal_name, account_type, status, timezone, currency, tax_exempt, billing_country, "
    "billing_state, metadata, created_at, updated_at"
)


def get_account(conn: psycopg.Connection[Any], account_id: UUID) -> AccountProfile:
    """The account, as visible to the transaction (another tenant's account is not found)."""
    cur = conn.cursor(row_factory=class_row(AccountProfile))
    row = cur.execute(f"SELECT {_COLUMNS} FROM accounts.accounts WHERE id = %s", (account_id,)).fetchone()
    if row is None:
        raise AccountNotFound(f"account: no account {account_id}")
    return row


def list_accounts(
    conn: psycopg.Connection[Any], *, limit: int, after: tuple[datetime, UUID] | None = None
) -> list[AccountProfile]:
    """Accounts visible to the transaction (a reseller sees its descendants), keyset-paged."""
    cur = conn.cursor(row_factory=class_row(AccountProfile))
    if after is None:
        return cur.execute(
            f"SELECT {_COLUMNS} FROM accounts.accounts ORDER BY created_at, id LIMIT %s", (limit,)
        ).fetchall()
    return cur.execute(
        f"SELECT {_COLUMNS} FROM accounts.accounts WHERE (created_at, id) > (%s, %s) "
        "ORDER BY created_at, id LIMIT %s",
        (*after, limit),
    ).fetchall()


def update_account(
    conn: psycopg.Connection[Any], account_id: UUID, changes: dict[str, Any], *, staff: bool = False
) -> AccountProfile:
    """Apply ``changes`` (editable fields; status/currency/tax_exempt only for staff); return the account."""
    allowed = EDITABLE + (STAFF_EDITABLE if staff else ())
    refused = sorted(set(changes) - set(allowed))
    if refused:
        raise InvalidAccount(f"{refused[0]}: may not be changed here")
    get_account(conn, account_id)
    if not changes:
        return get_account(conn, account_id)
    assignments = sql.SQL(", ").join(
        sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder(k)) for k in changes
    )
    params = {k: Jsonb(v) if k == "metadata" else v for k, v in changes.items()}
    params["_id"] = account_id
    try:
        conn.execute(
            sql.SQL("UPDATE accounts.accounts SET {} WHERE id = %(_id)s").format(assignments), params
        )
    except psycopg.errors.CheckViolation as exc:
        field = (exc.diag.constraint_name or "").removeprefix("accounts_").removesuffix("_check")
        raise InvalidAccount(f"{field or 'account'}: value not allowed") from exc
    return get_account(conn, account_id)
