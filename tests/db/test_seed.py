"""Seed data: reference and demo seeds are idempotent, and the demo world is coherent.

Idempotence is checked over every table of the nine schemas (read from the catalog, so tables added
later are covered): row count and a content hash per table, plus the audit trail's row count.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg import sql

from warp.db.migrate import MigrationError
from warp.db.seed import seed

DOMAIN_SCHEMAS = [
    "accounts",
    "auth",
    "numbers",
    "routing",
    "cdr",
    "messaging",
    "billing",
    "vendor_mgmt",
    "audit",
]

# Tables the demo world fills (tables without account_id included). Operational tables of later
# issues (watermarks, queues...) may legitimately stay empty, so this list is explicit.
DEMO_TABLES = [
    "accounts.accounts",
    "accounts.contacts",
    "accounts.account_hierarchy",
    "accounts.documents",
    "accounts.feature_flags",
    "auth.users",
    "auth.roles",
    "auth.permissions",
    "auth.role_permissions",
    "auth.user_roles",
    "auth.api_keys",
    "auth.sessions",
    "numbers.inventory",
    "numbers.dids",
    "numbers.did_assignments",
    "numbers.toll_free",
    "numbers.port_requests",
    "numbers.port_request_numbers",
    "numbers.e911_addresses",
    "routing.trunks",
    "routing.trunk_acl",
    "routing.carriers",
    "routing.carrier_trunks",
    "routing.rate_deck",
    "routing.partitions",
    "routing.partition_carrier_trunks",
    "routing.account_partitions",
    "routing.blacklist",
    "cdr.raw_cdr",
    "cdr.enriched_cdr",
    "cdr.hourly_summary",
    "cdr.vendor_cdr",
    "cdr.lerg",
    "cdr.lrn_cache",
    "messaging.mdr",
    "messaging.customer_sms_auth",
    "messaging.inbound_routes",
    "messaging.brands_10dlc",
    "messaging.campaigns_10dlc",
    "messaging.opt_outs",
    "messaging.webhook_events",
    "messaging.webhook_attempts",
    "billing.account_balance",
    "billing.balance_ledger",
    "billing.rate_plans",
    "billing.account_rate_plans",
    "billing.voice_rates",
    "billing.messaging_rates",
    "billing.number_rates",
    "billing.tax_rates",
    "billing.invoices",
    "billing.invoice_items",
    "billing.payments",
    "billing.payment_applications",
    "billing.credits",
    "billing.usage_summary",
    "vendor_mgmt.vendors",
    "vendor_mgmt.service_providers",
    "vendor_mgmt.carriers",
    "vendor_mgmt.smpp_connectors",
    "vendor_mgmt.contracts",
    "vendor_mgmt.slas",
    "vendor_mgmt.incidents",
    "vendor_mgmt.performance_metrics",
    "audit.audit_log",
    "audit.api_request_log",
    "audit.compliance_records",
    "audit.stir_shaken_certs",
    "audit.security_incidents",
    "audit.retention_policies",
]

DEMO_PASSWORD = "demo-password"
DEMO_API_KEYS = {
    "DEMO-ACME": "warp_demoacme_AcmeDemoSecretNotForProduction01",
    "DEMO-GLOBEX": "warp_demoglobex_GlobexDemoSecretNotForProduction01",
    "DEMO-INITECH": "warp_demoinitech_InitechDemoSecretNotForProduction01",
}


def domain_tables(conn: psycopg.Connection[Any]) -> list[tuple[str, str]]:
    """Every table of the nine schemas (partitioned parents, not their partitions)."""
    rows = conn.execute(
        """
        SELECT n.nspname, c.relname
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = ANY (%s) AND c.relkind IN ('r', 'p') AND NOT c.relispartition
        ORDER BY 1, 2
        """,
        (DOMAIN_SCHEMAS,),
    ).fetchall()
    return [(str(schema), str(table)) for schema, table in rows]


def account_tables(conn: psycopg.Connection[Any]) -> list[tuple[str, str]]:
    """Tables of the nine schemas with an account_id column."""
    rows = conn.execute(
        """
        SELECT c.table_schema, c.table_name
        FROM information_schema.columns c
        JOIN pg_namespace n ON n.nspname = c.table_schema
        JOIN pg_class k ON k.relnamespace = n.oid AND k.relname = c.table_name
        WHERE c.column_name = 'account_id' AND c.table_schema = ANY (%s)
          AND k.relkind IN ('r', 'p') AND NOT k.relispartition
        ORDER BY 1, 2
        """,
        (DOMAIN_SCHEMAS,),
    ).fetchall()
    return [(str(schema), str(table)) for schema, table in rows]


def snapshot(url: str) -> dict[str, tuple[int, str | None]]:
    """Row count and content hash of every domain table."""
    result: dict[str, tuple[int, str | None]] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        for schema, table in domain_tables(conn):
            row = conn.execute(
                sql.SQL(
                    "SELECT count(*), md5(string_agg(t::text, '|' ORDER BY t::text)) FROM {} AS t"
                ).format(sql.Identifier(schema, table))
            ).fetchone()
            assert row is not None
            result[f"{schema}.{table}"] = (int(row[0]), row[1])
    return result


def changed(before: dict[str, tuple[int, str | None]], after: dict[str, tuple[int, str | None]]) -> list[str]:
    return [
        f"{name}: {before.get(name)} -> {after.get(name)}"
        for name in sorted(set(before) | set(after))
        if before.get(name) != after.get(name)
    ]


def test_reference_seed_twice_is_a_noop(db_url: str) -> None:
    first = seed(db_url)
    assert sum(f.rows for f in first) > 0
    before = snapshot(db_url)
    second = seed(db_url)
    assert {f"{f.group}/{f.name}": f.rows for f in second if f.rows} == {}
    after = snapshot(db_url)
    assert changed(before, after) == []
    assert [f.group for f in second] == ["reference"] * len(second)


def test_reference_seed_contents(db_url: str) -> None:
    seed(db_url)
    with psycopg.connect(db_url, autocommit=True) as conn:
        retention = dict(
            conn.execute(
                "SELECT schema_name || '.' || table_name, retention_period FROM audit.retention_policies"
            ).fetchall()
        )
        months = dict(
            conn.execute(
                "SELECT schema_name || '.' || table_name, "
                "extract(year FROM retention_period) * 12 + extract(month FROM retention_period) "
                "FROM audit.retention_policies WHERE retention_period >= interval '1 month'"
            ).fetchall()
        )
        assert months["cdr.raw_cdr"] == 24
        assert months["cdr.enriched_cdr"] == 24
        assert months["messaging.mdr"] == 12
        assert months["audit.api_request_log"] == 6
        assert months["audit.audit_log"] == 84
        assert "auth.sessions" in retention
        usf = conn.execute(
            "SELECT rate, applies_to FROM billing.tax_rates WHERE jurisdiction_type = 'FEDERAL' AND tax_category = 'USF'"
        ).fetchone()
        assert usf is not None
        assert Decimal("0") < usf[0] < Decimal("1")
        assert set(usf[1]) == {"VOICE_INTERSTATE", "VOICE_INTERNATIONAL"}
        assert conn.execute(
            "SELECT count(*) FROM billing.tax_rates WHERE tax_category = 'SALES' AND jurisdiction_type = 'STATE'"
        ).fetchone() >= (2,)
        assert conn.execute(
            "SELECT count(*) FROM billing.tax_rates WHERE tax_category = 'E911' AND calculation_type = 'PER_DID'"
        ).fetchone() >= (1,)
        assert conn.execute("SELECT name FROM routing.partitions WHERE is_default").fetchall() == [
            ("default",)
        ]
        # Reference data only: no customer rows.
        assert conn.execute("SELECT count(*) FROM accounts.accounts").fetchone() == (0,)


def test_demo_seed_twice_is_a_noop(db_url: str) -> None:
    seed(db_url, demo=True)
    before = snapshot(db_url)
    assert before["audit.audit_log"][0] > 0
    second = seed(db_url, demo=True)
    assert {f"{f.group}/{f.name}": f.rows for f in second if f.rows} == {}
    after = snapshot(db_url)
    assert changed(before, after) == []


def test_demo_world_has_a_reseller_tree_and_data_for_every_tenant_table(demo_db_url: str) -> None:
    with psycopg.connect(demo_db_url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM accounts.accounts").fetchone() >= (3,)
        tree = conn.execute(
            """
            SELECT p.ban, c.ban FROM accounts.account_hierarchy h
            JOIN accounts.accounts p ON p.id = h.parent_account_id AND p.account_type = 'RESELLER'
            JOIN accounts.accounts c ON c.id = h.child_account_id
            ORDER BY 1, 2
            """
        ).fetchall()
        assert ("DEMO-GLOBEX", "DEMO-INITECH") in tree
        thin = []
        for schema, table in account_tables(conn):
            row = conn.execute(
                sql.SQL("SELECT count(DISTINCT account_id) FROM {}").format(sql.Identifier(schema, table))
            ).fetchone()
            if row is None or row[0] < 2:
                thin.append(f"{schema}.{table}: {row}")
        assert thin == []
        empty = []
        for name in DEMO_TABLES:
            ident = sql.Identifier(*name.split("."))
            if conn.execute(sql.SQL("SELECT count(*) FROM {}").format(ident)).fetchone() == (0,):
                empty.append(name)
        assert empty == []


def test_demo_credentials_work(demo_db_url: str) -> None:
    with psycopg.connect(demo_db_url, autocommit=True) as conn:
        users = conn.execute(
            "SELECT email, password_hash = crypt(%s, password_hash), password_hash LIKE '$2_$12$%%' FROM auth.users",
            (DEMO_PASSWORD,),
        ).fetchall()
        assert {"admin@warp.example", "admin@acme.example", "admin@globex.example"} <= {u[0] for u in users}
        assert all(ok and cost12 for _, ok, cost12 in users)
        for ban, key in DEMO_API_KEYS.items():
            prefix = key.split("_")[1]
            row = conn.execute(
                """
                SELECT a.ban FROM auth.api_keys k JOIN accounts.accounts a ON a.id = k.account_id
                WHERE k.key_prefix = %s AND k.key_hash = encode(sha256(convert_to(%s, 'UTF8')), 'hex')
                """,
                (prefix, key),
            ).fetchone()
            assert row == (ban,)
        staff_roles = conn.execute(
            """
            SELECT r.scope FROM auth.user_roles ur JOIN auth.users u ON u.id = ur.user_id
            JOIN auth.roles r ON r.id = ur.role_id WHERE u.email = 'admin@warp.example'
            """
        ).fetchall()
        assert staff_roles and all(scope == "STAFF" for (scope,) in staff_roles)


def test_demo_money_adds_up(demo_db_url: str) -> None:
    with psycopg.connect(demo_db_url, autocommit=True) as conn:
        balances = conn.execute(
            """
            SELECT a.ban, b.balance, coalesce((SELECT sum(l.amount) FROM billing.balance_ledger l
                                               WHERE l.account_id = a.id), 0)
            FROM accounts.accounts a JOIN billing.account_balance b ON b.account_id = a.id
            """
        ).fetchall()
        assert len(balances) >= 3
        assert [(ban, bal) for ban, bal, ledger in balances if bal != ledger] == []
        invoices = conn.execute(
            """
            SELECT i.invoice_number, i.subtotal, i.tax_total, i.total,
                   (SELECT sum(amount) FROM billing.invoice_items it WHERE it.invoice_id = i.id AND item_type <> 'TAX'),
                   (SELECT coalesce(sum(amount), 0) FROM billing.invoice_items it
                    WHERE it.invoice_id = i.id AND item_type = 'TAX'),
                   i.paid_amount,
                   (SELECT coalesce(sum(amount), 0) FROM billing.payment_applications pa WHERE pa.invoice_id = i.id)
            FROM billing.invoices i
            """
        ).fetchall()
        for number, subtotal, tax, total, items, tax_items, paid, applied in invoices:
            assert (subtotal, tax, total) == (items, tax_items, items + tax_items), number
            assert paid == applied, number
        # Every voice-enabled DID has an E911 address or a recorded exemption.
        assert conn.execute(
            """
            SELECT count(*) FROM numbers.dids d
            WHERE d.voice_enabled AND d.e911_address_id IS NULL
              AND NOT (d.e911_exempt AND EXISTS (
                  SELECT 1 FROM audit.compliance_records c
                  WHERE c.record_type = 'E911_EXEMPTION' AND c.subject_id = d.id))
            """
        ).fetchone() == (0,)
        # Rated CDRs carry charges consistent with their margin.
        assert conn.execute(
            """
            SELECT count(*) FROM cdr.enriched_cdr
            WHERE rating_status = 'RATED' AND margin IS DISTINCT FROM customer_charge - vendor_cost
            """
        ).fetchone() == (0,)


def test_seeding_an_unmigrated_database_fails_clearly(empty_db_url: str) -> None:
    with pytest.raises(MigrationError, match="warp db migrate"):
        seed(empty_db_url, demo=True)
