"""How many requests of one API process hold a transaction at once (WARP_API_DB_SLOTS, ADR 0007)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from warp.api.app import create_app
from warp.errors import ConfigError
from warp_auth_fixtures import TEST_POLICY


def _slots(client: TestClient) -> float:
    return float(client.app.state.warp.db_slots.value)  # type: ignore[attr-defined]


def test_default_is_one_slot_per_process(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WARP_API_DB_SLOTS", raising=False)
    with TestClient(create_app(db_url, policy=TEST_POLICY, request_log=False)) as client:
        assert _slots(client) == 1
        assert client.get("/ready").status_code == 200


def test_slots_from_the_environment_and_the_argument(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARP_API_DB_SLOTS", "3")
    with TestClient(create_app(db_url, policy=TEST_POLICY, request_log=False)) as client:
        assert _slots(client) == 3
    with TestClient(create_app(db_url, policy=TEST_POLICY, request_log=False, db_slots=2)) as client:
        assert _slots(client) == 2


@pytest.mark.parametrize(
    ("raw", "message"), [("many", "not a whole number"), ("0", "between 1"), ("10", "between 1")]
)
def test_bad_slot_settings_are_refused_with_the_setting_named(
    monkeypatch: pytest.MonkeyPatch, raw: str, message: str
) -> None:
    monkeypatch.setenv("WARP_API_DB_SLOTS", raw)
    with pytest.raises(ConfigError, match=f"WARP_API_DB_SLOTS.*{message}"):
        create_app("postgresql://unused", policy=TEST_POLICY)


def test_warp_serve_refuses_bad_slots_before_starting_workers(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from warp.cli.main import app

    monkeypatch.setenv("WARP_DATABASE_URL", db_url)
    monkeypatch.setenv("WARP_API_DB_SLOTS", "lots")
    result = CliRunner().invoke(app, ["serve", "--port", "1"])
    assert result.exit_code != 0
    assert "WARP_API_DB_SLOTS" in str(result.exception) or "WARP_API_DB_SLOTS" in result.output
    result = CliRunner().invoke(app, ["serve", "--port", "1", "--db-slots", "-3"])
    assert result.exit_code != 0
    assert "must be between 1 and 9" in str(result.exception) + result.output
