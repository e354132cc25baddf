"""Monthly partitions: default partition catches stray months; maintenance moves raw + enriched rows out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
from cdr_helpers import build_world, cdr_rows, one, write_csv
from typer.testing import CliRunner

from warp.cdr import maintenance, rating
from warp.cdr.ingest import import_file
from warp.cli.main import app
from warp.db import tenant
from warp.db.tenant import Context


def test_maintenance_moves_default_rows_with_references(
    db_url: str, tmp_path: Path, monkeypatch: Any
) -> None:
    with psycopg.connect(db_url) as conn:
        build_world(conn)
        tenant.apply(conn, Context(staff=True, actor_type="SYSTEM"))
        # 2031-05 has no partition: rows go to the default partitions
        import_file(conn, write_csv(tmp_path / "future.csv", cdr_rows(30, start="2031-05-03 10:00:00")))
        rating.process(conn)
        conn.execute(
            "INSERT INTO cdr.vendor_cdr (carrier_id, call_id, dnis, start_time, raw_cdr_id, raw_cdr_start_time, match_status) "
            "SELECT ct.carrier_id, r.call_id, r.dnis, r.start_time, r.id, r.start_time, 'MATCHED' "
            "FROM cdr.raw_cdr r JOIN routing.carrier_trunks ct ON ct.id = r.carrier_trunk_id WHERE r.dnis IS NOT NULL"
        )
        conn.commit()
        assert one(conn, "SELECT count(*) FROM cdr.raw_cdr_default") == 30
        assert one(conn, "SELECT count(*) FROM cdr.enriched_cdr_default") == 30
        linked = one(conn, "SELECT count(*) FROM cdr.vendor_cdr WHERE raw_cdr_id IS NOT NULL")
        before = conn.execute(
            "SELECT e.id, e.customer_charge, e.raw_cdr_id FROM cdr.enriched_cdr e ORDER BY e.id"
        ).fetchall()
    monkeypatch.setenv("WARP_DATABASE_URL", db_url)
    result = CliRunner().invoke(app, ["maintenance", "partitions", "--ahead", "3", "--json"])
    assert result.exit_code == 0, (result.output, result.exception)
    assert "cdr.raw_cdr_2031_05" in result.output
    with psycopg.connect(db_url) as conn:
        assert one(conn, "SELECT count(*) FROM cdr.raw_cdr_default") == 0
        assert one(conn, "SELECT count(*) FROM cdr.enriched_cdr_default") == 0
        assert one(conn, "SELECT count(*) FROM cdr.raw_cdr_2031_05") == 30
        assert one(conn, "SELECT count(*) FROM cdr.enriched_cdr_2031_05") == 30
        after = conn.execute(
            "SELECT e.id, e.customer_charge, e.raw_cdr_id FROM cdr.enriched_cdr e ORDER BY e.id"
        ).fetchall()
        assert after == before
        assert one(conn, "SELECT count(*) FROM cdr.vendor_cdr WHERE raw_cdr_id IS NOT NULL") == linked > 0
        # new partitions carry the parent's indexes and the dedup key
        assert (
            one(
                conn,
                "SELECT count(*) FROM pg_indexes WHERE schemaname = 'cdr' AND tablename = 'raw_cdr_2031_05'",
            )
            >= 5
        )
        # partitions ahead exist; running again creates nothing
        tenant.apply(conn, Context(staff=True, actor_type="SYSTEM"))
        assert maintenance.maintain_partitions(conn, 3) == []
        # a new stray CDR for that month now lands in its partition
        import_file(
            conn, write_csv(tmp_path / "more.csv", cdr_rows(1, start="2031-05-20 10:00:00", prefix="x"))
        )
        assert (
            one(conn, "SELECT count(*) FROM cdr.raw_cdr WHERE tableoid = 'cdr.raw_cdr_2031_05'::regclass")
            == 31
        )
