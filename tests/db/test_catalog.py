"""Convention catalog test: the schema's conventions, read back from pg_catalog.

Every check lists violations over *all* tables of the nine domain schemas (partitions excluded), so a
table added by a later migration cannot escape it. Deliberate exceptions live in the dicts below,
each with its reason. The last tests exercise the constraints with real rows.
"""

from __future__ import annotations

import re
import time
from typing import Any

import psycopg
import pytest
from psycopg import errors
from psycopg.rows import dict_row

# "Core Tables by Schema" of the spec, then what the ER diagram and the issues need on top.
SPEC_TABLES_BY_SCHEMA = {
    "accounts": "accounts contacts account_hierarchy documents feature_flags",
    "auth": "users api_keys sessions permissions role_permissions",
    "numbers": "inventory dids toll_free port_requests e911_addresses",
    "routing": "trunks trunk_acl carriers carrier_trunks rate_deck partitions account_partitions",
    "cdr": "raw_cdr enriched_cdr hourly_summary vendor_cdr",
    "messaging": "mdr customer_sms_auth inbound_routes campaigns_10dlc opt_outs",
    "billing": "account_balance rate_plans voice_rates messaging_rates invoices invoice_items payments "
    "usage_summary",
    "vendor_mgmt": "vendors service_providers carriers smpp_connectors contracts performance_metrics",
    "audit": "audit_log api_request_log compliance_records stir_shaken_certs security_incidents",
}
EXTRA_TABLES_BY_SCHEMA = {
    "accounts": "",
    "auth": "roles user_roles",
    "numbers": "port_request_numbers did_assignments",
    "routing": "blacklist partition_carrier_trunks",
    "cdr": "lerg lrn_cache",
    "messaging": "webhook_attempts webhook_events brands_10dlc",
    "billing": "account_rate_plans number_rates payment_applications credits tax_rates balance_ledger",
    "vendor_mgmt": "slas incidents",
    "audit": "retention_policies",
}
REQUIRED_TABLES = {
    f"{schema}.{table}"
    for by_schema in (SPEC_TABLES_BY_SCHEMA, EXTRA_TABLES_BY_SCHEMA)
    for schema, names in by_schema.items()
    for table in names.split()
}
DOMAIN_SCHEMAS = tuple(SPEC_TABLES_BY_SCHEMA)
PARTITIONED_TABLES = {"cdr.raw_cdr", "cdr.enriched_cdr", "messaging.mdr", "audit.api_request_log"}

SPEC_NAME = "name given by the spec"
TABLE_NAME_EXCEPTIONS = {
    "accounts.account_hierarchy": f"{SPEC_NAME} (mass noun)",
    "numbers.inventory": f"{SPEC_NAME} (mass noun)",
    "numbers.toll_free": SPEC_NAME,
    "routing.trunk_acl": SPEC_NAME,
    "routing.rate_deck": SPEC_NAME,
    "routing.blacklist": "mass noun (a list of blocked prefixes)",
    "cdr.raw_cdr": SPEC_NAME,
    "cdr.enriched_cdr": SPEC_NAME,
    "cdr.hourly_summary": SPEC_NAME,
    "cdr.vendor_cdr": SPEC_NAME,
    "cdr.lerg": "proper name of the reference data set (mass noun)",
    "cdr.lrn_cache": "mass noun",
    "messaging.mdr": SPEC_NAME,
    "messaging.customer_sms_auth": SPEC_NAME,
    "messaging.campaigns_10dlc": f"{SPEC_NAME} (plural noun + qualifier)",
    "messaging.brands_10dlc": "plural noun + qualifier, like campaigns_10dlc",
    "billing.account_balance": SPEC_NAME,
    "billing.usage_summary": SPEC_NAME,
    "billing.balance_ledger": "mass noun (one ledger, many entries)",
    "audit.audit_log": SPEC_NAME,
    "audit.api_request_log": SPEC_NAME,
}

