"""The application runs as the least-privileged logins docs/operations.md ("Roles and logins") prescribes.

Every other test connects as a superuser, so a privilege the application silently relies on (DDL in
a schema, COMMIT PREPARED, ANALYZE, a sequence, a function without EXECUTE...) would only fail in
production. Here each test creates, on its own database, a login role exactly as the operator does:
LOGIN, NOSUPERUSER, NOBYPASSRLS, NOCREATEDB, NOCREATEROLE, member of ``warp_app`` and ``warp_staff``
(the API, workers and operator CLI), of ``warp_owner`` and ``warp_staff`` (migrations, maintenance) or
of ``warp_readonly`` (reporting/BI), and runs the real API routes, CLI commands and workers through a
URL that logs in as it. Set-up rows are written as the superuser. Any server WARNING fails the test.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import dict_row
from typer.testing import CliRunner

import sibling_modules
from warp.api.app import create_app
from warp.cdr import ingest
from warp.cli.main import app as cli
from warp.db import tenant
from warp.messaging.dispatch import dispatch_once, load_providers
from warp.reporting import service as reporting
from warp.workers.webhooks import WebhookSettings, WebhookWorker
from warp_auth_fixtures import PASSWORD, TEST_POLICY, World, bearer

# What docs/operations.md tells the operator to run (the role names differ per test: roles are
# cluster-wide and tests run side by side on one server).
APP_ROLE_SQL = (
    "CREATE ROLE {role} LOGIN PASSWORD {password} NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE "
    "NOREPLICATION IN ROLE warp_app, warp_staff"
)
MAINTENANCE_ROLE_SQL = (
    "CREATE ROLE {role} LOGIN PASSWORD {password} NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE "
    "NOREPLICATION IN ROLE warp_owner, warp_staff"
)
READONLY_ROLE_SQL = (
    "CREATE ROLE {role} LOGIN PASSWORD {password} NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE "
    "NOREPLICATION IN ROLE warp_readonly"
)


cdr_helpers = sibling_modules.load("cdr", "cdr_helpers", "least_privilege")
messaging_helpers = sibling_modules.load("messaging", "messaging_helpers", "least_privilege")
routing_helpers = sibling_modules.load("routing", "routing_helpers", "least_privilege")


def _login_role(admin_url: str, create: str) -> Iterator[str]:
    """Create a login role with ``create`` (a template of the docs' SQL); yield a URL logging in as it."""
    role = f"warp_lp_{uuid.uuid4().hex[:12]}"
    password = uuid.uuid4().hex
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL(create).format(role=sql.Identifier(role), password=sql.Literal(password)))
    try:
        yield make_conninfo(admin_url, user=role, password=password)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (role,)
            )
            # a failed test may leave a two-phase half prepared (owned by the role it switched to)
            for gid in admin.execute(
                "SELECT gid FROM pg_prepared_xacts WHERE database = current_database()"
            ).fetchall():
                admin.execute(sql.SQL("ROLLBACK PREPARED {}").format(sql.Literal(gid[0])))
            admin.execute(sql.SQL("DROP OWNED BY {} CASCADE").format(sql.Identifier(role)))
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


@pytest.fixture
def app_url(db_url: str) -> Iterator[str]:
    """``db_url``, logging in as an API/worker role (member of warp_app and warp_staff)."""
    yield from _login_role(db_url, APP_ROLE_SQL)


@pytest.fixture
def readonly_url(db_url: str) -> Iterator[str]:
    """``db_url``, logging in as a reporting role (member of warp_readonly)."""
    yield from _login_role(db_url, READONLY_ROLE_SQL)


@pytest.fixture
def maintenance_url(db_url: str) -> Iterator[str]:
    """``db_url``, logging in as the maintenance role (member of warp_owner and warp_staff)."""
    yield from _login_role(db_url, MAINTENANCE_ROLE_SQL)


