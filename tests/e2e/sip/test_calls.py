"""Real calls end to end (issue 11): SIPp -> Kamailio (shipped config) -> SIPp carriers, routed, limited
and accounted by WARP's database; the CDRs Kamailio writes are ingested, rated and summarised by WARP.

One test, in phases, against one Kamailio: it needs ~1 minute. Skips (with the reason) only when the
Debian packages kamailio, kamailio-postgres-modules and sip-tester are absent and cannot be installed.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import time
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row
from sip_harness import (
    CHEAP_RATE,
    CUSTOMER_FEE,
    CUSTOMER_RATE,
    DNIS,
    GLOBEX_MAX_CALLS,
    PRICEY_RATE,
    Kamailio,
    UacResult,
    Uas,
    WarpDb,
    build_world,
    ensure_tools,
    free_port,
    one,
    run_uac,
)

from warp.workers import cdr as cdr_worker


def charge(
    duration: Decimal, rate: Decimal, initial: int, subsequent: int, fee: Decimal = Decimal(0)
) -> Decimal:
    """The issue's rating rule, computed independently of the SQL: whole seconds rounded up, increments."""
    d = math.ceil(duration)
    if d <= 0:
        return Decimal("0.000000")
    billable = initial if d <= initial else initial + math.ceil((d - initial) / subsequent) * subsequent
    return (Decimal(billable) * rate / 60 + fee).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)


@pytest.fixture(scope="module")
def sip_home() -> Iterator[Path]:
    reason = ensure_tools()
    if reason:
        pytest.skip(f"SIP end-to-end test skipped: {reason}")
    home = Path(tempfile.mkdtemp(prefix="warp-sip-e2e-"))
    home.chmod(0o755)
    yield home
    shutil.rmtree(home, ignore_errors=True)


def _wait_for_acc_rows(conn: psycopg.Connection[Any], expected: int, timeout_s: float = 20) -> int:
    deadline = time.monotonic() + timeout_s
    n = 0
    while time.monotonic() < deadline:
        n = int(one(conn, "SELECT count(*) FROM kamailio.acc_cdrs"))
        if n >= expected:
            return n
        time.sleep(0.2)
    return n