PER_EVENT = "per-event charges keep 6 decimals; invoices round to cents"
SUB_CENT_FEE = "per-call connection fee priced like a rate, with sub-cent precision: DECIMAL(10,6)"
MONEY_PRECISION_EXCEPTIONS = {
    "cdr.enriched_cdr.customer_charge": PER_EVENT,
    "cdr.enriched_cdr.vendor_cost": PER_EVENT,
    "cdr.enriched_cdr.margin": PER_EVENT,
    "cdr.vendor_cdr.cost": PER_EVENT,
    "messaging.mdr.charge": PER_EVENT,
    "messaging.mdr.vendor_cost": PER_EVENT,
    "cdr.hourly_summary.revenue": f"sums of per-event amounts: {PER_EVENT}",
    "cdr.hourly_summary.cost": f"sums of per-event amounts: {PER_EVENT}",
    "cdr.hourly_summary.margin": f"sums of per-event amounts: {PER_EVENT}",
    "billing.usage_summary.amount": f"sums of per-event amounts: {PER_EVENT}",
    "billing.usage_summary.cost": f"sums of per-event amounts: {PER_EVENT}",
    "billing.balance_ledger.amount": f"prepaid debits per CDR/MDR: {PER_EVENT}",
    "billing.account_balance.balance": f"equals the sum of balance_ledger.amount: {PER_EVENT}",
    "routing.rate_deck.connection_fee": SUB_CENT_FEE,
    "billing.voice_rates.connection_fee": SUB_CENT_FEE,
}

KAMAILIO = "CDR time named by Kamailio acc convention (start_time/answer_time/end_time)"
TIMESTAMP_NAME_EXCEPTIONS = {
    "cdr.raw_cdr.start_time": KAMAILIO,
    "cdr.raw_cdr.answer_time": KAMAILIO,
    "cdr.raw_cdr.end_time": KAMAILIO,
    "cdr.enriched_cdr.start_time": KAMAILIO,
    "cdr.vendor_cdr.start_time": KAMAILIO,
    "cdr.vendor_cdr.raw_cdr_start_time": f"{KAMAILIO}; partition key of the referenced raw CDR",
    "cdr.hourly_summary.hour_start": "start of an hour bucket, not an event",
    "vendor_mgmt.performance_metrics.hour_start": "start of an hour bucket, not an event",
    "audit.stir_shaken_certs.not_before": "X.509 notBefore",
    "audit.stir_shaken_certs.not_after": "X.509 notAfter",
}

NOT_A_PHONE_NUMBER = {
    "numbers.port_requests.losing_carrier_account_number": "customer's account at the losing carrier",
    "billing.invoices.invoice_number": "invoice sequence number, not a phone number",
    "cdr.raw_cdr.raw_ani": "raw as received from the switch (may be malformed); ani is the E.164 form",
    "cdr.raw_cdr.raw_dnis": "raw as received from the switch (may be malformed); dnis is the E.164 form",
}

FK_COLUMN_NAME_EXCEPTIONS = {
    "numbers.dids.number": (
        "second column of FK (inventory_id, number): keeps the DID's number equal to its inventory row's"
    ),
}

# Foreign keys enforced per statement by triggers instead of per row by a constraint (same error,
# same ON DELETE RESTRICT): (table, constraint name the error carries) -> reason. The guard triggers
# are checked below; tests/cdr/test_cdr_raw_references.py exercises them.
FOREIGN_KEYS_AS_STATEMENT_TRIGGERS = {
    ("cdr.raw_cdr", "raw_cdr_account_id_fkey"): "bulk CDR ingest: 3 per-row key checks were half its INSERT",
    ("cdr.raw_cdr", "raw_cdr_trunk_id_fkey"): "bulk CDR ingest: 3 per-row key checks were half its INSERT",
    (
        "cdr.raw_cdr",
        "raw_cdr_carrier_trunk_id_fkey",
    ): "bulk CDR ingest: 3 per-row key checks were half its INSERT",
    (
        "routing.rate_deck",
        "rate_deck_carrier_trunk_id_fkey",
    ): "3M-row rate deck imports: the per-row key check was ~10% of their CPU (ADR 0006)",
}

