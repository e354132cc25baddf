"""UPTIME and DELIVERY_RATE SLAs: measured from provider health checks, carrier hourly metrics and MDRs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row

from warp.db import tenant
from warp.vendors import metrics

STAFF = tenant.Context(staff=True, actor_type="STAFF")
H = datetime(2025, 6, 10, 10, tzinfo=UTC)  # a past hour: the whole window has been observed
MIN = timedelta(minutes=1)


def one(conn: psycopg.Connection[Any], q: str, p: Any = None) -> UUID:
    row = conn.execute(q, p).fetchone()
    assert row is not None
    return UUID(str(next(iter(row.values()))))


def vendor(conn: psycopg.Connection[Any], name: str, kind: str = "MESSAGING") -> UUID:
    return one(
        conn, "INSERT INTO vendor_mgmt.vendors (name, vendor_type) VALUES (%s, %s) RETURNING id", (name, kind)
    )


def provider(conn: psycopg.Connection[Any], name: str, vendor_id: UUID | None) -> UUID:
    return one(
        conn,
        "INSERT INTO vendor_mgmt.service_providers (name, provider_type, capabilities, vendor_id) "
        "VALUES (%s, 'loopback', '{sms}', %s) RETURNING id",
        (name, vendor_id),
    )


def sla(
    conn: psycopg.Connection[Any],
    vendor_id: UUID,
    metric: str,
    target: str,
    window: str,
    carrier_id: UUID | None = None,
) -> UUID:
    return one(
        conn,
        "INSERT INTO vendor_mgmt.slas (vendor_id, carrier_id, metric, comparator, target_value, measurement_window, "
        "effective_date) VALUES (%s, %s, %s, 'GTE', %s, %s, %s) RETURNING id",
        (vendor_id, carrier_id, metric, Decimal(target), window, date(2025, 1, 1)),
    )


def check(conn: psycopg.Connection[Any], start: datetime, end: datetime) -> list[dict[str, Any]]:
    with tenant.transaction(conn, STAFF):
        return metrics.check_slas(conn, start, end)


def test_provider_uptime_is_time_weighted_from_health_checks(db_url: str) -> None:
    with psycopg.connect(db_url, row_factory=dict_row, autocommit=True) as conn:
        echo = vendor(conn, "Echo Messaging")
        quiet = vendor(conn, "Quiet Vendor")  # an SLA but no provider: no data, no incident
        p1, p2 = provider(conn, "echo-1", echo), provider(conn, "echo-2", echo)
        stranger = provider(conn, "other-1", None)
        checks = [
            (p1, "HEALTHY", H - 10 * MIN),  # carried into the window
            (p1, "DOWN", H + 30 * MIN),
            (p1, "HEALTHY", H + 45 * MIN),  # P1: 45 of 60 minutes up
            (p2, "DEGRADED", H - 60 * MIN),  # degraded still serves: 60 of 60 minutes up
            (stranger, "DOWN", H),  # another vendor's provider does not count
        ]
        for pid, status, at in checks:
            conn.execute(
                "INSERT INTO vendor_mgmt.provider_health_checks (service_provider_id, status, checked_at) "
                "VALUES (%s, %s, %s)",
                (pid, status, at),
            )
        hourly = sla(conn, echo, "UPTIME", "99", "HOUR")
        sla(conn, quiet, "UPTIME", "99", "HOUR")
        opened = check(conn, H, H + timedelta(hours=2))
        assert check(conn, H, H + timedelta(hours=2)) == []  # idempotent: one incident per SLA and window
        # A daily window over the same data: observed from each provider's first known state to midnight.
        daily = sla(conn, echo, "UPTIME", "99.99", "DAY")
        opened_daily = check(conn, H.replace(hour=0), H.replace(hour=0) + timedelta(days=1))
    assert [(i["sla_id"], i["window_start_at"], i["observed_value"]) for i in opened] == [
        (hourly, H, Decimal("87.5000"))  # (45 + 60) / 120 minutes; the next hour was 100 %
    ]
    incident = opened[0]
    assert incident["vendor_id"] == echo and incident["carrier_id"] is None
    assert incident["title"] == "SLA breach: Echo Messaging UPTIME (target >= 99.0000)"
    assert incident["severity"] == "CRITICAL"  # more than 5 % under an availability target
    # the hour 10:00-11:00: 2 providers x 60 minutes observed, P1 down 15 of them
    assert "2 provider(s), 105.0 of 120.0 minutes up" in incident["description"]
    assert [(i["sla_id"], i["window_start_at"]) for i in opened_daily if i["sla_id"] == daily] == [
        (daily, H.replace(hour=0))
    ]
    day = next(i for i in opened_daily if i["sla_id"] == daily)
    # P1 known from 09:50 (850 min, 15 down), P2 from 09:00 (900 min): 1735 / 1750
    assert day["observed_value"] == Decimal("99.1429")
    assert day["severity"] == "MEDIUM"


def test_carrier_uptime_counts_hours_without_a_network_effective_call(db_url: str) -> None:
    with psycopg.connect(db_url, row_factory=dict_row, autocommit=True) as conn:
        v = vendor(conn, "Gamma Voice", "CARRIER")
        carrier = one(conn, "INSERT INTO routing.carriers (name) VALUES ('gamma') RETURNING id")
        conn.execute("INSERT INTO vendor_mgmt.carriers (carrier_id, vendor_id) VALUES (%s, %s)", (carrier, v))
        trunk = one(
            conn,
            "INSERT INTO routing.carrier_trunks (carrier_id, name, host) VALUES (%s, 'g-1', 'sip.g') RETURNING id",
            (carrier,),
        )
        calls = [(H, 503)] * 3 + [(H + timedelta(hours=1), 486)] + [(H + timedelta(hours=2), 200)] * 2
        for i, (at, code) in enumerate(calls):
            conn.execute(
                "INSERT INTO cdr.raw_cdr (start_time, call_id, sip_code, duration, carrier_trunk_id) "
                "VALUES (%s, %s, %s, %s, %s)",
                (at + i * MIN, f"g-{i}", code, 30 if code == 200 else 0, trunk),
            )
        target = sla(conn, v, "UPTIME", "90", "DAY", carrier_id=carrier)
        with tenant.transaction(conn, STAFF):
            metrics.compute_metrics(conn, H, H + timedelta(hours=3))
        opened = check(conn, H.replace(hour=0), H.replace(hour=0) + timedelta(days=1))
    # 3 hours with traffic; 10:00 had only network failures (503); 11:00's busy is a user failure.
    assert [(i["sla_id"], i["carrier_id"], i["observed_value"]) for i in opened] == [
        (target, carrier, Decimal("66.6667"))
    ]
    assert opened[0]["title"] == "SLA breach: gamma UPTIME (target >= 90.0000)"
    assert "3 hours with traffic, 1 without a network-effective call" in opened[0]["description"]


def test_delivery_rate_from_final_statuses_of_the_vendors_messages(db_url: str) -> None:
    with psycopg.connect(db_url, row_factory=dict_row, autocommit=True) as conn:
        account = one(
            conn,
            "INSERT INTO accounts.accounts (ban, name, account_type) VALUES ('DLR', 'DLR Inc', 'CUSTOMER') RETURNING id",
        )
        echo, other = vendor(conn, "Echo Messaging"), vendor(conn, "Foxtrot SMS")
        mine, theirs = provider(conn, "echo-sms", echo), provider(conn, "fox-sms", other)
        messages = (
            [(mine, "OUTBOUND", "DELIVERED")] * 8
            + [(mine, "OUTBOUND", "UNDELIVERED"), (mine, "OUTBOUND", "FAILED")]
            + [(mine, "OUTBOUND", "SENT")] * 2  # no receipt yet: not counted
            + [(mine, "INBOUND", "RECEIVED")]
            + [(theirs, "OUTBOUND", "FAILED")] * 5  # another vendor's
        )
        for i, (pid, direction, status) in enumerate(messages):
            conn.execute(
                "INSERT INTO messaging.mdr (created_at, account_id, direction, from_number, to_number, status, "
                "service_provider_id) VALUES (%s, %s, %s, '+15550001111', '+15550002222', %s, %s)",
                (H + i * MIN, account, direction, status, pid),
            )
        target = sla(conn, echo, "DELIVERY_RATE", "95", "DAY")
        relaxed = sla(conn, echo, "DELIVERY_RATE", "80", "DAY")  # exactly met: no incident
        opened = check(conn, H.replace(hour=0), H.replace(hour=0) + timedelta(days=1))
        stored = conn.execute("SELECT count(*) AS n FROM vendor_mgmt.incidents").fetchone()
    assert [(i["sla_id"], i["observed_value"], i["window_start_at"]) for i in opened] == [
        (target, Decimal("80.0000"), H.replace(hour=0))
    ]
    assert relaxed not in {i["sla_id"] for i in opened}
    assert "10 messages with a final status, 8 delivered" in opened[0]["description"]
    assert opened[0]["severity"] == "CRITICAL"
    assert stored == {"n": 1}


def test_a_window_is_judged_once_complete_on_all_of_its_data(db_url: str) -> None:
    """A recent period (what maintenance checks) judges the DAY windows that ended in it, on the whole day:
    a bad early hour alone neither breaches an unfinished day nor a day that recovered."""
    day = H.replace(hour=0)
    with psycopg.connect(db_url, row_factory=dict_row, autocommit=True) as conn:
        v = vendor(conn, "Delta Voice", "CARRIER")
        carrier = one(conn, "INSERT INTO routing.carriers (name) VALUES ('delta') RETURNING id")
        conn.execute("INSERT INTO vendor_mgmt.carriers (carrier_id, vendor_id) VALUES (%s, %s)", (carrier, v))
        trunk = one(
            conn,
            "INSERT INTO routing.carrier_trunks (carrier_id, name, host) VALUES (%s, 'd-1', 'sip.d') RETURNING id",
            (carrier,),
        )
        calls = [(day + timedelta(hours=2), 503, 0)] * 4 + [(day + timedelta(hours=20), 200, 45)] * 6
        for i, (at, code, duration) in enumerate(calls):
            conn.execute(
                "INSERT INTO cdr.raw_cdr (start_time, call_id, sip_code, duration, carrier_trunk_id) "
                "VALUES (%s, %s, %s, %s, %s)",
                (at + i * MIN, f"d-{i}", code, duration, trunk),
            )
        with tenant.transaction(conn, STAFF):
            metrics.compute_metrics(conn, day, day + timedelta(days=1))
        sla(conn, v, "ASR", "50", "DAY", carrier_id=carrier)
        unfinished = check(conn, day + timedelta(hours=1), day + timedelta(hours=3))  # 02:00 alone: ASR 0
        recovered = check(conn, day + timedelta(hours=23), day + timedelta(hours=25))  # whole day: 6/10
        strict = sla(conn, v, "ASR", "70", "DAY", carrier_id=carrier)
        breached = check(conn, day + timedelta(hours=23), day + timedelta(hours=25))
    assert unfinished == [] and recovered == []
    assert [(i["sla_id"], i["window_start_at"], i["observed_value"]) for i in breached] == [
        (strict, day, Decimal("60.0000"))
    ]
    assert "(10 attempts)" in breached[0]["description"]