def test_real_calls_end_to_end(sip_home: Path) -> None:
    db = WarpDb(sip_home / "pg")
    db.start()
    kam: Kamailio | None = None
    uases: list[Uas] = []
    try:
        cheap = Uas(sip_home, "cheap", port=free_port())
        pricey = Uas(sip_home, "pricey", port=free_port())
        uases += [cheap, pricey]
        with psycopg.connect(db.url, autocommit=True) as admin:
            world = build_world(admin, cheap.port, pricey.port)
        cheap.start()
        pricey.start()
        kam = Kamailio(sip_home / "kamailio", db.kamailio_url)
        kam.start()

        # 1. Unknown source address: 403, and nothing reaches a carrier or the CDRs.
        stranger = run_uac(
            sip_home, "stranger", kamailio_port=kam.port, source_ip="127.0.0.9", calls=3, rate=10, dnis=DNIS
        )
        assert stranger.rejected and set(stranger.rejected.values()) == {403}, stranger
        assert len(stranger.rejected) == 3 and not stranger.answered

        # 2. 200 calls at 25 calls/s, random 1-4 s durations, from Acme (127.0.0.1): all to the cheaper carrier.
        bulk = run_uac(
            sip_home, "bulk", kamailio_port=kam.port, source_ip="127.0.0.1", calls=200, rate=25, dnis=DNIS
        )
        assert bulk.returncode == 0, (bulk.returncode, bulk.errors, kam.log_text()[-2000:])
        assert len(bulk.answered) == 200 and not bulk.rejected
        assert set(cheap.invites()) == set(bulk.answered)
        assert not pricey.invites()

        # 3. Globex (127.0.0.2) may hold 5 calls at once: a burst of 20 longer calls gets the rest refused.
        burst = run_uac(
            sip_home, "burst", kamailio_port=kam.port, source_ip="127.0.0.2", calls=20, rate=40, dnis=DNIS
        )
        assert len(burst.call_ids) == 20
        # (all 20 INVITEs arrive within 0.5 s and every call lasts at least 1 s: no slot frees up meanwhile)
        assert len(burst.answered) == GLOBEX_MAX_CALLS, burst
        assert len(burst.rejected) == 20 - GLOBEX_MAX_CALLS and set(burst.rejected.values()) == {486}, burst
        assert set(cheap.invites()) == set(bulk.answered) | set(burst.answered)

        # 3b. Limits are read live per call (no reload): Globex now gets 3 calls/s and room for 100 calls;
        # 12 calls within 0.3 s span at most two wall-clock seconds, so at most 6 pass and the rest get 503.
        with psycopg.connect(db.url, autocommit=True) as admin:
            admin.execute(
                "UPDATE routing.trunks SET max_calls_per_second = 3, max_concurrent_calls = 100 WHERE id = %s",
                (world.globex_trunk,),
            )
        paced = run_uac(
            sip_home, "paced", kamailio_port=kam.port, source_ip="127.0.0.2", calls=12, rate=40, dnis=DNIS
        )
        assert len(paced.call_ids) == 12
        assert 3 <= len(paced.answered) <= 6, paced
        assert set(paced.rejected.values()) == {503}, paced
        assert set(cheap.invites()) == set(bulk.answered) | set(burst.answered) | set(paced.answered)

        # 4. The cheap carrier answers 503: every call fails over to the other carrier and is answered.
        cheap.stop()
        cheap_down = Uas(sip_home, "cheap", port=cheap.port, scenario="uas_503.xml")
        uases.append(cheap_down)
        cheap_down.start()
        failover = run_uac(
            sip_home, "failover", kamailio_port=kam.port, source_ip="127.0.0.1", calls=20, rate=20, dnis=DNIS
        )
        assert len(failover.answered) == 20 and not failover.rejected, failover
        assert set(cheap_down.invites()) == set(failover.answered)
        assert set(pricey.invites()) == set(failover.answered)

        placed: dict[str, UacResult] = {}
        for result in (bulk, burst, paced, failover):
            for call_id in result.call_ids:
                placed[call_id] = result

        # 5. Kamailio's CDRs -> WARP: ingest + enrich + rate with the CDR worker, then the hourly summary.
        with psycopg.connect(db.url, autocommit=True) as admin:
            assert _wait_for_acc_rows(admin, len(placed)) == len(placed)
        with psycopg.connect(db.url) as conn:
            ingest = cdr_worker.run_once(conn, table="kamailio.acc_cdrs")
            conn.commit()
            assert (ingest.rows, ingest.inserted, ingest.bad, ingest.unidentified) == (
                len(placed),
                len(placed),
                0,
                0,
            )
            assert ingest.problems == []
        with psycopg.connect(db.url, autocommit=True, row_factory=dict_row) as admin:
            rows = admin.execute(
                "SELECT r.call_id, r.start_time, r.duration, r.sip_code, r.account_id, r.trunk_id, "
                "r.carrier_trunk_id, r.carrier_trunk_name, r.pdd_ms, host(r.source_ip) AS source_ip, r.ani, r.dnis, "
                "e.answered, e.jurisdiction, e.rating_status, e.customer_charge, e.vendor_cost, e.margin "
                "FROM cdr.raw_cdr r LEFT JOIN cdr.enriched_cdr e ON e.raw_cdr_id = r.id AND e.start_time = r.start_time"
            ).fetchall()
            by_call = {r["call_id"]: r for r in rows}
            assert len(rows) == len(by_call) == len(placed)
            assert set(by_call) == set(placed), (
                "raw_cdr must hold exactly the calls SIPp placed from known trunks"
            )
            assert not set(stranger.call_ids) & set(by_call)

            for call_id, result in placed.items():
                row = by_call[call_id]
                assert row["answered"] is not None, f"{call_id}: no enriched_cdr row"
                assert row["dnis"] == DNIS and row["ani"] == "+12125550199"
                if call_id in result.answered:
                    hold = Decimal(str(result.answered[call_id]))
                    assert abs(row["duration"] - hold) < 1, (call_id, row["duration"], hold)
                    assert row["sip_code"] == 200 and row["answered"]
                    assert row["pdd_ms"] is not None and 0 <= row["pdd_ms"] < 5000
                    assert row["jurisdiction"] == "INTERNATIONAL"
                    assert row["rating_status"] == "RATED", row
                    cheap_call = result is not failover
                    assert row["carrier_trunk_id"] == (world.cheap if cheap_call else world.pricey)
                    assert row["carrier_trunk_name"] == ("cheap-1" if cheap_call else "pricey-1")
                    expected_charge = charge(row["duration"], CUSTOMER_RATE, 6, 6, CUSTOMER_FEE)
                    expected_cost = (
                        charge(row["duration"], CHEAP_RATE, 1, 1)
                        if cheap_call
                        else charge(row["duration"], PRICEY_RATE, 6, 6)
                    )
                    assert row["customer_charge"] == expected_charge, (call_id, row)
                    assert row["vendor_cost"] == expected_cost, (call_id, row)
                    assert row["margin"] == expected_charge - expected_cost
                else:
                    assert row["sip_code"] == result.rejected[call_id] and not row["answered"]
                    assert (row["customer_charge"] or 0) == 0 and (row["vendor_cost"] or 0) == 0
                globex = result is burst or result is paced
                account = world.globex if globex else world.acme
                trunk = world.globex_trunk if globex else world.acme_trunk
                assert (row["account_id"], row["trunk_id"]) == (account, trunk)
                assert row["source_ip"] == ("127.0.0.2" if globex else "127.0.0.1")

            hours = sorted({r["start_time"].replace(minute=0, second=0, microsecond=0) for r in rows})
            for hour in hours:
                admin.execute("SELECT cdr.calculate_hourly_summary(%s)", (hour,))
            summary = admin.execute(
                "SELECT account_id, sum(attempts) AS attempts, sum(answered) AS answered, sum(revenue) AS revenue, "
                "sum(cost) AS cost, sum(margin) AS margin FROM cdr.hourly_summary WHERE hour_start = ANY(%s) "
                "GROUP BY account_id",
                (hours,),
            ).fetchall()
            got = {s["account_id"]: s for s in summary}
            assert set(got) == {world.acme, world.globex}
            for account in (world.acme, world.globex):
                mine = [r for r in rows if r["account_id"] == account]
                s = got[account]
                assert s["attempts"] == len(mine)
                assert s["answered"] == sum(1 for r in mine if r["answered"])
                assert s["revenue"] == sum(r["customer_charge"] or 0 for r in mine)
                assert s["cost"] == sum(r["vendor_cost"] or 0 for r in mine)
                assert s["margin"] == s["revenue"] - s["cost"]
    finally:
        if kam is not None:
            kam.stop()
        for uas in uases:
            uas.stop()
        db.stop()
