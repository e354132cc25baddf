"""Property: routing.calculate_lcr (the lean one-statement hot path) is exactly the ranked part of
routing.explain_lcr (the reasoned version the CLI and API show), over random decks, partitions,
accounts, blacklists, sell rates, strategies and destinations."""

from __future__ import annotations

from typing import Any

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from routing_helpers import account, assign, ctrunk, one, partition, rate, sell_plan

Conn = psycopg.Connection[Any]

PREFIXES = ["1", "12", "120", "1202", "12025", "1203", "44", "441", "4420", "9", "91", "911"]
DESTINATIONS = ["12025550100", "+12035550100", "441234567", "442071234567", "9123", "911", "5550100", "1"]
RATES = ["0.0100", "0.0200", "0.0300", "0.0500"]
PERIODS = [
    ("2026-01-01", None),
    ("2026-01-01", None),
    ("2025-01-01", "2026-06-15"),  # expired the day before AT
    ("2026-06-16", None),  # not yet in force
    ("2026-06-15", "2026-06-16"),  # in force on AT's day only
]
MOSTLY = st.sampled_from([True, True, True, False])
AT = "2026-06-15T12:00:00Z"

deck_row = st.tuples(
    st.sampled_from(PREFIXES),
    st.sampled_from(RATES),
    st.sampled_from(PERIODS),
    st.booleans(),  # jurisdictional (US) rates instead of a flat one
)
trunk_spec = st.fixed_dictionaries(
    {
        "enabled": MOSTLY,
        "carrier_enabled": MOSTLY,
        "priority": st.sampled_from([10, 20, 20]),
        "weight": st.sampled_from([0, 50, 100]),
        "member": MOSTLY,
        "deck": st.lists(deck_row, min_size=1, max_size=8, unique_by=lambda r: r[0]),
        "asr": st.none() | st.integers(0, 10),
    }
)
world_spec = st.fixed_dictionaries(
    {
        "trunks": st.lists(trunk_spec, min_size=2, max_size=6),
        "strategy": st.sampled_from(["LCR", "PRIORITY", "QUALITY", "WEIGHTED"]),
        "allow_loss": st.booleans(),
        "enabled": MOSTLY,
        "own_partition": MOSTLY,
        "default_exists": MOSTLY,
        "sell": st.sampled_from([None, "0.0150", "0.0200", "0.0300", "0.0400"]),
        "blacklist": st.lists(
            st.tuples(st.sampled_from(["1203", "4420", "9", "12025"]), st.booleans(), st.booleans()),
            max_size=2,
            unique_by=lambda b: (b[0], b[1]),
        ),
        "origin": st.sampled_from([None, "+13035550100", "12125550100"]),
        # a per-trunk partition override on one customer trunk of the account, and which trunk calls
        "override": st.none() | st.tuples(st.sampled_from(["LCR", "PRIORITY", "WEIGHTED"]), MOSTLY),
        "calling_trunk": st.sampled_from([None, "special", "plain"]),
    }
)


def build(conn: Conn, w: dict[str, Any]) -> tuple[Any, Any]:
    acct = account(conn, "ACME")
    other = account(conn, "OTHER")
    members = []
    for i, t in enumerate(w["trunks"]):
        tid = ctrunk(conn, f"t{i}", priority=t["priority"], weight=t["weight"], enabled=t["enabled"])
        if not t["carrier_enabled"]:
            conn.execute("UPDATE routing.carriers SET enabled = false WHERE name = %s", (f"C-t{i}",))
        for prefix, value, (eff, exp), us in t["deck"]:
            if us:
                rate(
                    conn,
                    tid,
                    prefix,
                    None,
                    effective=eff,
                    expires=exp,
                    interstate_rate=value,
                    intrastate_rate="0.0150",
                    indeterminate_rate="0.0350",
                )
            else:
                rate(conn, tid, prefix, value, effective=eff, expires=exp)
        if t["asr"] is not None:
            conn.execute(
                "INSERT INTO vendor_mgmt.performance_metrics (carrier_id, carrier_trunk_id, hour_start, attempts, "
                "answered, acd_seconds) SELECT carrier_id, id, %s::timestamptz - interval '2 hours', 10, %s, 60 "
                "FROM routing.carrier_trunks WHERE id = %s",
                (AT, t["asr"], tid),
            )
        if t["member"]:
            members.append(tid)
    pid = partition(
        conn, "p", members, strategy=w["strategy"], allow_loss=w["allow_loss"], enabled=w["enabled"]
    )
    if w["own_partition"]:
        assign(conn, acct, pid)
    if w["default_exists"]:
        partition(conn, "fallback", members[::-1][:3], default=True)
    if w["sell"] is not None:
        sell_plan(conn, acct, "1", w["sell"])
        conn.execute(
            "INSERT INTO billing.voice_rates (rate_plan_id, prefix, rate, effective_date) "
            "SELECT rate_plan_id, '44', %s, '2026-01-01' FROM billing.account_rate_plans WHERE account_id = %s",
            (w["sell"], acct),
        )
    for prefix, mine, expired in w["blacklist"]:
        conn.execute(
            "INSERT INTO routing.blacklist (account_id, prefix, expires_at) VALUES (%s, %s, %s)",
            (acct if mine else None, prefix, "2026-01-01T00:00Z" if expired else None),
        )
    conn.execute(
        "INSERT INTO routing.blacklist (account_id, prefix) VALUES (%s, '12')", (other,)
    )  # another account's entry never applies
    trunks = {
        name: one(
            conn, "INSERT INTO routing.trunks (account_id, name) VALUES (%s, %s) RETURNING id", (acct, name)
        )
        for name in ("special", "plain")
    }
    if w["override"] is not None:
        strategy, enabled = w["override"]
        ovr = partition(conn, "ovr", members[1::2] + members[:1], strategy=strategy, enabled=enabled)
        conn.execute(
            "INSERT INTO routing.account_partitions (account_id, trunk_id, partition_id) VALUES (%s, %s, %s)",
            (acct, trunks["special"], ovr),
        )
    return acct, None if w["calling_trunk"] is None else trunks[w["calling_trunk"]]


