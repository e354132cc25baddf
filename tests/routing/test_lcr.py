"""routing.calculate_lcr: the seven semantics of issue 6, against real rows."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from routing_helpers import AT, account, assign, ctrunk, lcr, names, one, partition, rate, sell_plan

Conn = psycopg.Connection[Any]


@pytest.fixture
def acct(conn: Conn) -> Any:
    return account(conn, "ACME")


def test_longest_prefix_per_carrier_trunk(conn: Conn, acct: Any) -> None:
    a, b = ctrunk(conn, "a"), ctrunk(conn, "b")
    rate(conn, a, "1", "0.0100")
    rate(conn, a, "1202", "0.0300")  # longer prefix wins for a, even though it is dearer
    rate(conn, a, "12025551", "0.0400", effective="2027-01-01")  # not in force yet
    rate(conn, b, "1", "0.0200")
    rate(conn, b, "1203", "0.0010")  # does not match the destination
    partition(conn, "p", [a, b], default=True)
    assert lcr(conn, "+12025550100", acct) == [("b", "1", Decimal("0.02")), ("a", "1202", Decimal("0.03"))]


def test_trunk_without_matching_prefix_is_not_a_candidate(conn: Conn, acct: Any) -> None:
    a, b = ctrunk(conn, "a"), ctrunk(conn, "b")
    rate(conn, a, "44", "0.0100")
    rate(conn, b, "1", "0.0100")
    partition(conn, "p", [a, b], default=True)
    assert names(lcr(conn, "12025550100", acct)) == ["b"]
    assert lcr(conn, "33123456789", acct) == []


def test_destination_normalisation_and_limit(conn: Conn, acct: Any) -> None:
    trunks = [ctrunk(conn, f"t{i}") for i in range(4)]
    for i, t in enumerate(trunks):
        rate(conn, t, "1", f"0.00{i + 1}")
    partition(conn, "p", trunks, default=True)
    assert names(lcr(conn, "+1 (202) 555-0100", acct, limit=2)) == ["t0", "t1"]
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        lcr(conn, "12O2", acct)


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        ("2026-02-28T23:59:59Z", "0.010000"),  # last instant of the first period
        ("2026-03-01T00:00:00Z", "0.020000"),  # expires_date is exclusive, the next row starts
        ("2026-12-31T23:59:59Z", "0.020000"),
        ("2025-12-31T23:59:59Z", None),  # before the first row: no rate
    ],
)
def test_effective_dating_boundaries(conn: Conn, acct: Any, at: str, expected: str | None) -> None:
    a = ctrunk(conn, "a")
    rate(conn, a, "1", "0.0100", effective="2026-01-01", expires="2026-03-01")
    rate(conn, a, "1", "0.0200", effective="2026-03-01")
    partition(conn, "p", [a], default=True)
    result = lcr(conn, "12025550100", acct, at=at)
    assert [str(r[2]) for r in result] == ([expected] if expected else [])


def test_expired_longer_prefix_falls_back_to_shorter(conn: Conn, acct: Any) -> None:
    a = ctrunk(conn, "a")
    rate(conn, a, "1", "0.0100")
    rate(conn, a, "1202", "0.0050", effective="2026-01-01", expires="2026-05-01")
    partition(conn, "p", [a], default=True)
    assert lcr(conn, "12025550100", acct, at="2026-04-30T12:00Z") == [("a", "1202", Decimal("0.005"))]
    assert lcr(conn, "12025550100", acct) == [("a", "1", Decimal("0.01"))]


def test_overlapping_periods_for_one_trunk_and_prefix_are_refused(conn: Conn) -> None:
    a, b = ctrunk(conn, "a"), ctrunk(conn, "b")
    rate(conn, a, "1", "0.0100", effective="2026-01-01", expires="2026-03-01")
    with pytest.raises(psycopg.errors.ExclusionViolation) as exc:
        rate(conn, a, "1", "0.0200", effective="2026-02-01")
    assert exc.value.diag.constraint_name == "rate_deck_carrier_trunk_id_prefix_excl"
    rate(conn, a, "1", "0.0200", effective="2026-03-01")  # adjacent: fine
    rate(conn, a, "01", "0.0200", effective="2026-01-01")  # another prefix ('01' is not '1')
    rate(conn, b, "1", "0.0200", effective="2026-01-01")  # another trunk


def test_disabled_carrier_and_trunk_are_excluded_with_reasons(conn: Conn, acct: Any) -> None:
    a, b, c = ctrunk(conn, "a"), ctrunk(conn, "b"), ctrunk(conn, "c")
    for t in (a, b, c):
        rate(conn, t, "1", "0.0100")
    partition(conn, "p", [a, b, c], default=True)
    conn.execute("UPDATE routing.carrier_trunks SET enabled = false WHERE id = %s", (a,))
    conn.execute("UPDATE routing.carriers SET enabled = false WHERE name = 'C-b'")
    assert names(lcr(conn, "12025550100", acct)) == ["c"]
    reasons = dict(
        conn.execute(
            "SELECT carrier_trunk, excluded FROM routing.explain_lcr(%s, %s, NULL, %s) WHERE rank IS NULL",
            ("12025550100", acct, AT),
        ).fetchall()
    )
    assert reasons == {"a": "carrier trunk a disabled", "b": "carrier C-b disabled"}


def test_partitions_assigned_default_and_missing(conn: Conn) -> None:
    acme, beta = account(conn, "ACME"), account(conn, "BETA")
    a, b = ctrunk(conn, "a"), ctrunk(conn, "b")
    rate(conn, a, "1", "0.0100")
    rate(conn, b, "1", "0.0200")
    assert lcr(conn, "12025550100", acme) == []  # no partition, no default partition
    default = partition(conn, "default", [a], default=True)
    gold = partition(conn, "gold", [b])
    assign(conn, beta, gold)
    assert names(lcr(conn, "12025550100", acme)) == ["a"]  # default partition
    assert names(lcr(conn, "12025550100", beta)) == ["b"]  # its own partition only
    conn.execute("UPDATE routing.partitions SET enabled = false WHERE id = %s", (gold,))
    assert lcr(conn, "12025550100", beta) == []
    assert default


def test_margin_protection_and_loss_routing(conn: Conn, acct: Any) -> None:
    a, b, c = ctrunk(conn, "a"), ctrunk(conn, "b"), ctrunk(conn, "c")
    rate(conn, a, "1", "0.0100")
    rate(conn, b, "1", "0.0150")  # equal to the sell rate: zero margin is allowed
    rate(conn, c, "1", "0.0151")  # above the sell rate
    pid = partition(conn, "p", [a, b, c], default=True)
    assert names(lcr(conn, "12025550100", acct)) == ["a", "b", "c"]  # sell rate unknown: no protection
    sell_plan(conn, acct, "1202", "0.0150")
    assert names(lcr(conn, "12025550100", acct)) == ["a", "b"]
    assert names(lcr(conn, "13125550100", acct)) == ["a", "b", "c"]  # plan has no rate for 1312
    excluded = one(
        conn,
        "SELECT excluded FROM routing.explain_lcr(%s, %s, NULL, %s) WHERE carrier_trunk = 'c'",
        ("12025550100", acct, AT),
    )
    assert excluded == "above sell rate (cost 0.015100 > sell 0.015000)"
    conn.execute("UPDATE routing.partitions SET allow_loss_routing = true WHERE id = %s", (pid,))
    assert names(lcr(conn, "12025550100", acct)) == ["a", "b", "c"]


def test_lcr_ties_break_on_priority_then_weight_then_name(conn: Conn, acct: Any) -> None:
    t = {
        "d": ctrunk(conn, "d", priority=10, weight=50),
        "c": ctrunk(conn, "c", priority=10, weight=50),
        "b": ctrunk(conn, "b", priority=10, weight=90),
        "a": ctrunk(conn, "a", priority=20, weight=100),
        "z": ctrunk(conn, "z", priority=99, weight=1),
    }
    for name, tid in t.items():
        rate(conn, tid, "1", "0.0050" if name == "z" else "0.0100")
    partition(conn, "p", list(t.values()), default=True)
    assert names(lcr(conn, "12025550100", acct)) == ["z", "b", "c", "d", "a"]


def test_partition_member_overrides_priority(conn: Conn, acct: Any) -> None:
    a, b = ctrunk(conn, "a", priority=1), ctrunk(conn, "b", priority=2)
    rate(conn, a, "1", "0.0100")
    rate(conn, b, "1", "0.0100")
    pid = partition(conn, "p", [a, b], default=True)
    assert names(lcr(conn, "12025550100", acct)) == ["a", "b"]
    conn.execute(
        "UPDATE routing.partition_carrier_trunks SET priority = 5 WHERE partition_id = %s AND carrier_trunk_id = %s",
        (pid, a),
    )
    assert names(lcr(conn, "12025550100", acct)) == ["b", "a"]


def test_priority_strategy(conn: Conn, acct: Any) -> None:
    a = ctrunk(conn, "a", priority=1)
    b = ctrunk(conn, "b", priority=2)
    c = ctrunk(conn, "c", priority=2)
    rate(conn, a, "1", "0.0300")
    rate(conn, b, "1", "0.0200")
    rate(conn, c, "1", "0.0100")
    partition(conn, "p", [a, b, c], strategy="PRIORITY", default=True)
    assert names(lcr(conn, "12025550100", acct)) == ["a", "c", "b"]  # priority, then rate


def test_quality_strategy_uses_recent_asr_then_acd(conn: Conn, acct: Any) -> None:
    trunks = {n: ctrunk(conn, n) for n in ("a", "b", "c", "d")}
    for n, tid in trunks.items():
        rate(conn, tid, "1", {"a": "0.0100", "b": "0.0200", "c": "0.0300", "d": "0.0050"}[n])
    partition(conn, "p", list(trunks.values()), strategy="QUALITY", default=True)
    metrics = [  # (trunk, hour, attempts, answered, acd)
        ("a", "2026-06-15T10:00Z", 100, 40, 60),
        ("b", "2026-06-15T10:00Z", 100, 60, 30),
        ("c", "2026-06-15T09:00Z", 100, 60, 90),
        ("d", "2026-06-13T10:00Z", 100, 99, 99),  # older than 24 hours: ignored
    ]
    for n, hour, attempts, answered, acd in metrics:
        conn.execute(
            "INSERT INTO vendor_mgmt.performance_metrics (carrier_id, carrier_trunk_id, hour_start, attempts, "
            "answered, acd_seconds) SELECT carrier_id, id, %s, %s, %s, %s FROM routing.carrier_trunks WHERE id = %s",
            (hour, attempts, answered, acd, trunks[n]),
        )
    assert names(lcr(conn, "12025550100", acct)) == ["c", "b", "a", "d"]


def test_weighted_strategy_prefers_cheapest_then_shares_ties_by_weight(conn: Conn, acct: Any) -> None:
    heavy, light, dear = (
        ctrunk(conn, "heavy", weight=90),
        ctrunk(conn, "light", weight=10),
        ctrunk(conn, "dear"),
    )
    rate(conn, heavy, "1", "0.0100")
    rate(conn, light, "1", "0.0100")
    rate(conn, dear, "1", "0.0200")
    partition(conn, "p", [heavy, light, dear], strategy="WEIGHTED", default=True)
    firsts: Counter[str] = Counter()
    for _ in range(400):
        order = names(lcr(conn, "12025550100", acct))
        assert order[2] == "dear" and set(order[:2]) == {"heavy", "light"}
        firsts[order[0]] += 1
    # Expected 360/40; the bounds are > 6 standard deviations away from it.
    assert 320 <= firsts["heavy"] <= 395, firsts


def test_blacklist_global_account_and_expired(conn: Conn) -> None:
    acme, beta = account(conn, "ACME"), account(conn, "BETA")
    a = ctrunk(conn, "a")
    rate(conn, a, "1", "0.0100")
    rate(conn, a, "882", "0.5000")
    partition(conn, "p", [a], default=True)
    conn.execute("INSERT INTO routing.blacklist (prefix, reason) VALUES ('882', 'IRSF')")
    conn.execute("INSERT INTO routing.blacklist (account_id, prefix) VALUES (%s, '1900')", (acme,))
    conn.execute("INSERT INTO routing.blacklist (prefix, expires_at) VALUES ('1555', '2026-06-01T00:00Z')")
    assert lcr(conn, "88212345678", acme) == []
    assert lcr(conn, "88212345678", beta) == []
    assert lcr(conn, "19005550100", acme) == []
    assert names(lcr(conn, "19005550100", beta)) == ["a"]  # another account's blacklist
    assert names(lcr(conn, "15555550100", acme)) == ["a"]  # expired entry
    reason = one(
        conn, "SELECT excluded FROM routing.explain_lcr(%s, %s, NULL, %s)", ("88212345678", acme, AT)
    )
    assert reason == "destination blacklisted (global prefix 882: IRSF)"


def test_emergency_numbers_use_only_the_emergency_route(conn: Conn, acct: Any) -> None:
    cheap = ctrunk(conn, "cheap")
    e1 = ctrunk(conn, "e911-primary", emergency=True, priority=1)
    e2 = ctrunk(conn, "e911-backup", emergency=True, priority=2)
    off = ctrunk(conn, "e911-off", emergency=True, enabled=False)
    rate(conn, cheap, "9", "0.0001")
    rate(conn, cheap, "1", "0.0001")
    partition(conn, "p", [cheap], default=True)
    conn.execute("INSERT INTO routing.blacklist (prefix) VALUES ('9')")  # never blocks 911
    assert names(lcr(conn, "911", acct)) == ["e911-primary", "e911-backup"]
    assert names(lcr(conn, "933", acct)) == ["e911-primary", "e911-backup"]
    assert names(lcr(conn, "12025550100", acct)) == ["cheap"]  # emergency trunks are not for normal calls
    assert e1 and e2 and off


@pytest.fixture
def lerg(conn: Conn) -> None:
    conn.execute(
        "INSERT INTO cdr.lerg (npa, nxx, state) VALUES ('202', '555', 'DC'), ('202', '556', 'DC'), "
        "('312', '555', 'IL')"
    )


def test_jurisdictional_decks(conn: Conn, acct: Any, lerg: None) -> None:
    a, b = ctrunk(conn, "a"), ctrunk(conn, "b")
    rate(
        conn,
        a,
        "1202555",
        None,
        interstate_rate="0.0040",
        intrastate_rate="0.0090",
        indeterminate_rate="0.0060",
    )
    rate(conn, b, "1202555", "0.0070")
    partition(conn, "p", [a, b], default=True)
    dest = "+12025550100"
    # No origin: the highest of the three (to be safe).
    assert lcr(conn, dest, acct) == [("b", "1202555", Decimal("0.007")), ("a", "1202555", Decimal("0.009"))]
    # Interstate (IL -> DC), intrastate (DC -> DC), indeterminate (unknown origin NPA-NXX).
    assert lcr(conn, dest, acct, origin="+13125550199")[0] == ("a", "1202555", Decimal("0.004"))
    assert lcr(conn, dest, acct, origin="12025560199") == [
        ("b", "1202555", Decimal("0.007")),
        ("a", "1202555", Decimal("0.009")),
    ]
    assert lcr(conn, dest, acct, origin="+14155550100")[0] == ("a", "1202555", Decimal("0.006"))
    assert one(conn, "SELECT routing.call_jurisdiction('+13125550199', '12025550100')") == "INTERSTATE"
    assert one(conn, "SELECT routing.call_jurisdiction('+13125550199', '4420')") == "INTERNATIONAL"


def test_staff_and_tenant_contexts(conn: Conn, acct: Any, db_url: str) -> None:
    from warp.db import tenant

    other = account(conn, "OTHER")
    a = ctrunk(conn, "a")
    rate(conn, a, "1", "0.0100")
    partition(conn, "p", [a], default=True)
    with psycopg.connect(db_url) as c2:
        with tenant.transaction(c2, tenant.STAFF):
            assert names(lcr(c2, "12025550100", acct)) == ["a"]
        with tenant.transaction(c2, tenant.Context(account_id=acct)):
            assert names(lcr(c2, "12025550100", acct)) == ["a"]
        with (
            pytest.raises(psycopg.errors.InsufficientPrivilege),
            tenant.transaction(c2, tenant.Context(account_id=acct)),
        ):
            lcr(c2, "12025550100", other)
