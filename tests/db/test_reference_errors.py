"""References checked by triggers fail with exactly the error a foreign key would give."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest


def _error(conn: psycopg.Connection[Any], statement: str, params: tuple[Any, ...] = ()) -> psycopg.Error:
    with pytest.raises(psycopg.errors.ForeignKeyViolation) as exc, conn.transaction():
        conn.execute(statement, params)
    return exc.value


def _fields(error: psycopg.Error) -> tuple[str | None, ...]:
    d = error.diag
    return (d.sqlstate, d.message_primary, d.message_detail, d.table_name, d.constraint_name)


def test_trigger_errors_match_postgresqls_foreign_key_errors(conn: psycopg.Connection[Any]) -> None:
    conn.execute("CREATE TEMP TABLE ref_parent (id uuid PRIMARY KEY)")
    conn.execute("CREATE TEMP TABLE ref_child (parent_id uuid REFERENCES ref_parent (id))")
    missing = uuid.uuid4()
    real = _error(conn, "INSERT INTO ref_child VALUES (%s)", (missing,))
    ours = _error(
        conn,
        "SELECT public.raise_missing_reference('pg_temp', 'ref_child', 'ref_child_parent_id_fkey', "
        "'parent_id', %s, 'ref_parent')",
        (str(missing),),
    )
    assert _fields(ours) == _fields(real)

    used = uuid.uuid4()
    conn.execute("INSERT INTO ref_parent VALUES (%s)", (used,))
    conn.execute("INSERT INTO ref_child VALUES (%s)", (used,))
    real = _error(conn, "DELETE FROM ref_parent WHERE id = %s", (used,))
    ours = _error(
        conn,
        "SELECT public.raise_still_referenced('ref_parent', 'ref_child_parent_id_fkey', %s, 'pg_temp', 'ref_child')",
        (str(used),),
    )
    assert _fields(ours) == _fields(real)