OPEN_ENUM_EXCEPTIONS = {
    "vendor_mgmt.service_providers.provider_type": "plugin entry-point name: an open set",
    "messaging.webhook_events.event_type": "event names grow with the API: an open set",
    "accounts.documents.content_type": "MIME type",
    "vendor_mgmt.smpp_connectors.system_type": "SMPP bind system_type: free text the vendor dictates",
}

E164 = r"^\+[1-9][0-9]{1,14}$"
# Column-name rules: which columns are money, rates, phone numbers, IP addresses.
MONEY_COLUMN = re.compile(
    r"(.+_)?(amount|total|subtotal|balance|charge|cost|price|fee|revenue|margin)|credit_limit"
)
RATE_COLUMN = re.compile(r"(.+_)?rate")
PHONE_COLUMN = re.compile(r"(.+_)?(number|phone|ani|dnis|lrn)")
IP_COLUMN = re.compile(r"ip|ip_address|network|.+_ip")
IP_LIST_COLUMN = re.compile(r".+_ips")
ENUM_COLUMN = re.compile(r"(.+_)?(status|type)|direction")
SECRET_WORDS = {"password", "passwd", "secret", "token", "pin", "apikey"}
SECRET_SAFE_SUFFIXES = {"hash", "hashes", "ref", "ha1", "encrypted", "id", "at", "count"}
CONSTRAINT_SUFFIX = {"p": "_pkey", "u": "_key", "f": "_fkey", "c": "_check", "x": "_excl"}
ON_DELETE_EXPLICIT = {"c", "r", "n", "d"}  # 'a' (NO ACTION) is what you get when ON DELETE is omitted


# --- catalog helpers ----------------------------------------------------------------------------


def rows(conn: psycopg.Connection[Any], query: str, params: Any = None) -> list[tuple[Any, ...]]:
    return conn.execute(query, params).fetchall()


def one(conn: psycopg.Connection[Any], query: str, params: Any = None) -> tuple[Any, ...]:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return tuple(row)


TABLES_SQL = """
    SELECT c.oid, n.nspname, c.relname, c.relkind
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = ANY(%(schemas)s) AND c.relkind IN ('r', 'p') AND NOT c.relispartition
"""


def tables(conn: psycopg.Connection[Any]) -> dict[str, tuple[int, str]]:
    """``schema.table`` -> (oid, relkind) for every domain table (partitions excluded)."""
    return {
        f"{s}.{t}": (oid, kind)
        for oid, s, t, kind in rows(conn, TABLES_SQL, {"schemas": list(DOMAIN_SCHEMAS)})
    }


def columns(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    query = f"""
        SELECT n.nspname || '.' || c.relname AS tbl, a.attname AS col, a.attnum,
               format_type(a.atttypid, a.atttypmod) AS type, t.typname, a.attnotnull,
               pg_get_expr(d.adbin, d.adrelid) AS default
        FROM ({TABLES_SQL}) tb
        JOIN pg_class c ON c.oid = tb.oid JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        JOIN pg_type t ON t.oid = a.atttypid
        LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
        ORDER BY 1, a.attnum
    """
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, {"schemas": list(DOMAIN_SCHEMAS)}).fetchall()


def constraints(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    """Own (not cloned) constraints of domain tables, with column names and definition."""
    query = f"""
        SELECT n.nspname || '.' || c.relname AS tbl, c.relname, k.conname, k.contype, k.confdeltype,
               k.conkey, k.confrelid, k.confkey, pg_get_constraintdef(k.oid) AS def,
               ARRAY(SELECT a.attname FROM unnest(k.conkey) WITH ORDINALITY u(attnum, pos)
                     JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum
                     ORDER BY u.pos) AS cols
        FROM ({TABLES_SQL}) tb
        JOIN pg_class c ON c.oid = tb.oid JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_constraint k ON k.conrelid = c.oid AND k.conparentid = 0
    """
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, {"schemas": list(DOMAIN_SCHEMAS)}).fetchall()


