"""Small builders for routing tests: rows inserted directly as the superuser (RLS does not apply)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg

AT = "2026-06-15T12:00:00Z"


def one(conn: psycopg.Connection[Any], query: str, params: Any = None) -> Any:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return row[0]


def account(conn: psycopg.Connection[Any], ban: str) -> UUID:
    return one(
        conn, "INSERT INTO accounts.accounts (ban, name) VALUES (%s, %s) RETURNING id", (ban, f"Acct {ban}")
    )


def carrier(conn: psycopg.Connection[Any], name: str, *, enabled: bool = True) -> UUID:
    return one(
        conn, "INSERT INTO routing.carriers (name, enabled) VALUES (%s, %s) RETURNING id", (name, enabled)
    )


def ctrunk(
    conn: psycopg.Connection[Any],
    name: str,
    *,
    carrier_name: str | None = None,
    priority: int = 100,
    weight: int = 100,
    enabled: bool = True,
    emergency: bool = False,
) -> UUID:
    """A carrier trunk (and its carrier, named after it unless given)."""
    cname = carrier_name or f"C-{name}"
    existing = conn.execute("SELECT id FROM routing.carriers WHERE name = %s", (cname,)).fetchone()
    carrier_id = existing[0] if existing else carrier(conn, cname)
    return one(
        conn,
        "INSERT INTO routing.carrier_trunks (carrier_id, name, host, priority, weight, enabled, is_emergency) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (carrier_id, name, f"{name}.example", priority, weight, enabled, emergency),
    )


def rate(
    conn: psycopg.Connection[Any],
    trunk_id: UUID,
    prefix: str,
    value: str | None,
    *,
    effective: str = "2026-01-01",
    expires: str | None = None,
    **extra: str,
) -> None:
    cols = ["carrier_trunk_id", "prefix", "rate", "effective_date", "expires_date", *extra]
    vals = [trunk_id, prefix, value, effective, expires, *extra.values()]
    conn.execute(
        f"INSERT INTO routing.rate_deck ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))})", vals
    )


def partition(
    conn: psycopg.Connection[Any],
    name: str,
    trunks: list[UUID],
    *,
    strategy: str = "LCR",
    default: bool = False,
    allow_loss: bool = False,
    enabled: bool = True,
) -> UUID:
    pid = one(
        conn,
        "INSERT INTO routing.partitions (name, strategy, is_default, allow_loss_routing, enabled) "
        "VALUES (%s, %s, %s, %s, %s) RETURNING id",
        (name, strategy, default, allow_loss, enabled),
    )
    for t in trunks:
        conn.execute(
            "INSERT INTO routing.partition_carrier_trunks (partition_id, carrier_trunk_id) VALUES (%s, %s)",
            (pid, t),
        )
    return pid


def assign(conn: psycopg.Connection[Any], account_id: UUID, partition_id: UUID) -> None:
    conn.execute(
        "INSERT INTO routing.account_partitions (account_id, partition_id) VALUES (%s, %s)",
        (account_id, partition_id),
    )


def sell_plan(conn: psycopg.Connection[Any], account_id: UUID, prefix: str, value: str, **extra: str) -> None:
    plan = one(
        conn, "INSERT INTO billing.rate_plans (name) VALUES (%s) RETURNING id", (f"plan-{account_id}",)
    )
    cols = ["rate_plan_id", "prefix", "rate", "effective_date", *extra]
    conn.execute(
        f"INSERT INTO billing.voice_rates ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))})",
        [plan, prefix, value, "2026-01-01", *extra.values()],
    )
    conn.execute(
        "INSERT INTO billing.account_rate_plans (account_id, rate_plan_id, effective_at) VALUES (%s, %s, %s)",
        (account_id, plan, "2026-01-01T00:00Z"),
    )


def lcr(
    conn: psycopg.Connection[Any],
    destination: str,
    account_id: UUID,
    *,
    at: str = AT,
    origin: str | None = None,
    limit: int = 5,
) -> list[tuple[str, str, Decimal]]:
    """(carrier trunk, prefix, rate) of routing.calculate_lcr's answer, in rank order."""
    if origin is None:
        rows = conn.execute(
            "SELECT rank, carrier_trunk, prefix, rate FROM routing.calculate_lcr(%s, %s, %s, %s::timestamptz)",
            (destination, account_id, limit, at),
        ).fetchall()
    else:
        rows = conn.execute(
            "SELECT rank, carrier_trunk, prefix, rate FROM routing.calculate_lcr(%s, %s, %s::text, %s, %s::timestamptz)",
            (destination, account_id, origin, limit, at),
        ).fetchall()
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1))
    return [(r[1], r[2], r[3]) for r in rows]


def names(result: list[tuple[str, str, Decimal]]) -> list[str]:
    return [r[0] for r in result]


def two_connection_loads(monkeypatch: Any) -> list[bool]:
    """Lets every rate-deck import load on two connections whatever the file's size, and records each
    import that did (the returned list gets one entry per two-connection load)."""
    from warp.routing import rate_import

    monkeypatch.setattr(rate_import, "PARALLEL_MIN_BYTES", 0)
    runs: list[bool] = []
    original = rate_import._ParallelImport.run

    def spy(self: Any, progress: Any) -> bool:
        runs.append(True)
        return original(self, progress)

    monkeypatch.setattr(rate_import._ParallelImport, "run", spy)
    return runs
