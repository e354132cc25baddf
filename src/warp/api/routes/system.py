"""Process and dependency health."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from warp.api.deps import WarpRoute, public, state_of
from warp.api.errors import problem
from warp.db import migrate

router = APIRouter(tags=["health"], route_class=WarpRoute)


@router.get("/health")
def health(_: None = public()) -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/ready", responses={503: {"description": "Database unreachable or migrations pending"}})
def ready(request: Request, _: None = public()) -> JSONResponse:
    """The database answers and every migration is applied."""
    state = state_of(request)
    try:
        with state.pool.connection(timeout=5) as conn:
            conn.execute("SELECT 1")
        states = migrate.status(state.url)
    except Exception:
        return problem(503, "unavailable", "database: not reachable", request=request)
    behind = [f"{s.version:04d}_{s.name} ({s.state})" for s in states if s.state != "applied"]
    if behind:
        return problem(503, "unavailable", f"migrations: not at head: {', '.join(behind)}", request=request)
    reporting = getattr(request.app.state, "reporting", None)
    return JSONResponse(
        {
            "status": "ready",
            "migration": max((s.version for s in states), default=0),
            # where reporting reads go: {"target": "replica" | "primary", "reason": ...}
            "reporting": reporting.describe()
            if reporting is not None
            else {"target": "primary", "reason": "n/a"},
        }
    )