def indexes(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    """Indexes of domain tables: name, key attnums (0 = expression), key texts, backing constraint."""
    query = f"""
        SELECT n.nspname || '.' || c.relname AS tbl, c.relname, ic.relname AS name, i.indisunique,
               i.indpred IS NOT NULL AS partial, string_to_array(i.indkey::text, ' ')::int[] AS keys,
               ARRAY(SELECT pg_get_indexdef(i.indexrelid, g, true)
                     FROM generate_series(1, i.indnkeyatts) g) AS key_texts,
               (SELECT k.contype FROM pg_constraint k
                WHERE k.conindid = i.indexrelid AND k.conrelid = c.oid
                  AND k.contype IN ('p', 'u', 'x')) AS contype
        FROM ({TABLES_SQL}) tb
        JOIN pg_class c ON c.oid = tb.oid JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_index i ON i.indrelid = c.oid JOIN pg_class ic ON ic.oid = i.indexrelid
    """
    with conn.cursor(row_factory=dict_row) as cur:
        result = cur.execute(query, {"schemas": list(DOMAIN_SCHEMAS)}).fetchall()
    for ix in result:
        ix["keys"] = ix["keys"][: len(ix["key_texts"])]
    return result


def full_unique_keys(conn: psycopg.Connection[Any], table: str) -> list[list[str]]:
    """Key column lists (or expressions) of the non-partial unique indexes of ``table``."""
    return [
        ix["key_texts"]
        for ix in indexes(conn)
        if ix["tbl"] == table and ix["indisunique"] and not ix["partial"]
    ]


def check_defs(conn: psycopg.Connection[Any]) -> dict[tuple[str, str], list[str]]:
    """(table, column) -> definitions of the CHECK constraints that involve the column."""
    out: dict[tuple[str, str], list[str]] = {}
    for k in constraints(conn):
        if k["contype"] == "c":
            for col in k["cols"]:
                out.setdefault((k["tbl"], col), []).append(k["def"])
    return out


PARTITIONED_SQL = """
    SELECT n.nspname || '.' || c.relname, p.partstrat, p.partnatts, p.partdefid <> 0, a.attname
    FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = p.partattrs[0]
    WHERE n.nspname = ANY(%(schemas)s)
"""


def fq(col: dict[str, Any]) -> str:
    return f"{col['tbl']}.{col['col']}"


# --- structure ----------------------------------------------------------------------------------


def test_every_required_table_exists(conn: psycopg.Connection[Any]) -> None:
    present = tables(conn)
    assert sorted(REQUIRED_TABLES - set(present)) == []


def test_partitioned_tables_have_a_default_partition(conn: psycopg.Connection[Any]) -> None:
    found = rows(conn, PARTITIONED_SQL, {"schemas": list(DOMAIN_SCHEMAS)})
    assert {t for t, *_ in found} == PARTITIONED_TABLES
    assert [
        t for t, strat, natts, has_default, _ in found if (strat, natts, has_default) != ("r", 1, True)
    ] == []


def test_primary_keys_are_uuid_id(conn: psycopg.Connection[Any]) -> None:
    cols = {fq(c): c for c in columns(conn)}
    part_keys = {
        table: key for table, _, _, _, key in rows(conn, PARTITIONED_SQL, {"schemas": list(DOMAIN_SCHEMAS)})
    }
    pks = {k["tbl"]: k for k in constraints(conn) if k["contype"] == "p"}
    violations = []
    for table, (_, kind) in tables(conn).items():
        id_col = cols.get(f"{table}.id")
        if id_col is None or id_col["type"] != "uuid" or id_col["default"] != "uuid_generate_v4()":
            violations.append(f"{table}: id must be uuid DEFAULT uuid_generate_v4()")
        pk = pks.get(table)
        expected = ["id", part_keys[table]] if kind == "p" else ["id"]
        if (
            pk is None
            or sorted(pk["cols"]) != sorted(expected)
            or pk["def"] != f"PRIMARY KEY ({', '.join(expected)})"
        ):
            violations.append(f"{table}: primary key must be ({', '.join(expected)}), got {pk and pk['def']}")
    assert violations == []


def test_table_names_are_plural_snake_case(conn: psycopg.Connection[Any]) -> None:
    violations = [
        t
        for t in tables(conn)
        if not re.fullmatch(r"[a-z][a-z0-9_]*", t.split(".")[1])
        or (not t.endswith("s") and t not in TABLE_NAME_EXCEPTIONS)
    ]
    assert violations == []
    assert sorted(set(TABLE_NAME_EXCEPTIONS) - set(tables(conn))) == [], "stale exceptions"


def test_every_table_has_a_comment(conn: psycopg.Connection[Any]) -> None:
    missing = [
        t
        for t, (oid, _) in tables(conn).items()
        if not one(conn, "SELECT obj_description(%s, 'pg_class')", (oid,))[0]
    ]
    assert missing == []


def test_every_table_has_created_at(conn: psycopg.Connection[Any]) -> None:
    cols = {fq(c): c for c in columns(conn)}
    violations = [
        t
        for t in tables(conn)
        if (c := cols.get(f"{t}.created_at")) is None
        or (c["type"], c["attnotnull"], c["default"]) != ("timestamp with time zone", True, "now()")
    ]
    assert violations == []


# --- column types -------------------------------------------------------------------------------


def test_no_float_or_money_types(conn: psycopg.Connection[Any]) -> None:
    bad = {"float4", "float8", "money", "_float4", "_float8", "_money"}
    assert [f"{fq(c)} {c['type']}" for c in columns(conn) if c["typname"] in bad] == []


def test_money_and_rate_precision(conn: psycopg.Connection[Any]) -> None:
    violations = []
    for c in columns(conn):
        name = c["col"]
        if MONEY_COLUMN.fullmatch(name):
            expected = "numeric(12,2)"
        elif RATE_COLUMN.fullmatch(name):
            expected = "numeric(10,6)"
        else:
            continue
        if fq(c) in MONEY_PRECISION_EXCEPTIONS:
            if not re.fullmatch(r"numeric\(\d+,6\)", c["type"]):
                violations.append(f"{fq(c)} is an exception but not numeric(p,6): {c['type']}")
        elif c["type"] != expected:
            violations.append(f"{fq(c)} is {c['type']}, expected {expected}")
    assert violations == []


def test_phone_columns_are_e164(conn: psycopg.Connection[Any]) -> None:
    checks = check_defs(conn)
    violations = []
    for c in columns(conn):
        name = c["col"]
        if not PHONE_COLUMN.fullmatch(name) or fq(c) in NOT_A_PHONE_NUMBER:
            continue
        if c["type"] != "character varying(32)":
            violations.append(f"{fq(c)} is {c['type']}")
        if not any(E164 in d for d in checks.get((c["tbl"], name), [])):
            violations.append(f"{fq(c)} has no E.164 CHECK")
    assert violations == []


def test_timestamps_have_time_zone_and_at_names(conn: psycopg.Connection[Any]) -> None:
    violations = []
    for c in columns(conn):
        if c["type"].startswith("timestamp without time zone") or c["typname"] in ("time", "timetz"):
            violations.append(f"{fq(c)} is {c['type']}")
        elif c["type"] == "timestamp with time zone":
            if not c["col"].endswith("_at") and fq(c) not in TIMESTAMP_NAME_EXCEPTIONS:
                violations.append(f"{fq(c)} is timestamptz but not named <action>_at")
        elif c["col"].endswith("_at"):
            violations.append(f"{fq(c)} is named *_at but is {c['type']}")
    assert violations == []


def test_ip_columns_are_inet(conn: psycopg.Connection[Any]) -> None:
    violations = []
    for c in columns(conn):
        name = c["col"]
        if IP_COLUMN.fullmatch(name) and c["typname"] not in ("inet", "cidr"):
            violations.append(f"{fq(c)} is {c['type']}")
        if IP_LIST_COLUMN.fullmatch(name) and c["typname"] not in ("_inet", "_cidr"):
            violations.append(f"{fq(c)} is {c['type']}")
    assert violations == []


def test_enumerated_columns_have_checks(conn: psycopg.Connection[Any]) -> None:
    checks = check_defs(conn)
    violations = [
        fq(c)
        for c in columns(conn)
        if ENUM_COLUMN.fullmatch(c["col"])
        and c["typname"] == "varchar"
        and (c["tbl"], c["col"]) not in checks
        and fq(c) not in OPEN_ENUM_EXCEPTIONS
    ]
    assert violations == []


def test_no_plaintext_secret_columns(conn: psycopg.Connection[Any]) -> None:
    violations = []
    for c in columns(conn):
        parts = c["col"].split("_")
        secretish = SECRET_WORDS & set(parts) or "api_key" in c["col"]
        if secretish and parts[-1] not in SECRET_SAFE_SUFFIXES:
            violations.append(fq(c))
    assert violations == []


# --- keys, constraints and indexes -------------------------------------------------------------


def test_foreign_keys_are_named_indexed_and_explicit(conn: psycopg.Connection[Any]) -> None:
    # Columns pointing at a partitioned table's partition key (e.g. start_time) come with the id by necessity.
    part_key_sql = "SELECT partrelid, unnest(partattrs::int2[]) FROM pg_partitioned_table"
    part_key_cols = {(r[0], r[1]) for r in rows(conn, part_key_sql)}
    idx_by_table: dict[str, list[dict[str, Any]]] = {}
    for ix in indexes(conn):
        idx_by_table.setdefault(ix["tbl"], []).append(ix)
    violations = []
    for k in (k for k in constraints(conn) if k["contype"] == "f"):
        for col, ref_attnum in zip(k["cols"], k["confkey"], strict=True):
            if (
                not col.endswith("_id")
                and f"{k['tbl']}.{col}" not in FK_COLUMN_NAME_EXCEPTIONS
                and (k["confrelid"], ref_attnum) not in part_key_cols
            ):
                violations.append(f"{k['conname']}: column {col} does not end in _id")
        fk = set(k["conkey"])
        covered = any(
            set(ix["keys"][: len(fk)]) == fk
            or (ix["indisunique"] and not ix["partial"] and 0 not in ix["keys"] and set(ix["keys"]) <= fk)
            for ix in idx_by_table.get(k["tbl"], [])
        )
        if not covered:
            violations.append(f"{k['conname']}: no index leads with {k['cols']}")
        if k["confdeltype"] not in ON_DELETE_EXPLICIT:
            violations.append(f"{k['conname']}: ON DELETE not explicit")
    assert violations == []


def test_foreign_keys_checked_by_statement_triggers_are_guarded(conn: psycopg.Connection[Any]) -> None:
    names = {k["conname"] for k in constraints(conn)}
    triggers = {
        (r[0], r[1])
        for r in rows(
            conn,
            "SELECT tgrelid::regclass::text, tgname FROM pg_trigger WHERE NOT tgisinternal AND tgenabled <> 'D'",
        )
    }
    for _table, name in FOREIGN_KEYS_AS_STATEMENT_TRIGGERS:
        assert name not in names, f"{name} is a constraint again: drop it from the exceptions"
    assert {
        ("cdr.raw_cdr", "raw_cdr_references_insert_trg"),
        ("cdr.raw_cdr", "raw_cdr_references_update_trg"),
        ("accounts.accounts", "accounts_raw_cdr_restrict_trg"),
        ("routing.trunks", "trunks_raw_cdr_restrict_trg"),
        ("routing.carrier_trunks", "carrier_trunks_raw_cdr_restrict_trg"),
        ("routing.rate_deck", "rate_deck_carrier_trunk_insert_trg"),
        ("routing.rate_deck", "rate_deck_carrier_trunk_update_trg"),
        ("routing.carrier_trunks", "carrier_trunks_rate_deck_cascade_trg"),
        ("routing.carrier_trunks", "carrier_trunks_rate_deck_rekey_trg"),
        ("routing.carrier_trunks", "carrier_trunks_rate_deck_truncate_trg"),
    } <= triggers


def test_constraint_and_index_names_follow_convention(conn: psycopg.Connection[Any]) -> None:
    violations = []
    for k in constraints(conn):
        suffix = CONSTRAINT_SUFFIX.get(k["contype"])
        if suffix and not (k["conname"].startswith(f"{k['relname']}_") and k["conname"].endswith(suffix)):
            violations.append(f"{k['tbl']}: constraint {k['conname']} should be {k['relname']}_..{suffix}")
    for ix in indexes(conn):
        suffix = (
            CONSTRAINT_SUFFIX[ix["contype"]] if ix["contype"] else ("_key" if ix["indisunique"] else "_idx")
        )
        if not (ix["name"].startswith(f"{ix['relname']}_") and ix["name"].endswith(suffix)):
            violations.append(f"{ix['tbl']}: index {ix['name']} should be {ix['relname']}_..{suffix}")
    assert violations == []


@pytest.mark.parametrize(
    ("table", "name", "key"),
    [
        ("accounts.accounts", "accounts_ban_key", ["ban"]),
        ("auth.users", "users_email_key", ["lower(email::text)"]),
        ("auth.api_keys", "api_keys_key_prefix_key", ["key_prefix"]),
        ("numbers.inventory", "inventory_number_key", ["number"]),
        ("numbers.dids", "dids_number_key", ["number"]),
        ("routing.carriers", "carriers_name_key", ["name"]),
        ("cdr.raw_cdr", "raw_cdr_call_id_start_time_key", ["call_id", "start_time"]),
    ],
)
def test_business_keys_are_unique(
    conn: psycopg.Connection[Any], table: str, name: str, key: list[str]
) -> None:
    found = [ix for ix in indexes(conn) if ix["tbl"] == table and ix["name"] == name]
    assert found and found[0]["indisunique"] and not found[0]["partial"] and found[0]["key_texts"] == key


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ("billing.account_balance", ["account_id"]),
        ("cdr.enriched_cdr", ["raw_cdr_id", "start_time"]),
        ("numbers.dids", ["inventory_id"]),
        ("numbers.toll_free", ["inventory_id"]),
        ("vendor_mgmt.carriers", ["carrier_id"]),
    ],
)
def test_one_to_one_relationships_are_enforced(
    conn: psycopg.Connection[Any], table: str, key: list[str]
) -> None:
    assert key in full_unique_keys(conn, table)
    fk_cols = [k["cols"] for k in constraints(conn) if k["tbl"] == table and k["contype"] == "f"]
    assert any(set(key) <= set(cols) for cols in fk_cols), f"{table}{key} is not a foreign key"


