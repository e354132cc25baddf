"""Through PgBouncer in transaction pooling mode: tenant context never leaks between transactions,
and the API's tenancy and auth tests pass unchanged."""

from __future__ import annotations

import inspect
from collections.abc import Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg.rows import dict_row

import sibling_modules
from ops_fixtures import Bouncer
from warp.api.app import create_app
from warp.db import tenant
from warp_auth_fixtures import TEST_POLICY, World

# The API's own tenant-isolation and auth test modules, run again with the app's pool behind PgBouncer:
# every test of theirs that goes through the API (asks for the `client` fixture, which this module
# overrides) and needs no fixture but these.
THROUGH_PGBOUNCER = (
    ("api", "test_tenancy_api"),
    ("api", "test_me"),
    ("auth", "test_sessions"),
    ("auth", "test_api_keys"),
    ("auth", "test_user_invites"),
)
AVAILABLE_FIXTURES = {"client", "world", "seeded_url", "db_url", "monkeypatch", "tmp_path"}
REPLAYED: list[str] = []
for _directory, _module_name in THROUGH_PGBOUNCER:
    _module = sibling_modules.load(_directory, _module_name, "via_pgbouncer")
    for _name, _test in sorted(vars(_module).items()):
        if not (_name.startswith("test_") and callable(_test)):
            continue
        _params = set(inspect.signature(_test).parameters)
        if "client" in _params and _params <= AVAILABLE_FIXTURES:
            globals()[f"{_name}_via_pgbouncer"] = _test
            REPLAYED.append(f"{_module_name}.{_name}")


def test_the_tenancy_and_auth_api_tests_are_replayed_through_pgbouncer(
    client: TestClient, pgbouncer: Bouncer
) -> None:
    """Guards the collection above: a refactor that silently stopped replaying them would fail here."""
    assert f"port={pgbouncer.port}" in client.app.state.warp.url  # the replayed tests' app pool
    by_module = {m: sum(1 for r in REPLAYED if r.startswith(f"{m}.")) for _, m in THROUGH_PGBOUNCER}
    assert by_module["test_tenancy_api"] == 3 and by_module["test_me"] == 2
    assert by_module["test_sessions"] >= 6 and by_module["test_api_keys"] >= 5
    assert "test_tenancy_api.test_other_tenants_objects_are_not_found" in REPLAYED


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
