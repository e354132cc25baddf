"""Per-trunk partition overrides: routing.account_partitions rows with a trunk_id route the calls of
that customer trunk through their own partition (calculate_lcr, explain_lcr, service, CLI)."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import psycopg
import pytest
from routing_helpers import AT, account, assign, ctrunk, one, partition, rate
from typer.testing import CliRunner

from warp.cli.main import app
from warp.db import tenant
from warp.routing import service
from warp.routing.errors import InvalidRouting, TrunkNotFound

Conn = psycopg.Connection[Any]
DEST = "+12025550100"


def customer_trunk(conn: Conn, account_id: UUID, name: str) -> UUID:
    return one(
        conn, "INSERT INTO routing.trunks (account_id, name) VALUES (%s, %s) RETURNING id", (account_id, name)
    )


def override(conn: Conn, account_id: UUID, trunk_id: UUID, partition_id: UUID) -> None:
    conn.execute(
        "INSERT INTO routing.account_partitions (account_id, trunk_id, partition_id) VALUES (%s, %s, %s)",
        (account_id, trunk_id, partition_id),
    )


def routed(conn: Conn, account_id: UUID, trunk_id: UUID | None, *, origin: str | None = None) -> list[str]:
    if origin is None:
        rows = conn.execute(
            "SELECT carrier_trunk FROM routing.calculate_lcr(%s, %s, 5, %s::timestamptz, %s::uuid)",
            (DEST, account_id, AT, trunk_id),
        ).fetchall()
    else:
        rows = conn.execute(
            "SELECT carrier_trunk FROM routing.calculate_lcr(%s, %s, %s::text, 5, %s::timestamptz, %s::uuid)",
            (DEST, account_id, origin, AT, trunk_id),
        ).fetchall()
    return [r[0] for r in rows]


def explained(conn: Conn, account_id: UUID, trunk_id: UUID | None) -> tuple[list[str], str, str]:
    rows = conn.execute(
        "SELECT rank, carrier_trunk, partition_name, partition_source "
        "FROM routing.explain_lcr(%s, %s, NULL, %s::timestamptz, %s::uuid) ORDER BY rank NULLS LAST",
        (DEST, account_id, AT, trunk_id),
    ).fetchall()
    return [r[1] for r in rows if r[0] is not None], rows[0][2], rows[0][3]


@pytest.fixture
def world(conn: Conn) -> dict[str, Any]:
    """Three carrier trunks, each alone in a partition; ACME uses 'acct', its trunk 'sbc-b' overrides."""
    acct = account(conn, "ACME")
    a, b, d = ctrunk(conn, "a"), ctrunk(conn, "b"), ctrunk(conn, "d")
    for t in (a, b, d):
        rate(conn, t, "1", "0.0100")
    p_default = partition(conn, "dflt", [d], default=True)
    p_acct = partition(conn, "acct", [a])
    p_trunk = partition(conn, "special", [b])
    assign(conn, acct, p_acct)
    plain, special = customer_trunk(conn, acct, "sbc-a"), customer_trunk(conn, acct, "sbc-b")
    override(conn, acct, special, p_trunk)
    return {
        "acct": acct,
        "plain": plain,
        "special": special,
        "p_default": p_default,
        "p_acct": p_acct,
        "p_trunk": p_trunk,
    }


def test_the_calling_trunks_override_wins(conn: Conn, world: dict[str, Any]) -> None:
    acct = world["acct"]
    assert routed(conn, acct, world["special"]) == ["b"]
    assert routed(conn, acct, world["special"], origin="+13035550100") == ["b"]
    assert explained(conn, acct, world["special"]) == (["b"], "special", "trunk")


def test_without_an_override_the_account_partition_applies(conn: Conn, world: dict[str, Any]) -> None:
    acct = world["acct"]
    assert routed(conn, acct, None) == ["a"]  # no trunk given
    assert routed(conn, acct, world["plain"]) == ["a"]  # a trunk of the account without an override
    assert explained(conn, acct, world["plain"]) == (["a"], "acct", "account")
    # the 2- and 3-argument forms keep working and ignore overrides
    assert [
        r[0] for r in conn.execute("SELECT carrier_trunk FROM routing.calculate_lcr(%s, %s)", (DEST, acct))
    ] == ["a"]


def test_override_without_an_account_partition_and_the_default(conn: Conn, world: dict[str, Any]) -> None:
    acct = world["acct"]
    conn.execute("DELETE FROM routing.account_partitions WHERE account_id = %s AND trunk_id IS NULL", (acct,))
    assert routed(conn, acct, world["plain"]) == ["d"]
    assert explained(conn, acct, world["plain"]) == (["d"], "dflt", "default")
    assert routed(conn, acct, world["special"]) == ["b"]


def test_another_accounts_trunk_override_never_applies(conn: Conn, world: dict[str, Any]) -> None:
    other = account(conn, "OTHER")
    theirs = customer_trunk(conn, other, "sbc-x")
    override(conn, other, theirs, world["p_trunk"])
    # ACME's call claiming OTHER's trunk: OTHER's override does not apply, ACME's partition does
    assert routed(conn, world["acct"], theirs) == ["a"]
    assert routed(conn, other, theirs) == ["b"]
    with pytest.raises(InvalidRouting, match=r"trunk: .* belongs to another account"):
        service.lcr(conn, DEST, world["acct"], trunk_id=theirs)


def test_override_to_a_disabled_partition_routes_nowhere(conn: Conn, world: dict[str, Any]) -> None:
    conn.execute("UPDATE routing.partitions SET enabled = false WHERE id = %s", (world["p_trunk"],))
    assert routed(conn, world["acct"], world["special"]) == []
    rows = conn.execute(
        "SELECT rank, excluded, partition_source FROM routing.explain_lcr(%s, %s, NULL, %s::timestamptz, %s)",
        (DEST, world["acct"], AT, world["special"]),
    ).fetchall()
    assert rows == [(None, "routing partition special is disabled", "trunk")]
    assert routed(conn, world["acct"], world["plain"]) == ["a"]  # the account's other trunks still route


def test_service_assigns_overrides_and_explains(conn: Conn, world: dict[str, Any]) -> None:
    acct = world["acct"]
    with tenant.transaction(conn, tenant.STAFF):
        service.assign_partition(conn, account_id=acct, partition="dflt", trunk_id=world["plain"])
        service.assign_partition(
            conn, account_id=acct, partition="acct", trunk_id=world["special"]
        )  # replaces
        decision = service.lcr(conn, DEST, acct, trunk_id=world["plain"], at=None)
        assert (decision.partition, decision.partition_source) == ("dflt", "trunk")
        assert [c.carrier_trunk for c in decision.candidates] == ["d"]
        assert decision.as_dict()["partition_source"] == "trunk"
        assert service.lcr(conn, DEST, acct).partition_source == "account"
        with pytest.raises(TrunkNotFound):
            service.assign_partition(conn, account_id=acct, partition="dflt", trunk_id=UUID(int=7))
    assert routed(conn, acct, world["special"]) == ["a"]
    assert one(conn, "SELECT count(*) FROM routing.account_partitions WHERE account_id = %s", (acct,)) == 3


def test_tenant_sees_its_own_override(conn: Conn, world: dict[str, Any]) -> None:
    acct = world["acct"]
    with tenant.transaction(conn, tenant.Context(account_id=acct)):
        assert routed(conn, acct, world["special"]) == ["b"]
        assert service.lcr(conn, DEST, acct, trunk_id=world["special"]).partition == "special"


def test_cli_assigns_a_trunk_override_and_routes_with_it(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WARP_DATABASE_URL", db_url)
    with psycopg.connect(db_url, autocommit=True) as conn:
        acct = account(conn, "ACME")
        a, b = ctrunk(conn, "a"), ctrunk(conn, "b")
        rate(conn, a, "1", "0.0100")
        rate(conn, b, "1", "0.0200")
        partition(conn, "cheap", [a], default=True)
        partition(conn, "premium", [b])
        customer_trunk(conn, acct, "sbc-1")
    runner = CliRunner()

    def ok(*args: str) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == 0, (args, result.output, result.exception)
        return result.stdout

    out = ok("partitions", "assign", "--account", "ACME", "--partition", "premium", "--trunk", "sbc-1")
    assert "trunk sbc-1 of account ACME now routes through partition premium" in out
    on_trunk = json.loads(ok("lcr", DEST, "--account", "ACME", "--trunk", "sbc-1", "--json"))
    assert [c["carrier_trunk"] for c in on_trunk["candidates"]] == ["b"]
    assert (on_trunk["partition"], on_trunk["partition_source"]) == ("premium", "trunk")
    plain = json.loads(ok("lcr", DEST, "--account", "ACME", "--json"))
    assert [c["carrier_trunk"] for c in plain["candidates"]] == ["a"]
    assert plain["partition_source"] == "default"
    assert "from the trunk" in ok("lcr", DEST, "--account", "ACME", "--trunk", "sbc-1")
    bad = runner.invoke(app, ["lcr", DEST, "--account", "ACME", "--trunk", "nope"])
    # main() turns WarpErrors into a message and exit status; CliRunner sees the exception itself.
    assert bad.exit_code != 0 and "no trunk named 'nope'" in str(bad.exception)


def test_the_switch_routes_with_the_calling_trunks_override(conn: Conn, world: dict[str, Any]) -> None:
    """kamailio.route (what Kamailio asks per INVITE) passes the trunk identify_trunk found."""

    def switch(trunk_id: UUID | None) -> list[str]:
        rows = conn.execute(
            "SELECT carrier_trunk FROM kamailio.route(%s, %s, NULL, 5, %s::uuid)",
            (world["acct"], DEST, trunk_id),
        ).fetchall()
        return [r[0] for r in rows]

    assert switch(world["special"]) == ["b"]
    assert switch(world["plain"]) == ["a"]
    assert switch(None) == ["a"]
