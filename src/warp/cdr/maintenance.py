"""Partition maintenance: monthly partitions ahead, stray rows moved out of the default partitions."""

from __future__ import annotations

from typing import Any

import psycopg


def maintain_partitions(conn: psycopg.Connection[Any], ahead: int = 3) -> list[str]:
    """Create partitions for this month and ``ahead`` months (and months stranded in a default partition)."""
    return [
        str(r[0] if not isinstance(r, dict) else next(iter(r.values())))
        for r in conn.execute("SELECT partition_name FROM cdr.maintain_partitions(%s)", (ahead,)).fetchall()
    ]


def default_partition_rows(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """Rows left in the CDR default partitions."""
    row = conn.execute(
        "SELECT (SELECT count(*) FROM cdr.raw_cdr WHERE tableoid = 'cdr.raw_cdr_default'::regclass) AS raw, "
        "(SELECT count(*) FROM cdr.enriched_cdr WHERE tableoid = 'cdr.enriched_cdr_default'::regclass) AS enriched"
    ).fetchone()
    values = list(row.values()) if isinstance(row, dict) else list(row or (0, 0))
    return {"cdr.raw_cdr_default": int(values[0]), "cdr.enriched_cdr_default": int(values[1])}
