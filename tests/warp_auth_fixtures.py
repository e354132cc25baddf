"""Shared fixtures for auth and API tests: a seeded database, two tenants, keys, users, a client."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg.rows import dict_row

from warp.api.app import create_app
from warp.auth import api_keys, users
from warp.auth.policy import AuthPolicy
from warp.db import tenant
from warp.db.seed import seed

STAFF = tenant.Context(staff=True, actor_type="STAFF")
PASSWORD = "correct horse battery staple"
TEST_POLICY = AuthPolicy(secret_key="test-secret-key", max_failed_logins=3, lockout_seconds=600)


@dataclass
class World:
    url: str
    acme: uuid.UUID  # reseller
    acme_child: uuid.UUID
    globex: uuid.UUID

    def staff(self) -> Any:
        return _StaffTx(self.url)

    def key(self, account: uuid.UUID, scopes: list[str] | None = None, **kw: Any) -> str:
        with self.staff() as conn:
            _, clear = api_keys.create_api_key(conn, account_id=account, scopes=scopes, **kw)
        return clear

    def key_last_used(self, prefix: str) -> Any:
        """``last_used_at`` of the API key with ``prefix``, read outside any request."""
        with psycopg.connect(self.url) as conn:
            row = conn.execute(
                "SELECT last_used_at FROM auth.api_keys WHERE key_prefix = %s", (prefix,)
            ).fetchone()
        assert row is not None
        return row[0]

    def user(
        self, account: uuid.UUID | None, email: str, role: str = "account_admin", **kw: Any
    ) -> uuid.UUID:
        with self.staff() as conn:
            user = users.create_user(
                conn,
                email=email,
                role=role,
                account_id=account,
                password=kw.pop("password", PASSWORD),
                staff=account is None,
                **kw,
            )
        return user.id


class _StaffTx:
    def __init__(self, url: str) -> None:
        self.url = url

    def __enter__(self) -> psycopg.Connection[Any]:
        self.conn = psycopg.connect(self.url, row_factory=dict_row)
        self.tx = tenant.transaction(self.conn, STAFF)
        return self.tx.__enter__()

    def __exit__(self, *exc: Any) -> None:
        try:
            self.tx.__exit__(*exc)
        finally:
            self.conn.close()


@pytest.fixture
def seeded_url(db_url: str) -> str:
    seed(db_url)
    return db_url


@pytest.fixture
def world(seeded_url: str) -> World:
    with psycopg.connect(seeded_url, row_factory=dict_row, autocommit=True) as conn:
        ids = {}
        for ban, kind in (("ACME", "RESELLER"), ("ACME-KID", "CUSTOMER"), ("GLOBEX", "CUSTOMER")):
            row = conn.execute(
                "INSERT INTO accounts.accounts (ban, name, account_type) VALUES (%s, %s, %s) RETURNING id",
                (ban, f"{ban} Inc", kind),
            ).fetchone()
            assert row is not None
            ids[ban] = row["id"]
        conn.execute(
            "INSERT INTO accounts.account_hierarchy (parent_account_id, child_account_id) VALUES (%s, %s)",
            (ids["ACME"], ids["ACME-KID"]),
        )
    return World(url=seeded_url, acme=ids["ACME"], acme_child=ids["ACME-KID"], globex=ids["GLOBEX"])


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    app = create_app(world.url, policy=TEST_POLICY, pool_size=4)
    with TestClient(app, client=("198.51.100.7", 40000)) as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
