"""Connection options that depend on what sits between WARP and PostgreSQL.

Behind PgBouncer in transaction pooling mode (``WARP_DB_POOLER=pgbouncer``) consecutive transactions
of one client may run on different server connections, so nothing may live in the session: tenant
context is already per transaction (``warp.db.tenant``), and psycopg's automatic server-side
prepared statements are turned off (PgBouncer < 1.21 cannot route them).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any


def behind_pgbouncer(environ: Mapping[str, str] | None = None) -> bool:
    """True when ``WARP_DB_POOLER`` says connections go through PgBouncer."""
    env = os.environ if environ is None else environ
    return env.get("WARP_DB_POOLER", "").lower() == "pgbouncer"


def connection_kwargs(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Extra psycopg connection arguments for the pooler in use."""
    return {"prepare_threshold": None} if behind_pgbouncer(environ) else {}
