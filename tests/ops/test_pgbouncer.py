"""Through PgBouncer in transaction pooling mode: tenant context never leaks between transactions,
and the API's tenancy and auth tests pass unchanged."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg.rows import dict_row

from ops_fixtures import Bouncer
from warp.api.app import create_app
from warp.db import tenant
from warp_auth_fixtures import TEST_POLICY, World


def _load(name: str) -> Any:
    path = Path(__file__).resolve().parents[1] / "api" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"via_pgbouncer_{name}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_tenancy = _load("test_tenancy_api")
_me = _load("test_me")
# The API's own tenant-isolation and auth tests, run again with the app's pool behind PgBouncer.
test_other_tenants_objects_are_not_found_via_pgbouncer = _tenancy.test_other_tenants_objects_are_not_found
test_reseller_sees_its_child_via_pgbouncer = _tenancy.test_reseller_sees_its_child_but_not_the_other_way
test_staff_session_sees_every_account_via_pgbouncer = _tenancy.test_staff_session_sees_every_account
for _name in dir(_me):
    if _name.startswith("test_"):
        globals()[f"{_name}_via_pgbouncer"] = getattr(_me, _name)


@pytest.fixture
def client(world: World, pgbouncer: Bouncer, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The API with its pool connected through PgBouncer (overrides the direct client)."""
    monkeypatch.setenv("WARP_DB_POOLER", "pgbouncer")
    app = create_app(pgbouncer.url(world.url), policy=TEST_POLICY, pool_size=4)
    with TestClient(app, client=("198.51.100.7", 40000)) as c:
        yield c


def test_tenant_context_never_leaks_across_pooled_transactions(world: World, pgbouncer: Bouncer) -> None:
    url = pgbouncer.url(world.url)
    with psycopg.connect(world.url, autocommit=True) as direct:
        for account in (world.acme, world.globex):
            direct.execute(
                "INSERT INTO accounts.contacts (account_id, contact_type, name, email) "
                "VALUES (%s, 'BILLING', 'x', 'x@example.com')",
                (account,),
            )
    a = psycopg.connect(url, row_factory=dict_row, prepare_threshold=None)
    b = psycopg.connect(url, row_factory=dict_row, prepare_threshold=None)
    try:
        seen_pids = set()
        for _ in range(5):
            with tenant.transaction(a, tenant.Context(account_id=world.globex)):
                seen_pids.add(a.execute("SELECT pg_backend_pid() AS pid").fetchone()["pid"])
                rows = a.execute("SELECT DISTINCT account_id FROM accounts.contacts").fetchall()
                assert [r["account_id"] for r in rows] == [world.globex]
            # The next transaction, from another client, may run on the same server connection:
            with b.transaction():
                seen_pids.add(b.execute("SELECT pg_backend_pid() AS pid").fetchone()["pid"])
                state = b.execute(
                    "SELECT current_user AS who, coalesce(current_setting('warp.account_id', true), '') AS tenant, "
                    "coalesce(current_setting('warp.role', true), '') AS role"
                ).fetchone()
                assert state == {"who": "postgres", "tenant": "", "role": ""}
            with tenant.transaction(b, tenant.Context()):  # the app role without a tenant sees nothing
                assert b.execute("SELECT count(*) AS n FROM accounts.contacts").fetchone() == {"n": 0}
        assert len(seen_pids) <= 2  # pooled: at most default_pool_size server connections served both clients
    finally:
        a.close()
        b.close()
