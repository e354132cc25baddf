"""The API process answers."""

from __future__ import annotations

from fastapi.testclient import TestClient

from warp.api.app import create_app


def test_health_answers_and_pool_reaches_database(db_url: str) -> None:
    app = create_app(db_url)
    with TestClient(app) as client:
        response = client.get("/health")
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}
        with app.state.pool.connection() as conn:
            assert conn.execute("SELECT 1 AS one").fetchone() == {"one": 1}
