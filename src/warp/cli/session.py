"""How CLI commands reach the database: one staff transaction per command."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from warp.db import tenant
from warp.db.connection import connect, database_url


@contextmanager
def staff_connection(actor: str = "STAFF") -> Iterator[psycopg.Connection[Any]]:
    """A connection inside one transaction acting as platform staff (operators run the CLI).

    Rows come back as dicts; the transaction commits when the block ends without error.
    """
    with (
        connect(database_url()) as conn,
        tenant.transaction(conn, tenant.Context(staff=True, actor_type=actor)),
    ):
        yield conn