def test_updated_at_trigger_everywhere(conn: psycopg.Connection[Any]) -> None:
    fn = rows(
        conn,
        "SELECT l.lanname FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang "
        "WHERE p.oid = 'public.update_updated_at_column()'::regprocedure",
    )
    assert fn == [("plpgsql",)]
    with_trigger = {
        r[0]
        for r in rows(
            conn,
            """
        SELECT n.nspname || '.' || c.relname FROM pg_trigger t
        JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE t.tgfoid = 'public.update_updated_at_column()'::regprocedure AND t.tgparentid = 0
          AND t.tgtype & 1 = 1 AND t.tgtype & 2 = 2 AND t.tgtype & 16 = 16  -- ROW, BEFORE, UPDATE
          AND t.tgname = c.relname || '_updated_at_trg'
    """,
        )
    }
    needing = {c["tbl"] for c in columns(conn) if c["col"] == "updated_at"}
    assert sorted(needing - with_trigger) == []
    bad_type = [
        fq(c)
        for c in columns(conn)
        if c["col"] == "updated_at"
        and (c["type"], c["attnotnull"], c["default"]) != ("timestamp with time zone", True, "now()")
    ]
    assert bad_type == []


# --- behaviour ----------------------------------------------------------------------------------


def new_account(conn: psycopg.Connection[Any], ban: str) -> Any:
    return one(
        conn, "INSERT INTO accounts.accounts (ban, name) VALUES (%s, %s) RETURNING id", (ban, f"Acct {ban}")
    )[0]


