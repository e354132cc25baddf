"""The ingest's fast paths give the same answers as the rules they shortcut: set-based trunk
identification vs routing.identify_trunk, and the fast paths of the timestamp/number helpers."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cdr_helpers import HEADER, one, write_csv

from warp.cdr.ingest import import_file


def add_trunk(conn: psycopg.Connection[Any], account: Any, name: str, nets: list[str], **kw: Any) -> Any:
    auth = kw.get("auth", "IP_ACL")
    sip = (name, "warp", "0" * 32) if auth != "IP_ACL" else (None, None, None)
    trunk = one(
        conn,
        "INSERT INTO routing.trunks (account_id, name, auth_type, enabled, sip_username, sip_realm, sip_ha1) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (account, name, auth, kw.get("enabled", True), *sip),
    )
    for net in nets:
        conn.execute(
            "INSERT INTO routing.trunk_acl (trunk_id, account_id, network) VALUES (%s, %s, %s)",
            (trunk, account, net),
        )
    return trunk


def test_set_based_identification_agrees_with_identify_trunk(
    conn: psycopg.Connection[Any], tmp_path: Path
) -> None:
    a = one(conn, "INSERT INTO accounts.accounts (ban, name) VALUES ('A1', 'A') RETURNING id")
    b = one(conn, "INSERT INTO accounts.accounts (ban, name) VALUES ('B1', 'B') RETURNING id")
    add_trunk(conn, a, "a-wide", ["10.0.0.0/16"])
    add_trunk(conn, a, "a-narrow", ["10.0.5.0/24", "10.0.6.7/32"])  # more specific: wins inside
    add_trunk(conn, a, "a-same-net", ["10.0.5.0/24"])  # same network, created later: loses the tie
    add_trunk(conn, a, "a-host-disabled", ["10.0.7.1/32"], enabled=False)  # never chosen
    add_trunk(conn, a, "a-host-register", ["10.0.7.2/32"], auth="SIP_REGISTER")  # not IP-authenticated
    add_trunk(conn, b, "b-main", ["192.168.1.0/24", "2001:db8::/32"])
    sources = [
        "10.0.1.1",
        "10.0.5.9",
        "10.0.6.7",
        "10.0.6.8",
        "10.0.7.1",
        "10.0.7.2",
        "192.168.1.77",
        "192.168.2.1",
        "2001:db8::5",
        "2001:db9::5",
        "172.16.0.1",
    ]
    start = datetime(2026, 11, 10, 12, tzinfo=UTC)
    rows = [
        [
            start.strftime("%Y-%m-%d %H:%M:%S"),
            "",
            "10",
            f"c{i}@x",
            ip,
            "2125550100",
            "3035550100",
            "200",
            "OK",
            "",
            "",
        ]
        for i, ip in enumerate(sources)
    ]
    result = import_file(conn, write_csv(tmp_path / "ids.csv", rows, HEADER))
    assert result.inserted == len(sources) and result.bad == 0
    got = {
        r[0]: (r[1], r[2])
        for r in conn.execute(
            "SELECT host(source_ip), trunk_id, account_id FROM cdr.raw_cdr ORDER BY call_id"
        ).fetchall()
    }
    want = {
        ip: tuple(
            conn.execute(
                "SELECT trunk_id, account_id FROM routing.identify_trunk(%s::inet)", (ip,)
            ).fetchone()
            or (None, None)
        )
        for ip in sources
    }
    assert got == want
    names = dict(
        conn.execute(
            "SELECT host(r.source_ip), t.name FROM cdr.raw_cdr r LEFT JOIN routing.trunks t ON t.id = r.trunk_id"
        ).fetchall()
    )
    assert (
        names["10.0.1.1"] == "a-wide" and names["10.0.5.9"] == "a-narrow" and names["10.0.6.7"] == "a-narrow"
    )
    assert names["10.0.7.1"] == "a-wide" and names["10.0.7.2"] == "a-wide"
    assert names["2001:db8::5"] == "b-main" and names["172.16.0.1"] is None
    assert names["192.168.2.1"] is None and names["2001:db9::5"] is None
    assert result.unidentified == 3


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("2026-02-28 10:00:00", True),
        ("2026-02-28T23:59:59.123456", True),
        ("2026-02-29 10:00:00", False),  # not a leap year: decided by the full rule
        ("2028-02-29 10:00:00", True),
        ("2026-04-31 10:00:00", False),
        ("2026-13-01 00:00:00", False),
        ("2026-00-10 00:00:00", False),
        ("2026-11-01 24:00:00", False),
        ("2026-11-01 23:60:00", False),
        ("2026-11-01 23:59:60", False),
        ("0026-11-01 10:00:00", False),
        (" 2026-11-01 10:00:00 ", True),
        ("2026-11-01 10:00:00+02", True),
        ("1764324000", True),
        ("yesterday", False),
    ],
)
def test_timestamp_text_rule(conn: psycopg.Connection[Any], value: str, valid: bool) -> None:
    assert one(conn, "SELECT cdr.is_timestamp_text(%s)", (value,)) is valid


@pytest.mark.parametrize(
    ("value", "tz", "expected"),
    [
        ("2026-11-01 10:00:00", "UTC", "2026-11-01 10:00:00+00"),
        ("2026-07-01 10:00:00.250", "America/New_York", "2026-07-01 14:00:00.25+00"),
        ("2026-11-01T10:00:00", "Europe/Paris", "2026-11-01 09:00:00+00"),
        (" 2026-11-01 10:00:00 ", "UTC", "2026-11-01 10:00:00+00"),
        ("2026-11-01 10:00:00+02", "America/New_York", "2026-11-01 08:00:00+00"),
        ("2026-11-01 10:00:00Z", "America/New_York", "2026-11-01 10:00:00+00"),
        ("1764324000", "America/New_York", "2025-11-28 10:00:00+00"),
    ],
)
def test_parse_timestamp(conn: psycopg.Connection[Any], value: str, tz: str, expected: str) -> None:
    conn.execute("SET timezone = 'UTC'")
    assert one(conn, "SELECT cdr.parse_timestamp(%s, %s)::text", (value, tz)) == expected


@pytest.mark.parametrize(
    ("raw", "chars"),
    [
        ("+12125550100", "+12125550100"),
        ("2125550100", "2125550100"),
        ("sip:+12125550100@10.0.0.1;user=phone", "+12125550100"),
        ("tel:+1-212-555-0100", "+12125550100"),
        ("tel:+12125550100", "+12125550100"),
        ("sips:2125550100;user=phone", "2125550100"),
        ("sip:+12125550100@", "+12125550100"),
        ("sip:+1212555010x@host", "+1212555010x"),
        (" sip:+12125550100@host", "+12125550100"),
        ("SIP:+12125550100@host", "SIP:+12125550100"),
        (" (212) 555.0100 ", "2125550100"),
        ("anonymous", "anonymous"),
    ],
)
def test_number_chars(conn: psycopg.Connection[Any], raw: str, chars: str) -> None:
    assert one(conn, "SELECT cdr.number_chars(%s)", (raw,)) == chars
