"""10DLC lifecycles and API (tenant-isolated), and SMPP credential validation."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient
from messaging_helpers import add_number, build, send

from warp.messaging import smpp, tendlc
from warp.messaging.errors import InvalidCredential, InvalidTransition
from warp_auth_fixtures import World, bearer

BRAND = {"legal_name": "Acme Corp", "entity_type": "PRIVATE_PROFIT", "website": "https://acme.example"}


def campaign_body(brand_id: str) -> dict[str, object]:
    return {
        "brand_id": brand_id,
        "name": "Reminders",
        "use_case": "ACCOUNT_NOTIFICATION",
        "description": "Appointment reminders",
        "sample_messages": ["Your visit is tomorrow."],
        "opt_out_message": "Bye.",
    }


def test_brand_campaign_numbers_lifecycle(client: TestClient, world: World) -> None:
    m = build(world)
    h = bearer(m.acme_key)
    brand = client.post("/v1/10dlc/brands", json=BRAND, headers=h)
    assert brand.status_code == 201, brand.text
    b = brand.json()
    assert b["status"] == "PENDING" and b["external_ref"]
    r = client.post("/v1/10dlc/campaigns", json=campaign_body(b["id"]), headers=h)
    assert (r.status_code, r.json()["type"]) == (422, "urn:warp:problem:invalid-10dlc")
    with world.staff() as conn:
        tendlc.set_brand_status(conn, uuid.UUID(b["id"]), "VERIFIED")
    c = client.post("/v1/10dlc/campaigns", json=campaign_body(b["id"]), headers=h).json()
    assert c["status"] == "PENDING"
    with world.staff() as conn:
        add_number(conn, world.acme, "+13035550177")
    r = client.post(
        f"/v1/10dlc/campaigns/{c['id']}/numbers",
        json={"numbers": ["+13035550177", m.acme_tollfree, m.globex_local]},
        headers=h,
    )
    assert r.status_code == 422
    assert m.acme_tollfree in r.json()["detail"] and m.globex_local in r.json()["detail"]
    r = client.post(f"/v1/10dlc/campaigns/{c['id']}/numbers", json={"numbers": ["+13035550177"]}, headers=h)
    assert r.status_code == 200 and r.json()["numbers"] == ["+13035550177"]
    assert (
        send(client, m.acme_key, "+13035550177", "+17205550123")
        .json()["type"]
        .endswith("campaign-not-approved")
    )
    with world.staff() as conn:
        tendlc.set_campaign_status(conn, uuid.UUID(c["id"]), "APPROVED")
    assert send(client, m.acme_key, "+13035550177", "+17205550123").status_code == 202
    with world.staff() as conn:
        tendlc.set_campaign_status(conn, uuid.UUID(c["id"]), "SUSPENDED")
        with pytest.raises(InvalidTransition):
            tendlc.set_brand_status(conn, uuid.UUID(b["id"]), "PENDING")
    assert send(client, m.acme_key, "+13035550177", "+17205550123").status_code == 422
    # isolation: another tenant sees none of it and cannot touch the campaign
    g = bearer(m.globex_key)
    assert b["id"] not in [x["id"] for x in client.get("/v1/10dlc/brands", headers=g).json()["data"]]
    assert c["id"] not in [x["id"] for x in client.get("/v1/10dlc/campaigns", headers=g).json()["data"]]
    r = client.post(f"/v1/10dlc/campaigns/{c['id']}/numbers", json={"numbers": [m.globex_local]}, headers=g)
    assert r.status_code == 404
    assert c["id"] in [x["id"] for x in client.get("/v1/10dlc/campaigns", headers=h).json()["data"]]


def test_campaign_transitions() -> None:
    assert tendlc.CAMPAIGN_TRANSITIONS["PENDING"] == {"APPROVED", "REJECTED", "SUSPENDED"}
    assert tendlc.CAMPAIGN_TRANSITIONS["REJECTED"] == set()
    assert tendlc.BRAND_TRANSITIONS["PENDING"] == {"VERIFIED", "UNVERIFIED", "VETTED_VERIFIED"}


def test_smpp_credentials(world: World) -> None:
    with world.staff() as conn:
        cred = smpp.create_smpp_credential(
            conn,
            account_id=world.acme,
            system_id="acme01",
            password="pw123456",
            allowed_ips=["192.0.2.0/28", "198.51.100.7"],
        )
        assert cred.allowed_ips == ["192.0.2.0/28", "198.51.100.7"]
        stored = conn.execute("SELECT password_hash FROM messaging.customer_sms_auth").fetchone()[
            "password_hash"
        ]
        assert stored.startswith("$2") and "pw123456" not in stored
        assert smpp.authenticate_bind(conn, "acme01", "pw123456", "192.0.2.5") == world.acme
        assert smpp.authenticate_bind(conn, "acme01", "pw123456", "203.0.113.1") is None
        assert smpp.authenticate_bind(conn, "acme01", "wrong", "192.0.2.5") is None
        with pytest.raises(InvalidCredential, match="already in use"):
            smpp.create_smpp_credential(
                conn, account_id=world.globex, system_id="acme01", password="x", allowed_ips=["192.0.2.1"]
            )
    for kw, needle in [
        ({"system_id": "x" * 16}, "system_id"),
        ({"password": "123456789"}, "password"),
        ({"allowed_ips": []}, "allowed_ips"),
        ({"allowed_ips": ["192.0.2.1/24"]}, "host bits"),
        ({"allowed_ips": ["not-an-ip"]}, "not-an-ip"),
    ]:
        args = {"system_id": "ok", "password": "pw", "allowed_ips": ["192.0.2.1"], **kw}
        with world.staff() as conn, pytest.raises(InvalidCredential, match=needle):
            smpp.create_smpp_credential(conn, account_id=world.acme, **args)  # type: ignore[arg-type]


def test_vendor_connector_validation() -> None:
    good = {"host": "smpp.vendor.example", "port": 2775, "system_id": "warp", "password_ref": "env:SMPP_PW"}
    assert smpp.validate_connector(good) == []
    bad = smpp.validate_connector({**good, "password_ref": "hunter2", "port": 0, "bind_type": "X"})
    assert len(bad) == 3 and any("password_ref" in p for p in bad)