@pytest.mark.parametrize(
    "number", ["abc", "+0123", "12025550100", "+1", "+1234567890123456", "+1 202 555 0100"]
)
def test_bad_phone_number_is_refused(conn: psycopg.Connection[Any], number: str) -> None:
    with pytest.raises(errors.CheckViolation) as exc:
        conn.execute("INSERT INTO numbers.inventory (number) VALUES (%s)", (number,))
    assert exc.value.diag.constraint_name == "inventory_number_check"
    conn.execute("INSERT INTO numbers.inventory (number) VALUES ('+12025550100')")


def test_duplicate_ban_is_refused(conn: psycopg.Connection[Any]) -> None:
    new_account(conn, "BAN-1001")
    with pytest.raises(errors.UniqueViolation) as exc:
        new_account(conn, "BAN-1001")
    assert exc.value.diag.constraint_name == "accounts_ban_key"


def test_email_is_unique_case_insensitively(conn: psycopg.Connection[Any]) -> None:
    account_id = new_account(conn, "BAN-2001")
    insert = "INSERT INTO auth.users (account_id, email) VALUES (%s, %s)"
    conn.execute(insert, (account_id, "Alice@Example.com"))
    with pytest.raises(errors.UniqueViolation) as exc:
        conn.execute(insert, (account_id, "alice@example.COM"))
    assert exc.value.diag.constraint_name == "users_email_key"


