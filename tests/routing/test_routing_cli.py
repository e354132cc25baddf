"""The routing CLI end to end (typer's CliRunner against a real database)."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from routing_helpers import two_connection_loads
from typer.testing import CliRunner

from warp.cli.main import app


@pytest.fixture
def warp(db_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("WARP_DATABASE_URL", db_url)
    return CliRunner()


def ok(runner: CliRunner, *args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, (args, result.output, result.exception)
    return result.stdout


def test_carriers_decks_partitions_and_lcr(warp: CliRunner, tmp_path: Path) -> None:
    ok(warp, "accounts", "create", "--name", "Acme", "--ban", "ACME1")
    ok(warp, "accounts", "create", "--name", "Beta", "--ban", "BETA1")
    ok(warp, "carriers", "create", "--name", "Alpha")
    ok(warp, "carriers", "create", "--name", "Bravo")
    ok(warp, "carrier-trunks", "create", "--carrier", "Alpha", "--name", "alpha-1", "--host", "198.51.100.1")
    ok(
        warp,
        "carrier-trunks",
        "create",
        "--carrier",
        "Bravo",
        "--name",
        "bravo-1",
        "--host",
        "198.51.100.2",
        "--port",
        "5080",
        "--transport",
        "tcp",
        "--priority",
        "5",
        "--weight",
        "50",
    )
    listed = json.loads(ok(warp, "carrier-trunks", "list", "--json"))
    assert [
        (t["name"], t["carrier"], t["port"], t["transport"], t["priority"], t["weight"]) for t in listed
    ] == [
        ("alpha-1", "Alpha", 5060, "udp", 100, 100),
        ("bravo-1", "Bravo", 5080, "tcp", 5, 50),
    ]
    assert "Alpha" in ok(warp, "carriers", "list")
    (tmp_path / "a.csv").write_text("prefix,rate\n1,0.0100\n1202,0.0080\n")
    (tmp_path / "b.csv").write_text("prefix,rate\n1,0.0090\n")
    ok(warp, "rates", "import", "--carrier-trunk", "alpha-1", str(tmp_path / "a.csv"))
    ok(warp, "rates", "import", "--carrier-trunk", "bravo-1", str(tmp_path / "b.csv"), "--replace")
    ok(warp, "partitions", "create", "--name", "default", "--carrier-trunks", "alpha-1,bravo-1", "--default")
    ok(
        warp,
        "partitions",
        "create",
        "--name",
        "bravo-only",
        "--carrier-trunks",
        "bravo-1",
        "--strategy",
        "PRIORITY",
    )
    ok(warp, "partitions", "assign", "--account", "BETA1", "--partition", "bravo-only")
    parts = json.loads(ok(warp, "partitions", "list", "--json"))
    assert [(p["name"], p["strategy"], p["carrier_trunks"], p["accounts"]) for p in parts] == [
        ("bravo-only", "PRIORITY", ["bravo-1"], 1),
        ("default", "LCR", ["alpha-1", "bravo-1"], 0),
    ]

    decision = json.loads(ok(warp, "lcr", "+12025550100", "--account", "ACME1", "--json"))
    assert [(c["carrier_trunk"], c["carrier"], c["prefix"], c["rate"]) for c in decision["candidates"]] == [
        ("alpha-1", "Alpha", "1202", "0.008000"),
        ("bravo-1", "Bravo", "1", "0.009000"),
    ]
    beta = json.loads(ok(warp, "lcr", "12025550100", "--account", "BETA1", "--json"))
    assert [c["carrier_trunk"] for c in beta["candidates"]] == ["bravo-1"]

    ok(warp, "carriers", "disable", "Alpha")
    decision = json.loads(ok(warp, "lcr", "+12025550100", "--account", "ACME1", "--json"))
    assert [c["carrier_trunk"] for c in decision["candidates"]] == ["bravo-1"]
    assert decision["exclusions"] == [
        {**decision["exclusions"][0], "carrier_trunk": "alpha-1", "reason": "carrier Alpha disabled"}
    ]
    text = ok(warp, "lcr", "+12025550100", "--account", "ACME1")
    assert "carrier Alpha trunk alpha-1 excluded: carrier Alpha disabled" in text


def test_rates_import_errors_exit_non_zero_with_line_numbers(warp: CliRunner, tmp_path: Path) -> None:
    ok(warp, "carriers", "create", "--name", "Alpha")
    ok(warp, "carrier-trunks", "create", "--carrier", "Alpha", "--name", "alpha-1", "--host", "h")
    bad = tmp_path / "bad.csv"
    bad.write_text("prefix,rate\n1,0.01\nx1,0.01\n2,-1\n")
    # main() turns WarpErrors into a message and exit status; CliRunner sees the exception itself.
    result = warp.invoke(app, ["rates", "import", "--carrier-trunk", "alpha-1", str(bad)])
    assert result.exit_code != 0
    assert "line 3: prefix: x1 is not 1-16 digits" in str(result.exception)
    assert "line 4: rate: -1" in str(result.exception)
    summary = json.loads(
        ok(warp, "rates", "import", "--carrier-trunk", "alpha-1", str(bad), "--skip-bad", "--json")
    )
    assert (summary["loaded"], summary["skipped"], [p["line"] for p in summary["problems"]]) == (1, 2, [3, 4])


def test_trunks_cli_and_identify(warp: CliRunner) -> None:
    ok(warp, "accounts", "create", "--name", "Acme", "--ban", "ACME1")
    created = json.loads(
        ok(
            warp,
            "trunks",
            "create",
            "--account",
            "ACME1",
            "--name",
            "main",
            "--acl",
            "203.0.113.0/24,2001:db8::/48",
            "--auth-type",
            "BOTH",
            "--sip-username",
            "acme",
            "--sip-password",
            "pw",
            "--json",
        )
    )
    assert created["acl"] == ["203.0.113.0/24", "2001:db8::/48"] and "sip_ha1" not in created
    found = json.loads(ok(warp, "trunks", "identify", "203.0.113.9", "--json"))
    assert found["trunk_name"] == "main"
    ok(warp, "trunks", "update", created["id"], "--disabled")
    assert json.loads(ok(warp, "trunks", "identify", "203.0.113.9", "--json")) is None
    assert "203.0.113.0/24" in ok(warp, "trunks", "acl", "list", created["id"])


def test_rates_import_parallel_commits_both_halves(
    warp: CliRunner, tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """By default a big deck loads on two connections; the command resolves the helper's prepared half
    after its commit, so nothing stays prepared and every row is there. --single-transaction loads on
    one connection (the helper's side connections never appear in its audit row either way)."""
    two_connections = two_connection_loads(monkeypatch)
    ok(warp, "carriers", "create", "--name", "Alpha")
    ok(warp, "carrier-trunks", "create", "--carrier", "Alpha", "--name", "alpha-1", "--host", "h")
    deck = tmp_path / "deck.csv"
    deck.write_text(
        "prefix,rate\n" + "".join(f"{p},0.0{p[0]}\n" for p in ("1", "12", "3", "44", "5", "6", "77", "9"))
    )
    with psycopg.connect(db_url, autocommit=True) as conn:
        for flags, parallel in ((["--replace"], True), (["--replace", "--single-transaction"], False)):
            two_connections.clear()
            summary = json.loads(
                ok(warp, "rates", "import", "--carrier-trunk", "alpha-1", str(deck), *flags, "--json")
            )
            assert two_connections == ([True] if parallel else [])
            assert summary["loaded"] == 8
            assert conn.execute("SELECT count(*) FROM pg_prepared_xacts").fetchone() == (0,)
            in_force = conn.execute(
                "SELECT count(*) FROM routing.rate_deck WHERE expires_date IS NULL OR expires_date > current_date"
            ).fetchone()
            assert in_force == (8,)
        audit = conn.execute(
            "SELECT count(*) FROM audit.audit_log WHERE table_name = 'rate_deck' AND action = 'INSERT'"
        ).fetchone()
        assert audit == (2,)