@pytest.fixture
def warp(app_url: str, monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """Run a ``warp`` command logging in as the application role; returns its stdout."""
    monkeypatch.setenv("WARP_DATABASE_URL", app_url)
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(cli, list(args))
        assert result.exit_code == 0, (args, result.output, result.exception)
        return result.stdout

    return run


@pytest.fixture(autouse=True)
def no_warnings(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Fails a test when the server sent any connection a WARNING: some statements the application
    runs do not fail without a privilege but warn and do nothing (ANALYZE of a table the role does
    not own: "skipping ..."; GRANT of a privilege it does not hold: "no privileges were granted")."""
    seen: list[str] = []
    original = psycopg.Connection.connect.__func__  # type: ignore[attr-defined]

    def connect(cls: Any, *args: Any, **kwargs: Any) -> Any:
        conn = original(cls, *args, **kwargs)
        conn.add_notice_handler(
            lambda d: seen.append(str(d.message_primary)) if d.severity_nonlocalized == "WARNING" else None
        )
        return conn

    monkeypatch.setattr(psycopg.Connection, "connect", classmethod(connect))
    monkeypatch.setattr(psycopg, "connect", psycopg.Connection.connect)  # an alias bound at import
    yield seen
    assert seen == [], "\n".join(seen)


def one(url: str, query: str, params: Any = None) -> Any:
    """One value, read as the superuser."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(query, params).fetchone()
    assert row is not None
    return row[0]


def test_the_roles_are_what_the_docs_prescribe(app_url: str, readonly_url: str) -> None:
    for url, member_of in ((app_url, {"warp_app", "warp_staff"}), (readonly_url, {"warp_readonly"})):
        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT r.rolsuper, r.rolbypassrls, r.rolcreatedb, r.rolcreaterole, r.rolreplication, "
                "array(SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
                "WHERE m.member = r.oid)::text[] FROM pg_roles r WHERE r.rolname = current_user"
            ).fetchone()
            assert row is not None
            assert row[:5] == (False, False, False, False, False)
            assert set(row[5]) == member_of
            # no DDL anywhere but the rate import's staging tables (warp_staff in import_staging, 0011)
            creates = conn.execute(
                "SELECT array_agg(nspname ORDER BY nspname)::text[] FROM pg_namespace "
                "WHERE has_schema_privilege(oid, 'CREATE')"
            ).fetchone()
            assert creates == (["import_staging"] if "warp_staff" in member_of else None,)
            # temporary tables (imports, rating) come from PUBLIC's default TEMPORARY on the database
            assert conn.execute("SELECT has_database_privilege(current_database(), 'TEMP')").fetchone() == (
                True,
            )


# ---------------------------------------------------------------------------------------------
# The API


def _login(client: TestClient, email: str) -> dict[str, str]:
    r = client.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return bearer(r.json()["token"])


def test_api_tenant_and_staff_requests(world: World, app_url: str) -> None:
    m = messaging_helpers.build(world)
    world.user(world.acme, "admin@acme.example")
    world.user(None, "ops@warp.example", role="staff_admin")
    with psycopg.connect(world.url, autocommit=True) as admin:
        carrier = admin.execute(
            "INSERT INTO routing.carriers (name) VALUES ('alpha') RETURNING id"
        ).fetchone()
        assert carrier is not None
        trunk = admin.execute(
            "INSERT INTO routing.carrier_trunks (carrier_id, name, host) VALUES (%s, 'alpha-east', 'sip.alpha') "
            "RETURNING id",
            (carrier[0],),
        ).fetchone()
        assert trunk is not None
        admin.execute(
            "INSERT INTO routing.rate_deck (carrier_trunk_id, prefix, rate, effective_date) "
            "VALUES (%s, '1', 0.004, '2020-01-01')",
            (trunk[0],),
        )
        admin.execute(
            "INSERT INTO numbers.inventory (number, npa, nxx, state, rate_center, lata, status) "
            "SELECT n, substr(n, 3, 3), substr(n, 6, 3), 'CO', 'DENVER', '656', 'AVAILABLE' "
            "FROM unnest(%s::text[]) AS n",
            (["+17205550001", "+17205550002", "+17205550003"],),
        )
    with TestClient(create_app(app_url, policy=TEST_POLICY, pool_size=2)) as client:
        assert client.app.state.warp.url == app_url  # type: ignore[attr-defined]
        # a tenant: a user session and an API key
        user = _login(client, "admin@acme.example")
        me = client.get("/v1/me", headers=user)
        assert me.status_code == 200, me.text
        assert me.json()["account"]["id"] == str(world.acme)
        key = bearer(m.acme_key)
        created = client.post("/v1/trunks", headers=key, json={"name": "acme-edge", "auth_type": "IP_ACL"})
        assert created.status_code == 201, created.text
        trunks = client.get("/v1/trunks", headers=key)
        assert trunks.status_code == 200, trunks.text
        assert [t["name"] for t in trunks.json()["data"]] == ["acme-edge"]
        lcr = client.get("/v1/routing/lcr", headers=key, params={"destination": "+13035550199"})
        assert lcr.status_code == 200, lcr.text
        sent = messaging_helpers.send(client, m.acme_key, m.acme_local, "+17205550123")
        assert sent.status_code == 202, sent.text
        found = client.get("/v1/available-numbers", headers=key, params={"npa": "720"})
        assert found.status_code == 200, found.text
        assert len(found.json()) == 3
        held = client.post(
            "/v1/number-reservations", headers=key, json={"numbers": ["+17205550001"], "ttl_minutes": 5}
        )
        assert held.status_code == 201, held.text
        invoices = client.get("/v1/invoices", headers=key)
        assert invoices.status_code == 200, invoices.text
        daily = client.get("/v1/reports/daily-summary", headers=key)
        assert daily.status_code == 200, daily.text
        # staff
        staff = _login(client, "ops@warp.example")
        assert client.get("/v1/me", headers=staff).status_code == 200
        trunks = client.get("/v1/trunks", headers=staff, params={"account_id": str(world.acme)})
        assert trunks.status_code == 200, trunks.text
        lcr = client.get(
            "/v1/routing/lcr",
            headers=staff,
            params={"destination": "+13035550199", "account_id": str(world.acme)},
        )
        assert lcr.status_code == 200, lcr.text
        assert client.get("/v1/invoices", headers=staff).status_code == 200
        for path in ("/v1/reports/traffic", "/v1/reports/carriers"):
            r = client.get(path, headers=staff)
            assert r.status_code == 200, (path, r.text)
    # the writes happened, as the application role
    assert one(world.url, "SELECT count(*) FROM messaging.mdr") == 1
    assert one(world.url, "SELECT count(*) FROM numbers.inventory WHERE status = 'RESERVED'") == 1
    assert one(world.url, "SELECT count(*) FROM audit.api_request_log") > 0


# ---------------------------------------------------------------------------------------------
# Workers: messaging dispatch and webhook delivery


def test_messaging_dispatch_and_webhook_workers(
    world: World, app_url: str, warp: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver = messaging_helpers.VendorServer()  # records every POST
    try:
        m = messaging_helpers.build(world, webhook_url=receiver.base + "/hook")
        with TestClient(create_app(app_url, policy=TEST_POLICY, pool_size=2)) as client:
            for peer in ("+17205550123", "+17205550124"):
                sent = messaging_helpers.send(client, m.acme_key, m.acme_local, peer)
                assert sent.status_code == 202, sent.text
        with psycopg.connect(app_url, row_factory=dict_row) as conn:
            with tenant.transaction(conn, tenant.Context(staff=True)):
                providers = load_providers(conn, TEST_POLICY)
            assert dispatch_once(conn, providers, limit=1) == 1
        # the other one by `warp worker messaging --once`
        monkeypatch.setenv("WARP_SECRET_KEY", TEST_POLICY.secret_key or "")
        summary = json.loads(warp("worker", "messaging", "--once", "--quiet", "--json"))
        assert summary, summary
        worker = WebhookWorker(
            app_url, TEST_POLICY, WebhookSettings(base_delay=0.01, max_delay=0.05, batch=10, concurrency=2)
        )
        try:
            with psycopg.connect(app_url) as conn:
                assert worker.run_once(conn) >= 1
        finally:
            worker.close()
        assert receiver.requests, "no webhook delivered"
        assert one(world.url, "SELECT count(*) FROM messaging.webhook_attempts") >= 1
        assert one(world.url, "SELECT array_agg(DISTINCT status)::text[] FROM messaging.mdr") == ["SENT"]
    finally:
        receiver.close()


# ---------------------------------------------------------------------------------------------
# CLI and workers an operator runs


@pytest.mark.parametrize("parallel", [False, True], ids=["one-connection", "two-connections"])
def test_cdr_import_worker_and_invoices(
    db_url: str,
    app_url: str,
    warp: Callable[..., str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    parallel: bool,
) -> None:
    monkeypatch.setattr(ingest, "PARALLEL_MIN_BYTES", 0 if parallel else 1 << 40)
    with psycopg.connect(db_url, autocommit=True) as admin:
        cdr_helpers.build_world(admin)
        rows = cdr_helpers.cdr_rows(40, start="2026-10-10 12:00:00")
        for row in rows[30:]:
            admin.execute(
                "INSERT INTO kamailio.acc_cdrs (start_time, end_time, duration, callid, src_ip, from_user, "
                "ruri_user, sip_code, sip_reason, carrier_trunk, pdd_ms) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                row,
            )
    path = cdr_helpers.write_csv(tmp_path / "cdrs.csv", rows[:30])
    loaders: list[bool] = []
    opened = ingest._open_helpers

    def spy(conn: psycopg.Connection[Any]) -> list[psycopg.Connection[Any]]:
        helpers = opened(conn)
        loaders.append(bool(helpers))
        return helpers

    monkeypatch.setattr(ingest, "_open_helpers", spy)
    imported = json.loads(warp("cdr", "import", str(path), "--json"))
    assert (imported["rows"], imported["inserted"], imported["bad"]) == (30, 30, 0)
    assert loaders == ([True] if parallel else [])
    again = json.loads(warp("cdr", "import", str(path), "--json"))
    assert (again["inserted"], again["duplicates"]) == (0, 30)
    worked = json.loads(warp("worker", "cdr", "--once", "--table", "kamailio.acc_cdrs", "--json"))
    assert worked, worked
    assert one(db_url, "SELECT count(*) FROM cdr.raw_cdr") == 40
    assert one(db_url, "SELECT count(*) FROM cdr.enriched_cdr") == 40
    rated = one(db_url, "SELECT count(*) FROM cdr.enriched_cdr WHERE customer_charge IS NOT NULL")
    assert rated > 0
    warp("cdr", "process", "--json")
    warp("invoices", "run", "--period", "2026-10", "--issue", "--json")
    warp("worker", "billing", "--once", "--json")
    assert one(db_url, "SELECT count(*) FROM billing.invoices WHERE status <> 'DRAFT'") >= 1
    lcr = json.loads(warp("lcr", "+13035550199", "--account", "ACME", "--json"))
    assert lcr


@pytest.mark.parametrize(
    "flags", [[], ["--single-transaction"]], ids=["two-connections", "single-transaction"]
)
def test_rate_import(
    db_url: str,
    warp: Callable[..., str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    flags: list[str],
) -> None:
    runs = routing_helpers.two_connection_loads(monkeypatch)
    warp("carriers", "create", "--name", "Alpha")
    warp("carrier-trunks", "create", "--carrier", "Alpha", "--name", "alpha-1", "--host", "198.51.100.1")
    deck = tmp_path / "deck.csv"
    deck.write_text(
        "prefix,rate\n" + "".join(f"{p},0.0{p[0]}\n" for p in ("1", "12", "3", "44", "5", "6", "77", "9"))
    )
    for _ in range(2):  # a fresh deck, then one replacing it
        summary = json.loads(
            warp("rates", "import", "--carrier-trunk", "alpha-1", str(deck), "--replace", "--json", *flags)
        )
        assert summary["loaded"] == 8
    assert runs == ([] if flags else [True, True])
    assert one(db_url, "SELECT count(*) FROM pg_prepared_xacts") == 0
    assert (
        one(
            db_url,
            "SELECT count(*) FROM routing.rate_deck WHERE expires_date IS NULL OR expires_date > current_date",
        )
        == 8
    )
    assert one(db_url, "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'rate\\_import\\_%'") == 0


def test_reference_imports_and_reconciliation(db_url: str, warp: Callable[..., str], tmp_path: Path) -> None:
    """The other imports an operator runs: numbers, LERG, LRN, a rate plan, a carrier's CDRs, reconcile."""
    with psycopg.connect(db_url, autocommit=True) as admin:
        cdr_helpers.build_world(admin)
    files = {
        "numbers.csv": "number,number_type,npa,nxx,rate_center,state,lata,ocn,carrier\n"
        "+13035550111,DID,303,555,DENVER,CO,656,1234,\n",
        "lerg.csv": "npa,nxx,state,lata,ocn,rate_center\n720,555,CO,656,1234,DENVER\n",
        "lrn.csv": "number,lrn\n+13035550111,3035550000\n",
        "plan.csv": "message_type,rate\nSMS,0.004\n",
        "vendor.csv": "call_id,ani,dnis,start_time,duration,cost\nv-1,+12125550199,+13035550100,"
        "2026-10-10 12:00:00,60,0.004\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    assert json.loads(warp("numbers", "import", str(tmp_path / "numbers.csv"), "--json"))["errors"] == []
    warp("lerg", "import", str(tmp_path / "lerg.csv"), "--json")
    warp("lrn", "import", str(tmp_path / "lrn.csv"), "--json")
    warp("rate-plans", "import", "LP-PLAN", str(tmp_path / "plan.csv"), "--json")
    warp("vendor-cdr", "import", str(tmp_path / "vendor.csv"), "--carrier", "alpha", "--json")
    warp("reconcile", "--carrier", "alpha", "--from", "2026-10-01", "--to", "2026-11-01", "--json")
    assert one(db_url, "SELECT count(*) FROM cdr.lerg WHERE npa = '720'") == 1
    assert one(db_url, "SELECT count(*) FROM cdr.lrn_cache") == 1
    assert one(db_url, "SELECT count(*) FROM cdr.vendor_cdr") == 1
    assert one(db_url, "SELECT count(*) FROM numbers.inventory WHERE number = '+13035550111'") == 1


def test_operator_commands(seeded_url: str, warp: Callable[..., str]) -> None:
    """Accounts, API keys, partitions ahead, the compliance report (exit 1 only when something needs
    attention, never a permission error)."""
    warp("accounts", "create", "--name", "Acme", "--ban", "ACME1", "--type", "RESELLER")
    warp("accounts", "create", "--name", "Kid", "--ban", "KID1", "--parent", "ACME1")
    warp("api-keys", "create", "--account", "KID1", "--name", "ci", "--scopes", "cdr:read")
    warp("maintenance", "partitions", "--ahead", "2", "--json")
    result = CliRunner().invoke(cli, ["compliance", "report", "--json"])
    assert result.exit_code in (0, 1), (result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert isinstance(json.loads(result.stdout), dict)
    assert one(seeded_url, "SELECT count(*) FROM auth.api_keys") == 1
    assert one(seeded_url, "SELECT count(*) FROM accounts.account_hierarchy") == 1


# ---------------------------------------------------------------------------------------------
# Reporting / BI: warp_readonly


def test_readonly_role_reads_reports_and_cannot_write(world: World, readonly_url: str) -> None:
    with psycopg.connect(world.url, autocommit=True) as admin:
        admin.execute(
            "INSERT INTO cdr.raw_cdr (start_time, call_id, sip_code, duration, account_id) "
            "VALUES (now() - interval '1 hour', 'r-1', 200, 30, %s), (now() - interval '1 hour', 'r-2', 200, 30, %s)",
            (world.acme, world.globex),
        )
        with tenant.transaction(admin, tenant.STAFF):
            reporting.refresh_all(admin)
    now = datetime.now(UTC)
    with psycopg.connect(readonly_url, row_factory=dict_row) as conn:
        # BI reads the materialized views directly (all accounts)
        with conn.transaction():
            for view in ("hourly_traffic", "daily_account_summary", "carrier_performance"):
                conn.execute(sql.SQL("SELECT * FROM reporting.{}").format(sql.Identifier(view))).fetchall()
            assert len(reporting.traffic(conn, now - timedelta(days=1), now + timedelta(hours=1), None)) == 2
            assert (
                reporting.carriers(conn, now - timedelta(days=2), now + timedelta(days=1)) == []
            )  # no carrier
        # a tenant's reads through row-level security and the tenant view
        acme = tenant.Context(account_id=world.acme, role=tenant.READONLY_ROLE)
        with tenant.transaction(conn, acme):
            summary = reporting.daily_summary(conn, now - timedelta(days=2), now + timedelta(days=1))
            assert {str(r["account_id"]) for r in summary} == {str(world.acme)}
            accounts = conn.execute("SELECT ban FROM accounts.accounts ORDER BY ban").fetchall()
            assert [a["ban"] for a in accounts] == ["ACME", "ACME-KID"]
        # nothing without a tenant in the tables under row-level security
        with conn.transaction():
            assert conn.execute("SELECT count(*) AS n FROM cdr.raw_cdr").fetchone() == {"n": 0}
        # and no writes, no refresh, no switching to a writing role
        for statement in (
            "INSERT INTO accounts.accounts (ban, name) VALUES ('RO', 'ro')",
            "UPDATE accounts.accounts SET name = 'x'",
            "DELETE FROM cdr.raw_cdr",
            "SELECT reporting.refresh('hourly_traffic')",
            "SET ROLE warp_app",
            "SET ROLE warp_staff",
            "SELECT set_config('role', 'warp_staff', true)",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
                conn.execute(statement)
        with pytest.raises(psycopg.errors.InsufficientPrivilege), tenant.transaction(conn, tenant.STAFF):
            pass


def test_maintenance_runs_as_the_maintenance_role(
    db_url: str, maintenance_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``warp maintenance run`` as docs/operations.md's maintenance role: every step succeeds (ANALYZE
    warns, and the autouse check fails, for each table it may not analyze)."""
    monkeypatch.setenv("WARP_DATABASE_URL", maintenance_url)
    result = CliRunner().invoke(cli, ["maintenance", "run", "--json"])
    assert result.exit_code == 0, (result.output, result.exception)
    steps = json.loads(result.stdout)["steps"]
    assert [s["step"] for s in steps if not s["ok"]] == []
    analyzed = next(s["detail"] for s in steps if s["step"] == "update statistics")
    assert int(analyzed.split()[1].lstrip("(")) > 50, analyzed  # every WARP table, none skipped


def test_migrations_run_as_the_maintenance_login(
    template_db: str, empty_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``warp db migrate`` on an empty database owned by the maintenance login (not a superuser), once
    the group roles exist (``template_db`` made them): every WARP object ends up owned by warp_owner,
    and ``warp maintenance run`` as the same login analyzes every table without a warning."""
    logins = _login_role(empty_db_url, MAINTENANCE_ROLE_SQL)
    url = next(logins)
    database = sql.Identifier(str(conninfo_to_dict(url)["dbname"]))
    user = sql.Identifier(str(conninfo_to_dict(url)["user"]))
    with psycopg.connect(empty_db_url, autocommit=True) as admin:
        admin.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(database, user))
    try:
        monkeypatch.setenv("WARP_DATABASE_URL", url)
        migrated = CliRunner().invoke(cli, ["db", "migrate"])
        assert migrated.exit_code == 0, (migrated.output, migrated.exception)
        with psycopg.connect(empty_db_url, autocommit=True) as admin:
            not_owned = admin.execute(
                "SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relkind IN ('r', 'p', 'm', 'v') AND n.nspname NOT IN ('pg_catalog', 'information_schema', "
                "'public') AND n.nspname NOT LIKE 'pg\\_%' AND c.relowner <> 'warp_owner'::regrole ORDER BY 1"
            ).fetchall()
            assert not_owned == []
        maintained = CliRunner().invoke(cli, ["maintenance", "run", "--json"])
        assert maintained.exit_code == 0, (maintained.output, maintained.exception)
    finally:
        with psycopg.connect(empty_db_url, autocommit=True) as admin:
            admin.execute(sql.SQL("ALTER DATABASE {} OWNER TO CURRENT_USER").format(database))
        for _ in logins:  # drops the login
            pass