def effective_strategy(w: dict[str, Any]) -> str:
    """The strategy of the partition that routes the call: the calling trunk's override, else the
    account's partition, else the default ("fallback", LCR)."""
    if w["override"] is not None and w["calling_trunk"] == "special":
        return str(w["override"][0])
    return str(w["strategy"]) if w["own_partition"] else "LCR"


def ranked_by_explain(
    conn: Conn, dest: str, acct: Any, origin: str | None, trunk: Any = None
) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT rank, carrier_trunk_id, carrier_trunk, carrier, prefix, rate, connection_fee, initial_increment, "
        "subsequent_increment FROM routing.explain_lcr(%s, %s, %s, %s, %s::uuid) WHERE rank IS NOT NULL "
        "ORDER BY rank",
        (dest, acct, origin, AT, trunk),
    ).fetchall()


def calculated(
    conn: Conn, dest: str, acct: Any, origin: str | None, limit: int, trunk: Any = None
) -> list[tuple[Any, ...]]:
    if origin is None and trunk is None:
        return conn.execute(
            "SELECT * FROM routing.calculate_lcr(%s, %s, %s, %s)", (dest, acct, limit, AT)
        ).fetchall()
    if origin is None:
        return conn.execute(
            "SELECT * FROM routing.calculate_lcr(%s, %s, %s, %s, %s::uuid)", (dest, acct, limit, AT, trunk)
        ).fetchall()
    return conn.execute(
        "SELECT * FROM routing.calculate_lcr(%s, %s, %s::text, %s, %s, %s::uuid)",
        (dest, acct, origin, limit, AT, trunk),
    ).fetchall()


@settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(w=world_spec)
def test_calculate_lcr_is_the_ranked_part_of_explain_lcr(conn: Conn, w: dict[str, Any]) -> None:
    with conn.transaction(force_rollback=True):
        acct, trunk = build(conn, w)
        for dest in DESTINATIONS:
            expected = ranked_by_explain(conn, dest, acct, w["origin"], trunk)
            got = calculated(conn, dest, acct, w["origin"], 20, trunk)
            if effective_strategy(w) == "WEIGHTED":
                # equal-rate ties are drawn at random on every call: compare the sets and the rate order
                assert {r[1:] for r in got} == {r[1:] for r in expected}, (dest, w)
                assert [r[5] for r in got] == sorted(r[5] for r in got)
                assert [r[0] for r in got] == list(range(1, len(got) + 1))
            else:
                assert got == expected, (dest, w)
                assert calculated(conn, dest, acct, w["origin"], 2, trunk) == expected[:2]


def test_agreement_sanity_a_known_world(conn: Conn) -> None:
    """The property above is not vacuous: a plain world yields ranked candidates from both."""
    acct = account(conn, "ACME")
    a, b = ctrunk(conn, "a"), ctrunk(conn, "b")
    rate(conn, a, "1202", "0.0200")
    rate(conn, b, "1", "0.0100")
    assign(conn, acct, partition(conn, "p", [a, b]))
    got = calculated(conn, "+12025550100", acct, None, 5)
    assert [r[2] for r in got] == ["b", "a"] and got == ranked_by_explain(conn, "+12025550100", acct, None)
    assert one(conn, "SELECT count(*) FROM routing.calculate_lcr('911', %s)", (acct,)) == 0
    # and a per-trunk override changes both answers in the same way
    sbc = one(conn, "INSERT INTO routing.trunks (account_id, name) VALUES (%s, 'sbc') RETURNING id", (acct,))
    conn.execute(
        "INSERT INTO routing.account_partitions (account_id, trunk_id, partition_id) VALUES (%s, %s, %s)",
        (acct, sbc, partition(conn, "only-a", [a])),
    )
    got = calculated(conn, "+12025550100", acct, None, 5, sbc)
    assert [r[2] for r in got] == ["a"] and got == ranked_by_explain(conn, "+12025550100", acct, None, sbc)
    assert [r[2] for r in calculated(conn, "+12025550100", acct, "+13035550100", 5, sbc)] == ["a"]
