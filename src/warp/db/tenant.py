"""Per-transaction tenant, actor and role: how row-level security knows who is asking.

Everything is set with ``set_config(..., is_local => true)``, so it lasts exactly one transaction
and never leaks to the next user of a pooled connection (PgBouncer transaction pooling included).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID

import psycopg

APP_ROLE = "warp_app"
READONLY_ROLE = "warp_readonly"
STAFF_ROLE = "warp_staff"

Row = TypeVar("Row")


@dataclass(frozen=True)
class Context:
    """Who a transaction acts for.

    ``account_id`` is the tenant (None: no customer rows are visible unless ``staff``);
    ``staff`` grants platform-wide access explicitly: the transaction runs as the role warp_staff
    (BYPASSRLS) instead of warp_app, and a read-only role stays read-only; ``actor_type`` and
    ``actor_id`` name the user or API key recorded in the audit trail; ``request_id`` ties audit rows to an API request.
    """

    account_id: UUID | None = None
    staff: bool = False
    actor_type: str | None = None
    actor_id: UUID | None = None
    request_id: str | None = None
    role: str | None = APP_ROLE

    def settings(self) -> dict[str, str]:
        """The transaction settings this context stands for."""
        values = {
            "warp.account_id": "" if self.account_id is None else str(self.account_id),
            "warp.role": "staff" if self.staff else "",
            "warp.actor_type": self.actor_type or "",
            "warp.actor_id": "" if self.actor_id is None else str(self.actor_id),
            "warp.request_id": self.request_id or "",
        }
        if self.role:
            values["role"] = STAFF_ROLE if self.staff else self.role
            if self.staff and self.role == READONLY_ROLE:
                values["transaction_read_only"] = "on"
        return values


STAFF = Context(staff=True, actor_type="SYSTEM")


def apply(conn: psycopg.Connection[Any], context: Context) -> None:
    """Set ``context`` for the current transaction in one round trip (call inside a transaction)."""
    items = list(context.settings().items())
    placeholders = ", ".join("set_config(%s, %s, true)" for _ in items)
    params: list[str] = [part for item in items for part in item]
    conn.execute(f"SELECT {placeholders}", params)


@contextmanager
def transaction(conn: psycopg.Connection[Row], context: Context) -> Iterator[psycopg.Connection[Row]]:
    """A transaction on ``conn`` acting as ``context``; commits on success, rolls back on error."""
    with conn.transaction():
        apply(conn, context)
        yield conn
