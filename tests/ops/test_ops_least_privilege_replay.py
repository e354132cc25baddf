"""The API test modules of several domains, replayed with the API logging in as the least-privileged
API/worker login of docs/operations.md ("Roles and logins"; see test_ops_least_privilege.py).

Every test of theirs that goes through the API (asks for the ``client`` fixture, which this module
overrides) and needs no fixture but the shared ones runs again; their set-up writes stay superuser
writes, every request runs as the login (member of warp_app and warp_staff, no superuser, no BYPASSRLS).
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator

import pytest
from _pytest.fixtures import FixtureFunctionDefinition
from fastapi.testclient import TestClient
from test_ops_least_privilege import APP_ROLE_SQL, _login_role

import sibling_modules
from warp.api.app import create_app
from warp_auth_fixtures import TEST_POLICY, World

REPLAY = (
    ("api", "test_tenancy_api"),
    ("api", "test_me"),
    ("auth", "test_sessions"),
    ("auth", "test_api_keys"),
    ("auth", "test_user_invites"),
    ("messaging", "test_send"),
    ("numbers", "test_numbers_api"),
    ("cdr", "test_cdr_api"),
    ("billing", "test_api"),
    ("reporting", "test_reports_api"),
)
AVAILABLE_FIXTURES = {"client", "world", "seeded_url", "db_url", "monkeypatch", "tmp_path"}
REPLAYED: list[str] = []
for _directory, _module_name in REPLAY:
    _module = sibling_modules.load(_directory, _module_name, "least_privilege")
    # the module's own fixtures (messaging's `m`, numbers' `loaded`) come along
    _available = set(AVAILABLE_FIXTURES)
    for _name, _value in vars(_module).items():
        if isinstance(_value, FixtureFunctionDefinition) and _name not in globals():
            globals()[_name] = _value
            _available.add(_name)
    for _name, _test in sorted(vars(_module).items()):
        if not (_name.startswith("test_") and callable(_test)):
            continue
        _params = set(inspect.signature(_test).parameters)
        if "client" in _params and _params <= _available:
            globals()[f"{_name}_least_privilege"] = _test
            REPLAYED.append(f"{_module_name}.{_name}")


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    """The API logging in as the API/worker login (overrides the superuser client)."""
    for url in _login_role(world.url, APP_ROLE_SQL):
        app = create_app(url, policy=TEST_POLICY, pool_size=4)
        with TestClient(app, client=("198.51.100.7", 40000)) as c:
            yield c


def test_the_api_tests_are_replayed_as_the_least_privileged_login(client: TestClient) -> None:
    """Guards the collection above: a refactor that silently stopped replaying them would fail here."""
    assert "user=warp_lp_" in client.app.state.warp.url  # type: ignore[attr-defined]
    by_module = {m: sum(1 for r in REPLAYED if r.startswith(f"{m}.")) for _, m in REPLAY}
    assert all(by_module.values()), by_module
