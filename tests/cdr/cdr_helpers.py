"""A small CDR world: two customers with IP trunks, one carrier trunk with a deck, LERG, rate plans."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg

from warp.cdr.ingest import rows_to_csv

HEADER = [
    "start_time",
    "end_time",
    "duration",
    "callid",
    "src_ip",
    "from_user",
    "ruri_user",
    "sip_code",
    "sip_reason",
    "carrier_trunk",
    "pdd_ms",
]


def one(conn: psycopg.Connection[Any], query: str, params: Any = None) -> Any:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return row[0] if not isinstance(row, dict) else next(iter(row.values()))


@dataclass
class World:
    acme: UUID
    globex: UUID
    acme_trunk: UUID
    globex_trunk: UUID
    carrier: UUID
    carrier_trunk: UUID
    plan: UUID


def build_world(conn: psycopg.Connection[Any], *, prepaid: bool = False) -> World:
    acme = one(conn, "INSERT INTO accounts.accounts (ban, name) VALUES ('ACME', 'Acme') RETURNING id")
    globex = one(conn, "INSERT INTO accounts.accounts (ban, name) VALUES ('GLOBEX', 'Globex') RETURNING id")
    trunks = []
    for acct, name, net in ((acme, "acme-main", "10.1.0.0/24"), (globex, "globex-main", "10.2.0.0/24")):
        t = one(
            conn,
            "INSERT INTO routing.trunks (account_id, name, auth_type) VALUES (%s, %s, 'IP_ACL') RETURNING id",
            (acct, name),
        )
        conn.execute(
            "INSERT INTO routing.trunk_acl (trunk_id, account_id, network) VALUES (%s, %s, %s)",
            (t, acct, net),
        )
        trunks.append(t)
    carrier = one(conn, "INSERT INTO routing.carriers (name) VALUES ('alpha') RETURNING id")
    ct = one(
        conn,
        "INSERT INTO routing.carrier_trunks (carrier_id, name, host) VALUES (%s, 'alpha-east', 'sip.alpha') RETURNING id",
        (carrier,),
    )
    conn.execute(
        "INSERT INTO routing.rate_deck (carrier_trunk_id, prefix, rate, interstate_rate, intrastate_rate, effective_date) "
        "VALUES (%s, '1', 0.004, 0.005, 0.003, '2020-01-01'), (%s, '44', 0.02, NULL, NULL, '2020-01-01')",
        (ct, ct),
    )
    conn.execute(
        "INSERT INTO cdr.lerg (npa, nxx, state, country) VALUES ('212', '555', 'NY', 'US'), "
        "('518', '555', 'NY', 'US'), ('303', '555', 'CO', 'US')"
    )
    plan = one(conn, "INSERT INTO billing.rate_plans (name) VALUES ('retail') RETURNING id")
    conn.execute(
        "INSERT INTO billing.voice_rates (rate_plan_id, prefix, rate, interstate_rate, intrastate_rate, "
        "initial_increment, subsequent_increment, effective_date) VALUES "
        "(%s, '1', 0.010, 0.012, 0.008, 6, 6, '2020-01-01'), "
        "(%s, '1212', 0.011, 0.011, 0.009, 6, 6, '2020-01-01'), "
        "(%s, '44', 0.05, NULL, NULL, 60, 60, '2020-01-01')",
        (plan, plan, plan),
    )
    # only Acme has a plan: Globex CDRs are UNRATED NO_RATE_PLAN
    conn.execute(
        "INSERT INTO billing.account_rate_plans (account_id, rate_plan_id, effective_at) VALUES (%s, %s, '2020-01-01')",
        (acme, plan),
    )
    if prepaid:
        conn.execute(
            "INSERT INTO billing.account_balance (account_id, balance, billing_cycle) VALUES (%s, 0, 'PREPAID')",
            (acme,),
        )
        conn.execute(
            "INSERT INTO billing.balance_ledger (account_id, entry_type, amount, balance_after, source_type) "
            "VALUES (%s, 'PAYMENT', 100, 100, 'PAYMENT')",
            (acme,),
        )
        conn.execute("UPDATE billing.account_balance SET balance = 100 WHERE account_id = %s", (acme,))
    return World(acme, globex, trunks[0], trunks[1], carrier, ct, plan)


def cdr_rows(n: int, *, start: str = "2026-11-10 12:00:00", prefix: str = "call") -> list[list[Any]]:
    """n Kamailio rows; every 5th from an unknown address, every 4th unanswered."""
    rows = []
    base = datetime.fromisoformat(start)
    for i in range(n):
        ip = (
            "10.1.0.5"
            if i % 5 == 1
            else ("10.2.0.9" if i % 5 in (2, 3) else ("192.0.2.1" if i % 5 == 4 else "10.1.0.7"))
        )
        answered = i % 4 != 3
        st = (base + timedelta(seconds=i)).strftime("%Y-%m-%d %H:%M:%S")
        dnis = ("+13035550100", "2125550101", "15185550102", "+442079460123")[i % 4 if i % 4 != 3 else 0]
        rows.append(
            [
                st,
                st,
                f"{(i % 300) + 0.5:.3f}" if answered else "0",
                f"{prefix}-{i}@switch",
                ip,
                "sip:+12125550199@10.1.0.7",
                dnis,
                "200" if answered else "486",
                "OK" if answered else "Busy Here",
                "alpha-east",
                "1200",
            ]
        )
    return rows


def write_csv(path: Path, rows: list[list[Any]], header: list[str] | None = None) -> Path:
    path.write_text(rows_to_csv(rows, header or HEADER))
    return path
