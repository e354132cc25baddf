"""The ingest's fast paths give the same answers as the rules they shortcut: set-based trunk
identification vs routing.identify_trunk, the fast paths of the timestamp/number helpers, and the
Python fast path of the ingest vs the full SQL rules (same rows stored, same bad lines)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cdr_helpers import HEADER, build_world, cdr_rows, one, write_csv

from warp.cdr import ingest
from warp.cdr.ingest import import_file, rows_to_csv


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


# --- the Python fast path of the ingest gives what the SQL rules give --------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "2026-02-28 10:00:00",
        "2026-02-28T23:59:59.123456",
        "2026-02-29 10:00:00",
        "2028-02-29 10:00:00",
        "2026-04-31 10:00:00",
        "2026-13-01 00:00:00",
        "2026-00-10 00:00:00",
        "2026-11-00 00:00:00",
        "2026-11-01 24:00:00",
        "2026-11-01 23:60:00",
        "2026-11-01 23:59:60",
        "2026-11-01 23:59:59.1234567",
        "0026-11-01 10:00:00",
        " 2026-11-01 10:00:00 ",
        "2026-11-01 10:00:00\n",
        "2026-11-01 10:00:00+02",
        "1764324000",
        "yesterday",
    ],
)
def test_fast_timestamp_is_a_subset_of_the_sql_rule(conn: psycopg.Connection[Any], value: str) -> None:
    if ingest.is_timestamp_fast(value):
        assert one(conn, "SELECT cdr.is_timestamp_text(%s)", (value,)) is True
        conn.execute("SET timezone = 'UTC'")
        assert one(conn, "SELECT cdr.parse_timestamp(%s, 'America/Chicago')", (value,)) == one(
            conn, "SELECT %s::timestamp AT TIME ZONE 'America/Chicago'", (value,)
        )


@pytest.mark.parametrize(
    "raw",
    [
        "+12125550100",
        "2125550100",
        "sip:+12125550100@10.0.0.1;user=phone",
        "tel:+1-212-555-0100",
        "tel:+12125550100",
        "sips:2125550100;user=phone",
        "sip:+12125550100@",
        "sip:+12125550100",
        "sip:+12125550100\n",
        "sip:+1212555010x@host",
        " sip:+12125550100@host",
        "SIP:+12125550100@host",
        " (212) 555.0100 ",
        "anonymous",
        "+",
        "٢١٢٥٥٥٠١٠٠",
    ],
)
def test_fast_number_chars_agree_with_sql(conn: psycopg.Connection[Any], raw: str) -> None:
    fast = ingest.number_chars_fast(raw)
    if fast is not None:
        assert fast == one(conn, "SELECT cdr.number_chars(%s)", (raw,))


@pytest.mark.parametrize(
    "chars",
    [
        "+12125550100",
        "+442079460123",
        "+0123",
        "+1",
        "+12",
        "+123456789012345",
        "+1234567890123456",
        "01144207946012",
        "011012345",
        "12125550100",
        "11125550100",
        "2125550100",
        "1125550100",
        "212555010",
        "",
        "anonymous",
    ],
)
def test_e164_chars_agrees_with_sql(conn: psycopg.Connection[Any], chars: str) -> None:
    assert ingest.e164_chars(chars) == one(conn, "SELECT cdr.e164_chars(%s)", (chars,))


ROW_COLUMNS = (
    "start_time, call_id, answer_time, end_time, duration, host(source_ip), raw_ani, raw_dnis, ani, dnis, "
    "sip_code, sip_reason, pdd_ms, direction, account_id, trunk_id, carrier_trunk_id, carrier_trunk_name, "
    "trunk_identified, ingest_source, source_line, extra"
)


def test_fast_and_full_paths_store_the_same_rows(
    conn: psycopg.Connection[Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_world(conn)
    header = [*HEADER, "answer_time", "direction", "codec"]
    rows = [
        [*r, r[0] if i % 2 else "", ("in", "OUTBOUND", "", "In")[i % 4], "PCMU" if i % 3 else ""]
        for i, r in enumerate(cdr_rows(12))
    ]
    rows[1][8] = "Busy\\Here\tnow"  # COPY escapes in a text field
    rows[2][5] = ""  # no calling number
    rows[3][4] = ""  # no source address
    rows[4][10] = ""  # no PDD
    rows[5][9] = ""  # no carrier trunk
    rows[6][6] = "tel:+442079460123"
    rows[7][3] = 'quoted "call", id@x'
    path = write_csv(tmp_path / "same.csv", rows, header)

    def stored() -> list[Any]:
        return conn.execute(f"SELECT {ROW_COLUMNS} FROM cdr.raw_cdr ORDER BY call_id").fetchall()

    fast = import_file(conn, path, tz="America/New_York")
    assert (fast.inserted, fast.bad, fast.unidentified) == (12, 0, 3)
    by_fast = stored()
    conn.execute("DELETE FROM cdr.raw_cdr")
    monkeypatch.setattr(ingest._FastPath, "line", lambda self, number, rec: None)
    full = import_file(conn, path, tz="America/New_York")
    assert (full.inserted, full.bad, full.unidentified) == (12, 0, 3)
    assert stored() == by_fast
    by_call = {r[1]: r for r in by_fast}
    assert by_call["call-1@switch"][11] == "Busy\\Here\tnow" and by_call["call-1@switch"][21] == {
        "codec": "PCMU"
    }
    assert by_call["call-0@switch"][21] == {} and by_call["call-0@switch"][13] == "INBOUND"
    assert by_call["call-6@switch"][9] == "+442079460123" and by_call["call-3@switch"][5] is None


def test_bad_lines_after_a_malformed_one_are_still_reported(
    conn: psycopg.Connection[Any], tmp_path: Path
) -> None:
    build_world(conn)
    rows = cdr_rows(5)
    rows[3][1] = "2026-11-31 10:00:00"  # line 5: end time past the month's end (full rule)
    path = write_csv(tmp_path / "mixed.csv", rows[:2])
    with path.open("ab") as fh:
        fh.write(b'2026-11-10 12:30:00,"bad"x,1,c,10.1.0.7,1,2,200,OK,,\n')  # line 4: malformed
        fh.write(b"2026-11-10 12:31:00,,1,c-\xff@x,10.1.0.7,2125550100,2125550101,200,OK,,\n")  # line 5
        fh.write(rows_to_csv(rows[2:], HEADER).split("\n", 1)[1].encode())  # lines 6-8
    result = import_file(conn, path)
    assert sorted({line for _, line, _ in result.problems}) == [4, 5, 7]
    assert (result.rows, result.inserted, result.bad) == (7, 4, 3)
