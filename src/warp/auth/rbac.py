"""Role-based access control: permissions, roles and what a user may do."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg

from warp.auth.errors import InvalidScope


def customer_scopes(conn: psycopg.Connection[Any]) -> list[str]:
    """Every permission a customer account may hold (category 'customer'), sorted."""
    rows = conn.execute(
        "SELECT code FROM auth.permissions WHERE category = 'customer' ORDER BY code"
    ).fetchall()
    return [_first(r) for r in rows]


def validate_scopes(
    conn: psycopg.Connection[Any], scopes: list[str], *, allowed: set[str] | None = None
) -> list[str]:
    """``scopes`` deduplicated and sorted; raise InvalidScope naming each unknown or forbidden one."""
    known = set(customer_scopes(conn))
    wanted = sorted(set(scopes))
    unknown = [s for s in wanted if s not in known]
    if unknown:
        raise InvalidScope(f"scopes: unknown or non-customer scope(s): {', '.join(unknown)}")
    if allowed is not None:
        excess = [s for s in wanted if s not in allowed]
        if excess:
            raise InvalidScope(f"scopes: you may not grant scope(s) you do not hold: {', '.join(excess)}")
    if not wanted:
        raise InvalidScope("scopes: at least one scope is required")
    return wanted


def role_id(conn: psycopg.Connection[Any], name: str, *, staff: bool) -> UUID:
    """The id of role ``name`` of the right kind (CUSTOMER roles for account users)."""
    row = conn.execute(
        "SELECT id FROM auth.roles WHERE name = %s AND scope = %s",
        (name, "STAFF" if staff else "CUSTOMER"),
    ).fetchone()
    if row is None:
        raise InvalidScope(f"role: no {'staff' if staff else 'customer'} role named {name!r}")
    return UUID(str(_first(row)))


def user_permissions(conn: psycopg.Connection[Any], user_id: UUID) -> list[str]:
    """Permissions granted to a user through their roles."""
    rows = conn.execute(
        "SELECT DISTINCT p.code FROM auth.user_roles ur "
        "JOIN auth.role_permissions rp ON rp.role_id = ur.role_id "
        "JOIN auth.permissions p ON p.id = rp.permission_id WHERE ur.user_id = %s ORDER BY 1",
        (user_id,),
    ).fetchall()
    return [_first(r) for r in rows]


def _first(row: Any) -> Any:
    return next(iter(row.values())) if isinstance(row, dict) else row[0]
