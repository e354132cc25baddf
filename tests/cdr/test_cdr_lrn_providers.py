"""LRN look-ups through the vendor_mgmt provider registry (capability lrn_lookup): failover by priority,
answers cached in cdr.lrn_cache with the answering provider, rating going on when every provider fails."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest
from cdr_helpers import build_world, cdr_rows, one, write_csv
from test_process import enriched, staff_world
from test_worker_and_crash import ACC_TABLE, add_acc_rows

from warp.cdr import rating
from warp.cdr.ingest import import_file
from warp.cdr.reference import RegistryLrnProvider, lookup_lrns, registry_lrn_provider
from warp.vendors import service
from warp.vendors.errors import NoProviderAvailable
from warp.workers import cdr as worker

PORTED = {"+12125550101": "+13035550000"}  # a New York number ported to a Colorado switch


def add_providers(conn: psycopg.Connection[Any], *, backup_fails: bool = False) -> dict[str, Any]:
    primary = service.add_provider(
        conn,
        name="dip-primary",
        provider_type="local-lrn",
        capabilities=["lrn_lookup"],
        config={"fail": True},
        priority=10,
    )
    backup = service.add_provider(
        conn,
        name="dip-backup",
        provider_type="local-lrn",
        capabilities=["lrn_lookup"],
        config={"ported": PORTED, "fail": backup_fails},
        priority=20,
    )
    return {"primary": primary["id"], "backup": backup["id"]}


def test_rating_fails_over_to_the_second_provider_and_caches(
    conn: psycopg.Connection[Any], tmp_path: Path
) -> None:
    staff_world(conn)
    ids = add_providers(conn)
    import_file(conn, write_csv(tmp_path / "a.csv", cdr_rows(8)))
    provider = registry_lrn_provider(conn)
    assert isinstance(provider, RegistryLrnProvider)
    result = rating.process(conn, provider=provider)
    assert result.lrn_errors == [] and result.lrn_looked_up == 3  # the three NANP destinations
    assert provider.last_provider == "dip-backup" and provider.last_provider_id == ids["backup"]
    # the ported destination terminates in CO: NY -> CO is interstate, not intrastate
    e = enriched(conn, "call-1@switch")
    assert e["lrn"] == "+13035550000" and e["terminating_state"] == "CO" and e["jurisdiction"] == "INTERSTATE"
    # answers cached (ported and not ported) with a TTL and the provider that gave them
    cached = conn.execute(
        "SELECT number, lrn, source, service_provider_id, expires_at > now() FROM cdr.lrn_cache ORDER BY number"
    ).fetchall()
    assert [tuple(r) for r in cached] == [
        ("+12125550101", "+13035550000", "PROVIDER", ids["backup"], True),
        ("+13035550100", None, "PROVIDER", ids["backup"], True),
        ("+15185550102", None, "PROVIDER", ids["backup"], True),
    ]
    # the failing primary is recorded DOWN, the backup HEALTHY
    states = dict(conn.execute("SELECT name, health_status FROM vendor_mgmt.service_providers").fetchall())
    assert states == {"dip-primary": "DOWN", "dip-backup": "HEALTHY"}
    assert "configured to fail" in one(
        conn,
        "SELECT error FROM vendor_mgmt.provider_health_checks WHERE service_provider_id = %s",
        (ids["primary"],),
    )
    # cached numbers are not asked again
    import_file(conn, write_csv(tmp_path / "b.csv", cdr_rows(8, prefix="again")))
    again = rating.process(conn, provider=registry_lrn_provider(conn))
    assert again.cdrs == 8 and again.lrn_looked_up == 0
    assert enriched(conn, "again-1@switch")["lrn"] == "+13035550000"


def test_every_provider_failing_leaves_rating_going(conn: psycopg.Connection[Any], tmp_path: Path) -> None:
    staff_world(conn)
    add_providers(conn, backup_fails=True)
    import_file(conn, write_csv(tmp_path / "a.csv", cdr_rows(8)))
    result = rating.process(conn, provider=registry_lrn_provider(conn))
    assert result.cdrs == 8 and len(result.lrn_errors) == 1
    assert "dip-primary" in result.lrn_errors[0] and "dip-backup" in result.lrn_errors[0]
    # no LRN known: terminating state from the destination itself (NY -> NY), nothing cached
    e = enriched(conn, "call-1@switch")
    assert e["lrn"] is None and e["jurisdiction"] == "INTRASTATE"
    assert one(conn, "SELECT count(*) FROM cdr.lrn_cache") == 0
    # the strict form raises the failover error
    with pytest.raises(NoProviderAvailable, match="every provider failed"):
        lookup_lrns(conn, ["+12125550199"], registry_lrn_provider(conn), raise_errors=True)


def test_no_enabled_provider_means_cache_only(conn: psycopg.Connection[Any]) -> None:
    staff_world(conn)
    assert registry_lrn_provider(conn) is None
    add_providers(conn)
    conn.execute("UPDATE vendor_mgmt.service_providers SET enabled = false")
    assert registry_lrn_provider(conn) is None


def test_worker_uses_the_registry(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as admin:
        build_world(admin)
        admin.execute(ACC_TABLE)
        admin.execute("GRANT SELECT ON public.acc_cdrs TO warp_staff")
        add_acc_rows(admin, cdr_rows(8))
        ids = add_providers(admin)
    with psycopg.connect(db_url) as conn:
        cycle = worker.run_cycle(conn)
        assert cycle.ingest.inserted == 8 and cycle.rating.lrn_looked_up == 3
        assert cycle.hours == 1
        assert enriched(conn, "call-1@switch")["jurisdiction"] == "INTERSTATE"
        assert (
            one(conn, "SELECT count(*) FROM cdr.lrn_cache WHERE service_provider_id = %s", (ids["backup"],))
            == 3
        )


def test_cli_process_uses_the_registry(db_url: str, tmp_path: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    with psycopg.connect(db_url, autocommit=True) as admin:
        build_world(admin)
        ids = add_providers(admin)
    env = {**os.environ, "WARP_DATABASE_URL": db_url}
    cli = [sys.executable, "-m", "warp.cli.main", "cdr"]
    path = write_csv(tmp_path / "a.csv", cdr_rows(8))
    subprocess.run([*cli, "import", str(path), "--json"], env=env, check=True, capture_output=True)
    out = subprocess.run([*cli, "process", "--json"], env=env, check=True, capture_output=True, text=True)
    result = json.loads(out.stdout)
    assert result["cdrs"] == 8 and result["lrn_looked_up"] == 3 and result["lrn_errors"] == []
    with psycopg.connect(db_url, autocommit=True) as check:
        assert (
            one(check, "SELECT count(*) FROM cdr.lrn_cache WHERE service_provider_id = %s", (ids["backup"],))
            == 3
        )
        assert (
            one(check, "SELECT health_status FROM vendor_mgmt.service_providers WHERE name = 'dip-primary'")
            == "DOWN"
        )
    # --no-lrn-lookup: cache only; with the cached answers expired, nothing is asked
    with psycopg.connect(db_url, autocommit=True) as admin:
        admin.execute("UPDATE cdr.lrn_cache SET expires_at = now() - interval '1 second'")
    subprocess.run(
        [*cli, "import", str(write_csv(tmp_path / "b.csv", cdr_rows(8, prefix="b"))), "--json"],
        env=env,
        check=True,
        capture_output=True,
    )
    out = subprocess.run(
        [*cli, "process", "--json", "--no-lrn-lookup"], env=env, check=True, capture_output=True, text=True
    )
    assert json.loads(out.stdout)["lrn_looked_up"] == 0
    with psycopg.connect(db_url, autocommit=True) as check:
        assert one(check, "SELECT count(*) FROM cdr.lrn_cache WHERE expires_at > now()") == 0
