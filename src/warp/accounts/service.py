"""Account service functions. Each takes a connection; the caller owns the transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import class_row

from warp.accounts.errors import AccountNotFound, DuplicateBan, InvalidAccount

ACCOUNT_TYPES = ("CUSTOMER", "RESELLER", "INTERNAL")


@dataclass(frozen=True)
class Account:
    """One row of accounts.accounts (the fields callers use)."""

    id: UUID
    ban: str
    name: str
    account_type: str
    status: str
    created_at: datetime


_COLUMNS = "id, ban, name, account_type, status, created_at"


def create_account(
    conn: psycopg.Connection[Any],
    *,
    name: str,
    ban: str,
    account_type: str = "CUSTOMER",
    parent_ban: str | None = None,
) -> Account:
    """Create an account (optionally as the child of reseller ``parent_ban``)."""
    if account_type not in ACCOUNT_TYPES:
        raise InvalidAccount(f"account_type: must be one of {', '.join(ACCOUNT_TYPES)}")
    parent = get_account_by_ban(conn, parent_ban) if parent_ban else None
    try:
        with conn.transaction():
            cur = conn.cursor(row_factory=class_row(Account))
            account = cur.execute(
                f"INSERT INTO accounts.accounts (name, ban, account_type) VALUES (%s, %s, %s) "
                f"RETURNING {_COLUMNS}",
                (name, ban, account_type),
            ).fetchone()
            assert account is not None
            if parent is not None:
                conn.execute(
                    "INSERT INTO accounts.account_hierarchy (parent_account_id, child_account_id) "
                    "VALUES (%s, %s)",
                    (parent.id, account.id),
                )
    except psycopg.errors.UniqueViolation as exc:
        if exc.diag.constraint_name == "accounts_ban_key":
            raise DuplicateBan(f"ban: an account with BAN {ban!r} already exists") from exc
        raise
    except psycopg.errors.CheckViolation as exc:
        field = (exc.diag.constraint_name or "").removeprefix("accounts_").removesuffix("_check")
        raise InvalidAccount(f"{field or 'account'}: {exc.diag.message_primary}") from exc
    return account


def get_account_by_ban(conn: psycopg.Connection[Any], ban: str) -> Account:
    """The account with business account number ``ban`` (as visible to the transaction)."""
    cur = conn.cursor(row_factory=class_row(Account))
    account = cur.execute(f"SELECT {_COLUMNS} FROM accounts.accounts WHERE ban = %s", (ban,)).fetchone()
    if account is None:
        raise AccountNotFound(f"ban: no account {ban!r}")
    return account


def list_accounts(conn: psycopg.Connection[Any]) -> list[Account]:
    """All accounts visible to the transaction, by BAN."""
    cur = conn.cursor(row_factory=class_row(Account))
    return cur.execute(f"SELECT {_COLUMNS} FROM accounts.accounts ORDER BY ban").fetchall()
