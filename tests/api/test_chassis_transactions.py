"""A plain handler and its transaction's end run together: committed before the response, or rolled back."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient

from warp.api.app import create_app
from warp.api.deps import AUTHENTICATED, Admitted, Tx, WarpRoute, admit, require
from warp.errors import WarpError
from warp_auth_fixtures import TEST_POLICY, World


class Refused(WarpError):
    code = "refused-on-purpose"
    http_status = 409


def _rename(tx: Tx, name: str) -> None:
    tx.conn.execute(
        "UPDATE accounts.accounts SET legal_name = %s WHERE id = %s", (name, tx.principal.account_id)
    )


@pytest.fixture
def app_client(world: World) -> Iterator[TestClient]:
    probe = APIRouter(prefix="/probe", route_class=WarpRoute)

    @probe.post("/commit")
    def commit(tx: Tx = require(AUTHENTICATED)) -> dict[str, str]:
        _rename(tx, "Committed Ltd")
        return {"ok": "yes"}

    @probe.post("/fail")
    def fail(tx: Tx = require(AUTHENTICATED)) -> dict[str, str]:
        _rename(tx, "Never Ltd")
        raise Refused("probe: refused after writing")

    @probe.post("/crash")
    def crash(tx: Tx = require(AUTHENTICATED)) -> dict[str, str]:
        _rename(tx, "Crashed Ltd")
        raise RuntimeError("unexpected")

    @probe.post("/commit-fails")
    def commit_fails(tx: Tx = require(AUTHENTICATED)) -> dict[str, str]:
        _rename(tx, "Deferred Ltd")
        # a deferred foreign key: the handler returns normally, its COMMIT fails
        tx.conn.execute("CREATE TEMP TABLE probe_p (id int PRIMARY KEY) ON COMMIT DROP")
        tx.conn.execute(
            "CREATE TEMP TABLE probe_c (pid int REFERENCES probe_p DEFERRABLE INITIALLY DEFERRED) ON COMMIT DROP"
        )
        tx.conn.execute("INSERT INTO probe_c VALUES (1)")
        return {"ok": "yes"}

    app = create_app(world.url, policy=TEST_POLICY, pool_size=4)
    app.include_router(probe)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def _legal_name(world: World) -> str | None:
    with psycopg.connect(world.url) as conn:
        row = conn.execute("SELECT legal_name FROM accounts.accounts WHERE id = %s", (world.acme,)).fetchone()
    assert row is not None
    return row[0]


def test_write_is_committed_when_the_response_arrives(app_client: TestClient, world: World) -> None:
    key = world.key(world.acme)
    r = app_client.post("/probe/commit", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200, r.text
    assert _legal_name(world) == "Committed Ltd"


@pytest.mark.parametrize(("path", "status"), [("/probe/fail", 409), ("/probe/crash", 500)])
def test_write_is_rolled_back_when_the_handler_raises(
    app_client: TestClient, world: World, path: str, status: int
) -> None:
    key = world.key(world.acme)
    before = _legal_name(world)
    r = app_client.post(path, headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert _legal_name(world) == before
    # the pooled connection came back clean: the next request works and commits
    r = app_client.post("/probe/commit", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200 and _legal_name(world) == "Committed Ltd"


def test_a_failed_commit_is_an_error_response_and_nothing_is_kept(
    app_client: TestClient, world: World
) -> None:
    key = world.key(world.acme)
    before = _legal_name(world)
    r = app_client.post("/probe/commit-fails", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 422, r.text  # the foreign-key error of the COMMIT, not the handler's 200
    assert r.json()["type"] == "urn:warp:problem:invalid-reference"
    assert _legal_name(world) == before
    r = app_client.post("/probe/commit", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200 and _legal_name(world) == "Committed Ltd"


@pytest.fixture
def admit_client(world: World) -> Iterator[TestClient]:
    probe = APIRouter(prefix="/probe", route_class=WarpRoute)

    @probe.get("/admitted")
    async def admitted(who: Admitted = admit("numbers:read")) -> dict[str, str | bool | None]:
        return {
            "account": str(who.principal.account_id),
            "needs_touch": who.principal.needs_touch,
            "request_id": who.request_id,
        }

    app = create_app(world.url, policy=TEST_POLICY, pool_size=4, request_log=False)
    app.include_router(probe)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def test_admit_authenticates_counts_and_checks_without_a_transaction(
    admit_client: TestClient, world: World
) -> None:
    key = world.key(world.acme, scopes=["numbers:read"])
    prefix = key.split("_")[1]
    assert world.key_last_used(prefix) is None
    # first use: looked up in the database in its own short transaction, which records the use
    r = admit_client.get(
        "/probe/admitted", headers={"Authorization": f"Bearer {key}", "X-Request-ID": "rid-1"}
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"account": str(world.acme), "needs_touch": False, "request_id": "rid-1"}
    assert world.key_last_used(prefix) is not None
    remaining = [int(r.headers["ratelimit-remaining"])]
    # from the key cache: same principal, each request counted, nothing left open
    for _ in range(6):
        r = admit_client.get("/probe/admitted", headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 200 and r.json()["account"] == str(world.acme)
        remaining.append(int(r.headers["ratelimit-remaining"]))
    assert remaining == sorted(remaining, reverse=True) and remaining[-1] < remaining[0]
    # every pooled connection is back (the look-up's transaction ended; cached requests took none);
    # the request log is off in this app, so nothing else uses the pool
    stats = admit_client.app.state.warp.pool.get_stats()  # type: ignore[attr-defined]
    assert stats["pool_available"] == stats["pool_size"], stats


def test_admit_refuses_like_require(admit_client: TestClient, world: World) -> None:
    assert admit_client.get("/probe/admitted").status_code == 401
    bad = admit_client.get("/probe/admitted", headers={"Authorization": "Bearer warp_nope_nope"})
    assert bad.status_code == 401
    other = world.key(world.acme, scopes=["messaging:read"])
    for _ in range(2):  # uncached, then cached: both refused
        r = admit_client.get("/probe/admitted", headers={"Authorization": f"Bearer {other}"})
        assert r.status_code == 403, r.text
        assert "numbers:read" in r.json()["detail"]