def test_update_sets_updated_at(conn: psycopg.Connection[Any]) -> None:
    account_id = new_account(conn, "BAN-3001")  # autocommit: its own transaction
    (created,) = one(conn, "SELECT updated_at FROM accounts.accounts WHERE id = %s", (account_id,))
    time.sleep(0.01)
    with conn.transaction():
        conn.execute("UPDATE accounts.accounts SET name = 'Renamed' WHERE id = %s", (account_id,))
    after = one(conn, "SELECT created_at, updated_at FROM accounts.accounts WHERE id = %s", (account_id,))
    assert after[0] == created and after[1] > created


def test_overlapping_rate_plans_are_refused(conn: psycopg.Connection[Any]) -> None:
    account_id = new_account(conn, "BAN-4001")
    plan_id = one(conn, "INSERT INTO billing.rate_plans (name) VALUES ('Standard') RETURNING id")[0]
    insert = (
        "INSERT INTO billing.account_rate_plans (account_id, rate_plan_id, effective_at, expires_at) "
        "VALUES (%s, %s, %s, %s)"
    )
    conn.execute(insert, (account_id, plan_id, "2026-01-01Z", "2026-03-01Z"))
    with pytest.raises(errors.ExclusionViolation) as exc:
        conn.execute(insert, (account_id, plan_id, "2026-02-01Z", None))
    assert exc.value.diag.constraint_name == "account_rate_plans_account_id_period_excl"
    conn.execute(insert, (account_id, plan_id, "2026-03-01Z", None))  # adjacent periods are fine


@pytest.mark.parametrize("start_time", ["1999-01-01 00:00Z", "2199-12-31 23:59Z"])
def test_cdr_outside_monthly_partitions_lands_in_default(
    conn: psycopg.Connection[Any], start_time: str
) -> None:
    insert = (
        "INSERT INTO cdr.raw_cdr (call_id, start_time, raw_ani, raw_dnis) "
        "VALUES ('abc@host', %s, 'anonymous', '2025550100') RETURNING tableoid::regclass::text"
    )
    assert one(conn, insert, (start_time,))[0] == "cdr.raw_cdr_default"
    with pytest.raises(errors.UniqueViolation) as exc:
        conn.execute(insert, (start_time,))
    # On a partitioned table the error names the partition's index: <partition>_call_id_start_time_key.
    assert exc.value.diag.constraint_name == "raw_cdr_default_call_id_start_time_key"
