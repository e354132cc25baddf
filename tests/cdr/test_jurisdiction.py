"""cdr.jurisdiction: each rule of the issue, the LRN override (given and cached) and malformed input."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

LERG = [
    # npa, nxx, state, country
    ("212", "555", "NY", "US"),
    ("518", "555", "NY", "US"),
    ("303", "555", "CO", "US"),
    ("416", "555", "ON", "CA"),
    ("787", "555", "PR", "US"),
]


@pytest.fixture
def lerg(conn: psycopg.Connection[Any]) -> psycopg.Connection[Any]:
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO cdr.lerg (npa, nxx, state, lata, ocn, rate_center, country) "
            "VALUES (%s, %s, %s, '132', '9102', 'RC', %s)",
            LERG,
        )
    return conn


def j(conn: psycopg.Connection[Any], ani: str | None, dnis: str | None, lrn: str | None = None) -> str:
    row = conn.execute("SELECT cdr.jurisdiction(%s, %s, %s)", (ani, dnis, lrn)).fetchone()
    assert row is not None
    return str(row[0])


def test_rule1_accepted_number_forms(lerg: psycopg.Connection[Any]) -> None:
    for ani in ("+12125550100", "12125550100", "2125550100"):
        for dnis in ("+15185550199", "15185550199", "5185550199"):
            assert j(lerg, ani, dnis) == "INTRASTATE", (ani, dnis)


def test_rule2_toll_free(lerg: psycopg.Connection[Any]) -> None:
    for npa in ("800", "833", "844", "855", "866", "877", "888"):
        assert j(lerg, "+12125550100", f"+1{npa}5550123") == "TOLL_FREE"
    # toll-free even when the origin is unknown
    assert j(lerg, None, "18005550123") == "TOLL_FREE"
    # 899 is not toll free
    assert j(lerg, "+12125550100", "+18995550123") == "INDETERMINATE"


def test_rule3_international(lerg: psycopg.Connection[Any]) -> None:
    assert j(lerg, "+12125550100", "+442079460123") == "INTERNATIONAL"
    assert j(lerg, "+12125550100", "+525512345678") == "INTERNATIONAL"
    # NANP but Canada per LERG
    assert j(lerg, "+12125550100", "+14165550123") == "INTERNATIONAL"
    # a US territory stays domestic
    assert j(lerg, "+12125550100", "+17875550123") == "INTERSTATE"


def test_rule4_terminating_state_from_lrn(lerg: psycopg.Connection[Any]) -> None:
    # dialled number is in NY, ported to a CO switch
    assert j(lerg, "+12125550100", "+15185550199") == "INTRASTATE"
    assert j(lerg, "+12125550100", "+15185550199", "+13035550000") == "INTERSTATE"
    assert j(lerg, "+12125550100", "+15185550199", "3035550000") == "INTERSTATE"
    # cached LRN (unexpired) is used when none is given; an expired one is not
    lerg.execute("INSERT INTO cdr.lrn_cache (number, lrn) VALUES ('+15185550199', '+13035550000')")
    assert j(lerg, "+12125550100", "+15185550199") == "INTERSTATE"
    lerg.execute(
        "UPDATE cdr.lrn_cache SET expires_at = now() - interval '1 second', looked_up_at = now() - interval '1 day'"
    )
    assert j(lerg, "+12125550100", "+15185550199") == "INTRASTATE"
    # a given LRN wins over the cache
    lerg.execute("UPDATE cdr.lrn_cache SET expires_at = NULL")
    assert j(lerg, "+12125550100", "+15185550199", "+12125559999") == "INTRASTATE"
    # a cached "not ported" (lrn NULL) means the number's own NPA-NXX
    lerg.execute("UPDATE cdr.lrn_cache SET lrn = NULL")
    assert j(lerg, "+12125550100", "+15185550199") == "INTRASTATE"


def test_rule5_indeterminate_origin(lerg: psycopg.Connection[Any]) -> None:
    dnis = "+13035550123"
    assert j(lerg, None, dnis) == "INDETERMINATE"  # missing
    assert j(lerg, "", dnis) == "INDETERMINATE"
    assert j(lerg, "anonymous", dnis) == "INDETERMINATE"  # malformed
    assert j(lerg, "+442079460123", dnis) == "INDETERMINATE"  # not NANP
    assert j(lerg, "+16175550100", dnis) == "INDETERMINATE"  # NPA-NXX not in LERG
    assert j(lerg, "+14165550100", dnis) == "INDETERMINATE"  # not US
    # destination NPA-NXX unknown: no terminating state
    assert j(lerg, "+12125550100", "+16175550123") == "INDETERMINATE"


def test_rule6_intra_and_interstate(lerg: psycopg.Connection[Any]) -> None:
    assert j(lerg, "+12125550100", "+15185550199") == "INTRASTATE"
    assert j(lerg, "+12125550100", "+13035550199") == "INTERSTATE"
    assert j(lerg, "+13035550100", "+12125550199") == "INTERSTATE"


def test_malformed_destination(lerg: psycopg.Connection[Any]) -> None:
    assert j(lerg, "+12125550100", None) == "INDETERMINATE"
    assert j(lerg, "+12125550100", "") == "INDETERMINATE"
    assert j(lerg, "+12125550100", "12345") == "INDETERMINATE"
    assert j(lerg, "+12125550100", "+1212") == "INDETERMINATE"
    assert j(lerg, "+12125550100", "abc") == "INDETERMINATE"
    assert j(lerg, "+12125550100", "442079460123") == "INDETERMINATE"  # not E.164 without the +
    # a malformed LRN is ignored
    assert j(lerg, "+12125550100", "+15185550199", "garbage") == "INTRASTATE"


def test_e164_normalisation(conn: psycopg.Connection[Any]) -> None:
    cases = {
        "sip:+12125550100@10.0.0.1": "+12125550100",
        "tel:212-555-0100": "+12125550100",
        "(212) 555.0100": "+12125550100",
        "12125550100": "+12125550100",
        "011442079460123": "+442079460123",
        "+442079460123;npdi": "+442079460123",
        "anonymous": None,
        "12345": None,
        "": None,
    }
    for raw, expected in cases.items():
        row = conn.execute("SELECT cdr.e164(%s)", (raw,)).fetchone()
        assert row is not None and row[0] == expected, raw
