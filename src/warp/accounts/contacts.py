"""Account contacts: the people to reach at a customer (billing, technical, NOC...)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import class_row

from warp.accounts.errors import AccountError, InvalidAccount

CONTACT_TYPES = ("PRIMARY", "BILLING", "TECHNICAL", "NOC", "EMERGENCY", "SALES", "LEGAL")


class ContactNotFound(AccountError):
    code = "contact-not-found"


@dataclass(frozen=True)
class Contact:
    id: UUID
    account_id: UUID
    contact_type: str
    name: str
    title: str | None
    email: str | None
    phone: str | None
    mobile_phone: str | None
    is_primary: bool
    created_at: datetime


_COLUMNS = "id, account_id, contact_type, name, title, email, phone, mobile_phone, is_primary, created_at"


def list_contacts(
    conn: psycopg.Connection[Any], account_id: UUID, *, limit: int, after: tuple[datetime, UUID] | None = None
) -> list[Contact]:
    """Contacts of an account, oldest first, keyset-paged."""
    cur = conn.cursor(row_factory=class_row(Contact))
    where: str = "account_id = %s"
    params: list[Any] = [account_id]
    if after is not None:
        where += " AND (created_at, id) > (%s, %s)"
        params.extend(after)
    return cur.execute(
        f"SELECT {_COLUMNS} FROM accounts.contacts WHERE {where} ORDER BY created_at, id LIMIT %s",
        [*params, limit],
    ).fetchall()


def create_contact(conn: psycopg.Connection[Any], account_id: UUID, fields: dict[str, Any]) -> Contact:
    """Add a contact to an account."""
    cols = ["account_id", *fields]
    cur = conn.cursor(row_factory=class_row(Contact))
    try:
        with conn.transaction():
            row = cur.execute(
                f"INSERT INTO accounts.contacts ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))}) "
                f"RETURNING {_COLUMNS}",
                [account_id, *fields.values()],
            ).fetchone()
    except psycopg.errors.CheckViolation as exc:
        field = (exc.diag.constraint_name or "").removeprefix("contacts_").removesuffix("_check")
        raise InvalidAccount(f"{field or 'contact'}: value not allowed") from exc
    assert row is not None
    return row


def delete_contact(conn: psycopg.Connection[Any], account_id: UUID, contact_id: UUID) -> None:
    """Remove a contact (ContactNotFound when it is not visible)."""
    cur = conn.execute(
        "DELETE FROM accounts.contacts WHERE id = %s AND account_id = %s", (contact_id, account_id)
    )
    if cur.rowcount == 0:
        raise ContactNotFound(f"contact: no contact {contact_id}")
