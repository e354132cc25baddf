"""`warp numbers e911-check [--json]`, `port` and `maintain`."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from numbers_fixtures import tenant_ctx
from psycopg.rows import dict_row
from typer.testing import CliRunner

from warp.cli.main import app
from warp.db import tenant
from warp.numbers import porting, service
from warp.numbers.errors import InvalidPortRequest, InvalidTransition, NumbersError


@pytest.fixture
def runner(db_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("WARP_DATABASE_URL", db_url)
    return CliRunner()


def _address(conn: psycopg.Connection[Any], account: uuid.UUID, status: str) -> uuid.UUID:
    row = conn.execute(
        "INSERT INTO numbers.e911_addresses (account_id, caller_name, street, city, state_code, postal_code, "
        "validation_status) VALUES (%s, 'X', '1 Main St', 'Denver', 'CO', '80203', %s) RETURNING id",
        (account, status),
    ).fetchone()
    assert row is not None
    return uuid.UUID(str(row[0]))


def test_e911_check_text_json_and_account_filter(
    runner: CliRunner,
    db_url: str,
    conn: psycopg.Connection[Any],
    accounts: dict[str, uuid.UUID],
    inventory: Callable[..., list[str]],
) -> None:
    alpha, beta = accounts["ALPHA"], accounts["BETA"]
    nums = inventory(4)
    result = runner.invoke(app, ["numbers", "e911-check"])
    assert result.exit_code == 0 and "all voice-enabled DIDs" in result.stdout
    good, pending = _address(conn, alpha, "VALID"), _address(conn, beta, "PENDING")
    with psycopg.connect(db_url, row_factory=dict_row) as c:
        with tenant.transaction(c, tenant_ctx(alpha)):
            service.order(c, nums[:1], e911_address_id=good)
            service.order(c, nums[1:2])  # not voice-enabled: compliant
        with tenant.transaction(c, tenant_ctx(beta)):
            service.order(c, nums[2:4], e911_address_id=pending)
    conn.execute("UPDATE numbers.e911_addresses SET validation_status = 'INVALID' WHERE id = %s", (good,))

    result = runner.invoke(app, ["numbers", "e911-check", "--json"])
    assert result.exit_code == 1
    assert [(i["ban"], i["number"], i["reason"]) for i in json.loads(result.stdout)] == [
        ("ALPHA", nums[0], "ADDRESS_INVALID"),
        ("BETA", nums[2], "ADDRESS_NOT_VALIDATED"),
        ("BETA", nums[3], "ADDRESS_NOT_VALIDATED"),
    ]
    result = runner.invoke(app, ["numbers", "e911-check", "--account", "ALPHA", "--json"])
    assert result.exit_code == 1
    assert [i["number"] for i in json.loads(result.stdout)] == [nums[0]]
    result = runner.invoke(app, ["numbers", "e911-check", "--account", "BETA"])
    assert result.exit_code == 1
    assert (
        nums[2] in result.stdout and "ADDRESS_NOT_VALIDATED" in result.stdout and nums[0] not in result.stdout
    )
    result = runner.invoke(app, ["numbers", "e911-check", "--account", "NOPE"])
    assert isinstance(result.exception, NumbersError) and "NOPE" in str(result.exception)


def test_port_command_moves_a_request_through_the_staff_steps(
    runner: CliRunner, db_url: str, conn: psycopg.Connection[Any], accounts: dict[str, uuid.UUID]
) -> None:
    alpha = accounts["ALPHA"]
    with psycopg.connect(db_url, row_factory=dict_row) as c, tenant.transaction(c, tenant_ctx(alpha)):
        req = porting.create_port_request(
            c,
            alpha,
            numbers=["+13125550100"],
            losing_carrier_name="Old Telco",
            authorized_name="Pat Doe",
            seal=lambda pin: "secret://x",
        )
    rid = str(req.id)
    result = runner.invoke(app, ["numbers", "port", rid, "foc", "--foc-date", "2026-12-05"])
    assert isinstance(result.exception, InvalidTransition)  # PENDING cannot jump to FOC
    result = runner.invoke(app, ["numbers", "port", rid, "submit", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["status"] == "SUBMITTED"
    result = runner.invoke(app, ["numbers", "port", rid, "foc"])
    assert isinstance(result.exception, InvalidPortRequest) and "foc_date" in str(result.exception)
    result = runner.invoke(app, ["numbers", "port", rid, "foc", "--foc-date", "12/05/2026"])
    assert isinstance(result.exception, NumbersError) and "--foc-date" in str(result.exception)
    result = runner.invoke(app, ["numbers", "port", rid, "foc", "--foc-date", "2026-12-05", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["foc_date"] == "2026-12-05"
    result = runner.invoke(app, ["numbers", "port", rid, "complete"])
    assert result.exit_code == 0 and "COMPLETED" in result.stdout and "1 numbers" in result.stdout
    did = conn.execute("SELECT account_id FROM numbers.dids WHERE number = '+13125550100'").fetchone()
    assert did == (alpha,)
    result = runner.invoke(app, ["numbers", "port", rid, "reject", "--code", "6P"])
    assert isinstance(result.exception, InvalidTransition)
    result = runner.invoke(app, ["numbers", "port", rid, "teleport"])
    assert isinstance(result.exception, InvalidPortRequest)


def test_maintain_frees_expired_reservations_and_aged_numbers(
    runner: CliRunner,
    conn: psycopg.Connection[Any],
    accounts: dict[str, uuid.UUID],
    inventory: Callable[..., list[str]],
) -> None:
    nums = inventory(4)
    alpha = accounts["ALPHA"]
    conn.execute(
        "UPDATE numbers.inventory SET status = 'RESERVED', reserved_by_account_id = %s, reserved_at = now(), "
        "reservation_expires_at = CASE WHEN number = %s THEN now() - interval '1 minute' "
        "ELSE now() + interval '10 minutes' END WHERE number = ANY (%s)",
        (alpha, nums[0], nums[:2]),
    )
    conn.execute("UPDATE numbers.inventory SET status = 'ACTIVE' WHERE number = ANY (%s)", (nums[2:],))
    conn.execute(
        "UPDATE numbers.inventory SET status = 'AGING', aging_expires_at = CASE WHEN number = %s "
        "THEN now() - interval '1 day' ELSE now() + interval '1 day' END WHERE number = ANY (%s)",
        (nums[2], nums[2:]),
    )
    result = runner.invoke(app, ["numbers", "maintain"])
    assert result.exit_code == 0, result.output
    assert "expired reservations freed: 1; aged numbers recycled: 1" in " ".join(result.stdout.split())
    rows = dict(conn.execute("SELECT number, status FROM numbers.inventory ORDER BY number").fetchall())
    assert rows == {nums[0]: "AVAILABLE", nums[1]: "RESERVED", nums[2]: "AVAILABLE", nums[3]: "AGING"}
    result = runner.invoke(app, ["numbers", "maintain"])
    assert "expired reservations freed: 0; aged numbers recycled: 0" in " ".join(result.stdout.split())
