"""Provider plugins: registry, config validation on save, secret references, health checks, failover."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row
from typer.testing import CliRunner

from warp.cdr.reference import resolve_lrns
from warp.cli.main import app
from warp.db import tenant
from warp.vendors import registry, service
from warp.vendors.errors import (
    DuplicateProvider,
    InvalidProviderConfig,
    NoProviderAvailable,
    SecretUnavailable,
    UnknownProviderType,
)
from warp.vendors.secrets import MappingSecretStore, SecretResolver

STAFF = tenant.Context(staff=True, actor_type="STAFF")
SECRET_VALUE = "s3cr3t-lrn-api-key-value"


@pytest.fixture
def staff(db_url: str) -> Any:
    with psycopg.connect(db_url, row_factory=dict_row, autocommit=True) as conn:
        yield conn


def _tx(conn: psycopg.Connection[Any]) -> Any:
    return tenant.transaction(conn, STAFF)


def test_builtin_plugins_are_registered_through_entry_points() -> None:
    from importlib.metadata import entry_points

    names = {ep.name for ep in entry_points(group="warp.providers")}
    assert {"loopback", "http", "local-lrn"} <= names
    assert registry.plugin_for("local-lrn").capabilities == frozenset({"lrn_lookup"})
    with pytest.raises(UnknownProviderType, match="no plugin 'nope'"):
        registry.plugin_for("nope")


def test_config_is_validated_when_saved(staff: psycopg.Connection[Any]) -> None:
    with _tx(staff) as conn:
        with pytest.raises(InvalidProviderConfig, match=r"config\.colour: Extra inputs"):
            service.add_provider(
                conn, name="x", provider_type="local-lrn", capabilities=["lrn_lookup"], config={"colour": 1}
            )
        with pytest.raises(InvalidProviderConfig, match=r"config\.ported"):
            service.add_provider(
                conn,
                name="x",
                provider_type="local-lrn",
                capabilities=["lrn_lookup"],
                config={"ported": {"555": "+1"}},
            )
        with pytest.raises(InvalidProviderConfig, match="does not offer sms"):
            service.add_provider(conn, name="x", provider_type="local-lrn", capabilities=["sms"], config={})
        with pytest.raises(InvalidProviderConfig, match=r"config\.url"):
            service.add_provider(
                conn, name="x", provider_type="http", capabilities=["sms"], config={"url": "ftp://x"}
            )
        with pytest.raises(UnknownProviderType):
            service.add_provider(conn, name="x", provider_type="bogus", capabilities=["sms"], config={})
    assert staff.execute("SELECT count(*) AS n FROM vendor_mgmt.service_providers").fetchone() == {"n": 0}


def test_credentials_in_clear_are_refused_and_never_stored(staff: psycopg.Connection[Any]) -> None:
    with _tx(staff) as conn:
        with pytest.raises(
            InvalidProviderConfig, match=r"config\.api_key_ref: credentials must be references"
        ):
            service.add_provider(
                conn,
                name="lrn",
                provider_type="local-lrn",
                capabilities=["lrn_lookup"],
                config={"api_key_ref": SECRET_VALUE},
            )
        with pytest.raises(
            InvalidProviderConfig, match=r"config\.auth_token: credentials must be references"
        ):
            service.add_provider(
                conn,
                name="sms",
                provider_type="http",
                capabilities=["sms"],
                config={"url": "https://v.example/send", "auth_token": SECRET_VALUE},
            )
        row = service.add_provider(
            conn,
            name="lrn",
            provider_type="local-lrn",
            capabilities=["lrn_lookup"],
            config={"api_key_ref": "env:LRN_KEY"},
        )
        with pytest.raises(DuplicateProvider):
            service.add_provider(
                conn, name="lrn", provider_type="local-lrn", capabilities=["lrn_lookup"], config={}
            )
    assert row["config"] == {"api_key_ref": "env:LRN_KEY", "fail": False, "ported": {}}
    dump = staff.execute(
        "SELECT (SELECT string_agg(config::text, ' ') FROM vendor_mgmt.service_providers) || "
        "(SELECT string_agg(coalesce(new_row::text, ''), ' ') FROM audit.audit_log) AS everything"
    ).fetchone()
    assert SECRET_VALUE not in dump["everything"]


def test_secret_references_resolve_only_at_use(tmp_path: Path) -> None:
    secret_file = tmp_path / "token"
    secret_file.write_text(SECRET_VALUE + "\n")
    resolver = SecretResolver(
        store=MappingSecretStore({"lrn": "from-store"}), environ={"LRN_KEY": "from-env"}
    )
    assert resolver.resolve("env:LRN_KEY") == "from-env"
    assert resolver.resolve(f"file:{secret_file}") == SECRET_VALUE
    assert resolver.resolve("secret:lrn") == "from-store"
    for ref, why in (
        ("env:MISSING", "env:MISSING: the variable is not set"),
        (f"file:{tmp_path}/none", "cannot be read"),
        ("secret:other", "not in the secret store"),
        ("plain", "none configured"),
    ):
        with pytest.raises(SecretUnavailable, match=why):
            resolver.resolve(ref)
    (tmp_path / "dirstore").mkdir()
    (tmp_path / "dirstore" / "vendor_pw").write_text("pw-from-dir")
    by_dir = SecretResolver(environ={"WARP_SECRETS_DIR": str(tmp_path / "dirstore")})
    assert by_dir.resolve("secret:vendor_pw") == "pw-from-dir"
    with pytest.raises(SecretUnavailable):
        by_dir.resolve("secret:../token")


def test_providers_by_capability_in_priority_order(staff: psycopg.Connection[Any]) -> None:
    with _tx(staff) as conn:
        for name, prio, enabled in (("c", 30, True), ("a", 10, True), ("off", 1, False), ("b", 20, True)):
            service.add_provider(
                conn,
                name=name,
                provider_type="local-lrn",
                capabilities=["lrn_lookup"],
                config={},
                priority=prio,
                enabled=enabled,
            )
        service.add_provider(
            conn, name="sms", provider_type="loopback", capabilities=["sms"], config={}, priority=1
        )
    with tenant.transaction(staff, tenant.Context()) as conn:  # the application role, no tenant
        names = [
            r["name"]
            for r in conn.execute("SELECT name FROM vendor_mgmt.get_providers_by_capability('lrn_lookup')")
        ]
        assert names == ["a", "b", "c"]
        assert conn.execute("SELECT count(*) AS n FROM vendor_mgmt.service_providers").fetchone() == {"n": 0}


def test_health_check_records_and_failover_to_the_next_provider(staff: psycopg.Connection[Any]) -> None:
    with _tx(staff) as conn:
        service.add_provider(
            conn,
            name="primary",
            provider_type="local-lrn",
            capabilities=["lrn_lookup"],
            config={"fail": True},
            priority=10,
        )
        service.add_provider(
            conn,
            name="backup",
            provider_type="local-lrn",
            capabilities=["lrn_lookup"],
            config={"ported": {"+12125550100": "+12125559999"}, "api_key_ref": "secret:lrn"},
            priority=20,
        )
    secrets = SecretResolver(store=MappingSecretStore({"lrn": SECRET_VALUE}))
    with _tx(staff) as conn:
        failover = service.FailoverLrnProvider(conn, secrets)
        answers = resolve_lrns(conn, ["+12125550100", "+13125550100"], failover)
        assert answers == {"+12125550100": "+12125559999", "+13125550100": None}
        assert failover.last_provider == "backup"
    rows = staff.execute(
        "SELECT p.name, h.status, h.error FROM vendor_mgmt.provider_health_checks h "
        "JOIN vendor_mgmt.service_providers p ON p.id = h.service_provider_id ORDER BY h.checked_at, p.name"
    ).fetchall()
    assert sorted((r["name"], r["status"]) for r in rows) == [("backup", "HEALTHY"), ("primary", "DOWN")]
    assert "configured to fail" in next(r["error"] for r in rows if r["name"] == "primary")
    states = dict(
        (r["name"], r["health_status"])
        for r in staff.execute("SELECT name, health_status FROM vendor_mgmt.service_providers")
    )
    assert states == {"primary": "DOWN", "backup": "HEALTHY"}
    # The backup's secret is needed at use: without it the backup fails too, and nothing is left.
    with (
        _tx(staff) as conn,
        pytest.raises(NoProviderAvailable, match=r"primary: .*fail.*backup: .*secret:lrn"),
    ):
        service.with_failover(
            conn,
            "lrn_lookup",
            lambda p: p.lookup(["+12125550100"]),
            SecretResolver(store=MappingSecretStore({})),
        )
    with _tx(staff) as conn, pytest.raises(NoProviderAvailable, match="no enabled provider"):
        service.with_failover(conn, "cnam", lambda p: p, secrets)


def test_sms_failover_serves_the_messaging_protocol(staff: psycopg.Connection[Any]) -> None:
    import uuid
    from datetime import UTC, datetime

    from warp.messaging.providers import OutboundMessage

    with _tx(staff) as conn:
        service.add_provider(
            conn,
            name="down",
            provider_type="loopback",
            capabilities=["sms"],
            config={"fail": True},
            priority=1,
        )
        service.add_provider(
            conn, name="up", provider_type="loopback", capabilities=["sms"], config={}, priority=2
        )
        sms = service.FailoverSmsProvider(conn, SecretResolver(store=MappingSecretStore({})))
        mid = uuid.uuid4()
        ref = sms.send(
            OutboundMessage(mid, datetime.now(UTC), "SMS", "+12125550100", "+13125550100", "hi", [])
        )
    assert ref == f"loop-{mid}" and sms.last_provider == "up"


def test_cli_add_list_check(db_url: str, monkeypatch: Any) -> None:
    monkeypatch.setenv("WARP_DATABASE_URL", db_url)
    monkeypatch.setenv("LRN_TOKEN", SECRET_VALUE)
    runner = CliRunner()
    ok = runner.invoke(
        app,
        [
            "providers",
            "add",
            "dip",
            "--type",
            "local-lrn",
            "-c",
            "lrn_lookup",
            "--priority",
            "5",
            "--config",
            json.dumps({"api_key_ref": "env:LRN_TOKEN"}),
            "--json",
        ],
    )
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["config"]["api_key_ref"] == "env:LRN_TOKEN"
    bad = runner.invoke(
        app,
        [
            "providers",
            "add",
            "bad",
            "--type",
            "local-lrn",
            "-c",
            "lrn_lookup",
            "--config",
            '{"api_key_ref": "plain"}',
        ],
    )
    assert bad.exit_code != 0
    listed = runner.invoke(app, ["providers", "list", "--json"])
    assert [p["name"] for p in json.loads(listed.stdout)] == ["dip"]
    checked = runner.invoke(app, ["providers", "check", "--json"])
    assert checked.exit_code == 0, checked.output
    assert json.loads(checked.stdout)[0]["status"] == "HEALTHY"
    monkeypatch.delenv("LRN_TOKEN")
    down = runner.invoke(app, ["providers", "check", "dip", "--json"])
    assert down.exit_code == 1 and json.loads(down.stdout)[0]["status"] == "DOWN"
    types = runner.invoke(app, ["providers", "types", "--json"])
    assert "api_key_ref" in json.loads(types.stdout)["local-lrn"]["config_schema"]["properties"]
