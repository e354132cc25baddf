"""E911 validation and compliance; the porting state machine and atomic completion."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date
from typing import Any

import psycopg
import pytest
from numbers_fixtures import STAFF, tenant_ctx
from psycopg.rows import dict_row

from warp.db import tenant
from warp.numbers import e911, porting, service
from warp.numbers.errors import E911Required, InvalidAddress, InvalidTransition, NumbersNotAvailable

ADDRESS = e911.AddressIn(
    caller_name="Alpha Inc",
    street="1700 Lincoln St",
    unit="Suite 1200",
    city="Denver",
    state_code="co",
    postal_code="80203-1234",
)


def _conn(db_url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(db_url, row_factory=dict_row)


def test_local_validator_names_each_bad_field() -> None:
    bad = e911.AddressIn(
        caller_name="", street="Lincoln St", city="Denver", state_code="XX", postal_code="8020"
    )
    result = e911.LocalValidator().validate(bad)
    assert set(result.errors) == {"caller_name", "street", "state_code", "postal_code"}
    ok = e911.LocalValidator().validate(ADDRESS)
    assert ok.errors == {}
    assert ok.address.state_code == "CO"


def test_voice_needs_address_or_exemption_and_compliance_check(
    db_url: str,
    conn: psycopg.Connection[Any],
    accounts: dict[str, uuid.UUID],
    inventory: Callable[..., list[str]],
) -> None:
    nums = inventory(3)
    alpha, beta = accounts["ALPHA"], accounts["BETA"]
    with _conn(db_url) as c, tenant.transaction(c, tenant_ctx(alpha)):
        with pytest.raises(InvalidAddress) as info:
            e911.create_address(c, alpha, ADDRESS.model_copy(update={"postal_code": "ABCDE"}))
        assert set(info.value.errors) == {"postal_code"}
    with _conn(db_url) as c, tenant.transaction(c, tenant_ctx(alpha)):
        address = e911.create_address(c, alpha, ADDRESS)
        service.order(c, nums[:2])
        service.order(c, nums[2:], e911_address_id=address.id)
    with _conn(db_url) as c, tenant.transaction(c, tenant_ctx(alpha)), pytest.raises(E911Required):
        service.update_did(c, nums[0], {"voice_enabled": True})
    with _conn(db_url) as c, tenant.transaction(c, tenant_ctx(alpha)):
        did = service.update_did(c, nums[0], {"voice_enabled": True, "e911_exempt_reason": "Fax-only line"})
        assert did.voice_enabled and did.e911_exempt
        service.update_did(c, nums[1], {"voice_enabled": True, "e911_address_id": address.id})
    records = conn.execute(
        "SELECT account_id, record_type, status, reason, details->>'number' FROM audit.compliance_records"
    ).fetchall()
    assert records == [(alpha, "E911_EXEMPTION", "EXEMPT", "Fax-only line", nums[0])]
    with _conn(db_url) as c, tenant.transaction(c, STAFF):
        assert e911.check_compliance(c, alpha) == []
    # The address turns out invalid: both DIDs using it become non-compliant; the exempt one does not.
    conn.execute("UPDATE numbers.e911_addresses SET validation_status = 'INVALID'")
    with _conn(db_url) as c, tenant.transaction(c, STAFF):
        issues = e911.check_compliance(c, alpha)
    assert [(i.number, i.reason) for i in issues] == [
        (nums[1], "ADDRESS_INVALID"),
        (nums[2], "ADDRESS_INVALID"),
    ]
    # Another tenant sees none of Alpha's DIDs through the function.
    with _conn(db_url) as c, tenant.transaction(c, tenant_ctx(beta)):
        assert e911.check_compliance(c, alpha) == []
    rows = conn.execute("SELECT number, reason FROM audit.check_e911_compliance(%s)", (alpha,)).fetchall()
    assert rows == [(nums[1], "ADDRESS_INVALID"), (nums[2], "ADDRESS_INVALID")]


def _seal(pin: str) -> str:
    return "secret://port-pins/" + uuid.uuid4().hex


def _new_port(db_url: str, account: uuid.UUID, numbers: list[str]) -> uuid.UUID:
    with _conn(db_url) as c, tenant.transaction(c, tenant_ctx(account)):
        req = porting.create_port_request(
            c,
            account,
            numbers=numbers,
            losing_carrier_name="Old Telco",
            authorized_name="Pat Doe",
            pin="4321",
            seal=_seal,
            losing_carrier_account_number="ACC-77",
        )
    assert req.status == "PENDING" and req.has_pin
    return req.id


def test_porting_state_machine_and_atomic_completion(
    db_url: str,
    conn: psycopg.Connection[Any],
    accounts: dict[str, uuid.UUID],
    inventory: Callable[..., list[str]],
) -> None:
    alpha = accounts["ALPHA"]
    taken = inventory(1, prefix="+1720555")[0]
    rid = _new_port(db_url, alpha, ["+13125550100", "+13125550101"])
    stored = conn.execute("SELECT pin_secret_ref FROM numbers.port_requests WHERE id = %s", (rid,)).fetchone()
    assert stored is not None and "4321" not in stored[0]
    # Illegal jumps are refused even for staff; the customer cannot record the FOC.
    with _conn(db_url) as c, tenant.transaction(c, STAFF), pytest.raises(InvalidTransition):
        porting.transition(c, rid, "foc", foc_date=date(2026, 12, 5))
    with _conn(db_url) as c, tenant.transaction(c, tenant_ctx(alpha)):
        assert porting.transition(c, rid, "submit").status == "SUBMITTED"
    staff_only = pytest.raises(InvalidTransition, match="staff only")
    with _conn(db_url) as c, tenant.transaction(c, tenant_ctx(alpha)), staff_only:
        porting.transition(c, rid, "foc", foc_date=date(2026, 12, 5))
    with _conn(db_url) as c, tenant.transaction(c, STAFF), pytest.raises(InvalidTransition):
        porting.transition(c, rid, "complete")
    with _conn(db_url) as c, tenant.transaction(c, STAFF):
        assert porting.transition(c, rid, "foc", foc_date=date(2026, 12, 5)).foc_date == date(2026, 12, 5)
        done = porting.transition(c, rid, "complete")
    assert done.status == "COMPLETED"
    rows = conn.execute(
        "SELECT d.number, d.account_id, i.status FROM numbers.dids d JOIN numbers.inventory i ON i.id = d.inventory_id "
        "ORDER BY d.number"
    ).fetchall()
    assert rows == [("+13125550100", alpha, "ACTIVE"), ("+13125550101", alpha, "ACTIVE")]
    with _conn(db_url) as c, tenant.transaction(c, tenant_ctx(alpha)), pytest.raises(InvalidTransition):
        porting.transition(c, rid, "cancel")
    # A port containing a number already in service: completion fails and changes nothing.
    conn.execute("UPDATE numbers.inventory SET status = 'ACTIVE' WHERE number = %s", (taken,))
    rid2 = _new_port(db_url, alpha, ["+13125550199", taken])
    with _conn(db_url) as c, tenant.transaction(c, STAFF):
        porting.transition(c, rid2, "submit")
        porting.transition(c, rid2, "foc", foc_date=date(2026, 12, 6))
    with pytest.raises(NumbersNotAvailable), _conn(db_url) as c, tenant.transaction(c, STAFF):
        porting.transition(c, rid2, "complete")
    assert conn.execute("SELECT status FROM numbers.port_requests WHERE id = %s", (rid2,)).fetchone() == (
        "FOC_RECEIVED",
    )
    assert conn.execute(
        "SELECT count(*) FROM numbers.inventory WHERE number = '+13125550199'"
    ).fetchone() == (0,)
    assert conn.execute("SELECT count(*) FROM numbers.dids").fetchone() == (2,)
    with _conn(db_url) as c, tenant.transaction(c, STAFF):
        rej = porting.transition(
            c, rid2, "reject", rejection_code="PIN_MISMATCH", rejection_reason="PIN wrong"
        )
    assert (rej.status, rej.rejection_code) == ("REJECTED", "PIN_MISMATCH")
