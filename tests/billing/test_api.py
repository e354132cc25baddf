"""Billing API: tenant isolation, PDF (text holds the totals) and CSV, staff payments with Idempotency-Key,
the customer's own rate plan."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal
from typing import Any

import psycopg
from billing_helpers import STAFF, cdrs, did
from fastapi.testclient import TestClient
from pypdf import PdfReader

from warp.billing import invoices
from warp.db import tenant
from warp_auth_fixtures import World, bearer, client, world  # noqa: F401


def _staff(client: TestClient, w: World) -> dict[str, str]:  # noqa: F811
    w.user(None, "ops@warp.example", role="staff_admin")
    r = client.post(
        "/v1/auth/login", json={"email": "ops@warp.example", "password": "correct horse battery staple"}
    )
    assert r.status_code == 200, r.text
    return bearer(r.json()["token"])


def _invoice(w: World) -> str:
    with psycopg.connect(w.url, autocommit=True) as conn:
        conn.execute("UPDATE accounts.accounts SET billing_state = 'NY' WHERE id = %s", (w.globex,))
        cdrs(conn, w.globex, n=40, charge=Decimal("0.5"), jurisdiction="INTERSTATE")
        did(conn, w.globex, "+12125550177", activated="2026-10-01T00:00:00Z", monthly=Decimal("1.25"))
        with tenant.transaction(conn, STAFF):
            invoices.run(
                conn,
                period_start=date(2026, 11, 1),
                period_end=date(2026, 11, 30),
                account_id=w.globex,
                issue=True,
                issue_date=date(2026, 12, 1),
            )
        row = conn.execute("SELECT id FROM billing.invoices WHERE account_id = %s", (w.globex,)).fetchone()
        assert row is not None
        return str(row[0])


def test_invoices_are_tenant_isolated_and_render(client: TestClient, world: World) -> None:  # noqa: F811
    inv = _invoice(world)
    globex = bearer(world.key(world.globex, scopes=["billing:read"]))
    acme = bearer(world.key(world.acme, scopes=["billing:read"]))

    listed = client.get("/v1/invoices", headers=globex)
    assert listed.status_code == 200, listed.text
    assert [i["id"] for i in listed.json()["data"]] == [inv]
    assert client.get("/v1/invoices", headers=acme).json()["data"] == []
    for suffix in ("", ".pdf", ".csv"):
        assert client.get(f"/v1/invoices/{inv}{suffix}", headers=acme).status_code == 404

    detail = client.get(f"/v1/invoices/{inv}", headers=globex).json()
    # 20.00 voice + 1.25 DID; USF 34.5% of 20 = 6.90, regulatory 0.08, NY sales 4% of 1.25 = 0.05, NY E911 0.35
    assert detail["subtotal"] == "21.25" and detail["tax_total"] == "7.38" and detail["total"] == "28.63"
    assert sum(Decimal(i["amount"]) for i in detail["items"]) == Decimal(detail["total"])

    pdf = client.get(f"/v1/invoices/{inv}.pdf", headers=globex)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    for needle in (
        "$28.63",
        "$21.25",
        "$7.38",
        detail["invoice_number"],
        "GLOBEX",
        "Federal Universal Service Fund",
        "How to pay",
    ):
        assert needle in text, needle
    csv_text = client.get(f"/v1/invoices/{inv}.csv", headers=globex).text
    assert "TOTAL" in csv_text and "28.63" in csv_text


def test_payments_are_staff_only_and_idempotent(client: TestClient, world: World) -> None:  # noqa: F811
    inv = _invoice(world)
    staff = _staff(client, world)
    customer = bearer(world.key(world.globex, scopes=["billing:read"]))
    body = {
        "account_id": str(world.globex),
        "amount": "10.00",
        "method": "ACH",
        "external_reference": "ach-77",
    }
    assert client.post("/v1/payments", json=body, headers=customer).status_code == 403
    key = {**staff, "Idempotency-Key": "pay-77"}
    first = client.post("/v1/payments", json=body, headers=key)
    assert first.status_code == 201, first.text
    assert first.json()["applied"] == [{"invoice_id": inv, "amount": "10.00"}]
    again = client.post("/v1/payments", json=body, headers=key)
    assert again.status_code == 201 and again.json() == first.json()
    detail = client.get(f"/v1/invoices/{inv}", headers=customer).json()
    assert detail["status"] == "PARTIALLY_PAID" and detail["paid_amount"] == "10.00"
    with psycopg.connect(world.url) as conn:
        assert conn.execute("SELECT count(*) FROM billing.payments").fetchone() == (1,)
        assert conn.execute("SELECT * FROM billing.check_ledger()").fetchall() == []
    # a payment of another tenant is not found for this customer
    acme = bearer(world.key(world.acme, scopes=["billing:read"]))
    assert client.get(f"/v1/payments/{first.json()['id']}", headers=acme).status_code == 404
    assert client.get(f"/v1/payments/{first.json()['id']}", headers=customer).status_code == 200


def test_current_rate_plan_shows_own_prices(client: TestClient, world: World) -> None:  # noqa: F811
    with psycopg.connect(world.url, autocommit=True) as conn:
        for name, acct, rate in (
            ("GLOBEX-PLAN", world.globex, "0.0100"),
            ("ACME-PLAN", world.acme, "0.0200"),
        ):
            row = conn.execute(
                "INSERT INTO billing.rate_plans (name) VALUES (%s) RETURNING id", (name,)
            ).fetchone()
            assert row is not None
            conn.execute(
                "INSERT INTO billing.voice_rates (rate_plan_id, prefix, rate, effective_date) "
                "VALUES (%s, '1', %s, '2026-01-01')",
                (row[0], rate),
            )
            conn.execute(
                "INSERT INTO billing.account_rate_plans (account_id, rate_plan_id, effective_at) "
                "VALUES (%s, %s, '2026-01-01')",
                (acct, row[0]),
            )
    globex = bearer(world.key(world.globex, scopes=["billing:read"]))
    r = client.get("/v1/rate-plans/current", headers=globex)
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "GLOBEX-PLAN"
    assert [v["rate"] for v in r.json()["voice_rates"]] == ["0.010000"]
    kid = bearer(world.key(world.acme_child, scopes=["billing:read"]))
    assert client.get("/v1/rate-plans/current", headers=kid).status_code == 404
    data: Any = client.get("/v1/balance", headers=globex).json()
    assert "balance" in data
