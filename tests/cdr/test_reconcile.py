"""Vendor CDR import and reconciliation: Call-ID match, DNIS + ANI + start within 2 s, both "only" sides."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cdr_helpers import build_world, cdr_rows, one, write_csv

from warp.cdr import rating
from warp.cdr.errors import CarrierNotFound
from warp.cdr.ingest import import_file
from warp.cdr.reconcile import import_vendor_cdrs, reconcile
from warp.db import tenant
from warp.db.tenant import Context


def test_reconcile(conn: psycopg.Connection[Any], tmp_path: Path) -> None:
    build_world(conn)
    conn.autocommit = False
    tenant.apply(conn, Context(staff=True, actor_type="SYSTEM"))
    rows = cdr_rows(8)  # answered: 0,1,2,4,5,6 (3 and 7 are busy)
    import_file(conn, write_csv(tmp_path / "ours.csv", rows))
    rating.process(conn)
    ours = {
        r[0]: r[1:]
        for r in conn.execute(
            "SELECT r.call_id, r.ani, r.dnis, r.start_time, r.duration, e.vendor_cost FROM cdr.raw_cdr r "
            "JOIN cdr.enriched_cdr e ON e.raw_cdr_id = r.id AND e.start_time = r.start_time"
        ).fetchall()
    }

    def line(
        call_id: str | None, ours_id: str, shift: int = 0, cost: Decimal | None = None, dur: str | None = None
    ) -> str:
        ani, dnis, start, duration, vcost = ours[ours_id]
        ts = datetime.fromtimestamp(start.timestamp() + shift, UTC).strftime("%Y-%m-%d %H:%M:%S")
        return f"{call_id or ''},{ani},{dnis},{ts},{dur or duration},{cost if cost is not None else vcost}"

    vendor = [
        "call_id,ani,dnis,start_time,duration,cost",
        line("call-0@switch", "call-0@switch"),  # Call-ID
        line(None, "call-1@switch", shift=-2),  # no Call-ID: DNIS + ANI, 2 s earlier
        line("their-own-id", "call-2@switch", shift=-1, cost=Decimal("0.500000")),  # fuzzy, disputed cost
        line(None, "call-4@switch", shift=3),  # 3 s away: not a match -> theirs only (and ours only)
        "x,+12125550199,+13035550100,2026-11-10 12:00:00,12,notmoney",  # bad line 6
        "z,+12125550199,+13035559999,2026-11-10 12:30:00,60,0.010000",  # theirs only
    ]
    path = tmp_path / "alpha.csv"
    path.write_text("\n".join(vendor) + "\n")
    imported = import_vendor_cdrs(conn, "alpha", path)
    assert imported.loaded == 5 and [p[0] for p in imported.problems] == [6]
    assert import_vendor_cdrs(conn, "alpha", path).replaced == 5  # re-import replaces

    report = reconcile(conn, "alpha", datetime(2026, 11, 10, tzinfo=UTC), datetime(2026, 11, 11, tzinfo=UTC))
    assert report["matched"] == 3 and report["by_call_id"] == 1
    assert report["theirs_only"] == 2
    assert report["ours_only"] == 3  # call-4 (3 s off), call-5, call-6
    assert [d["call_id"] for d in report["disputes"]] == ["their-own-id"], report["disputes"]
    assert report["disputes"][0]["difference"] == Decimal("0.500000") - ours["call-2@switch"][4]
    statuses = dict(conn.execute("SELECT match_status, count(*) FROM cdr.vendor_cdr GROUP BY 1").fetchall())
    assert statuses == {"MATCHED": 2, "DISPUTED": 1, "UNMATCHED": 2}
    assert one(conn, "SELECT count(*) FROM cdr.vendor_cdr WHERE raw_cdr_id IS NOT NULL") == 3
    with pytest.raises(CarrierNotFound):
        reconcile(conn, "nobody", datetime(2026, 11, 10, tzinfo=UTC), datetime(2026, 11, 11, tzinfo=UTC))
