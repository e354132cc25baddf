"""Every route declares the permission it needs (or that it is public)."""

from __future__ import annotations

import re
from typing import Any

import psycopg
from fastapi.routing import APIRoute

from warp.api.app import create_app
from warp.api.deps import AUTHENTICATED, PUBLIC, WarpRoute, declared_permission
from warp.api.routes import ROUTERS


def declared(dependant: Any) -> list[str]:
    found = []
    for dep in dependant.dependencies:
        permission = declared_permission(dep.call)
        if permission:
            found.append(permission)
        found.extend(declared(dep))
    return found


def registered() -> dict[tuple[str, str], list[str]]:
    """(METHOD, path) -> declared permissions, for every route of every registered router."""
    out: dict[tuple[str, str], list[str]] = {}
    for router in ROUTERS:
        for route in router.routes:
            assert isinstance(route, APIRoute), f"{route} is not an API route"
            for method in route.methods:
                out[(method, route.path)] = declared(route.dependant)
    return out


def test_every_route_declares_exactly_one_permission() -> None:
    routes = registered()
    assert len(routes) > 15
    assert sorted(k for k, v in routes.items() if not v) == [], "routes without a declared permission"
    assert sorted(k for k, v in routes.items() if len(v) > 1) == []


def test_every_route_runs_its_handler_and_commit_in_one_thread_hop() -> None:
    """Routers are built with route_class=WarpRoute, so plain handlers are wrapped (see deps)."""
    others = [
        f"{sorted(route.methods)} {route.path}"
        for router in ROUTERS
        for route in router.routes
        if not isinstance(route, WarpRoute)
    ]
    assert others == [], "build the router with APIRouter(..., route_class=WarpRoute)"


def test_every_served_operation_comes_from_the_registry() -> None:
    """A router included some other way would escape the check above: the served API must match."""
    schema = create_app("postgresql://unused/none").openapi()
    served = {(m.upper(), p) for p, ops in schema["paths"].items() for m in ops}
    assert served == set(registered())


def test_only_health_ready_and_login_are_public() -> None:
    public = sorted(path for (_, path), perms in registered().items() if PUBLIC in perms)
    # Accepting an invitation authenticates by its one-time token (tests/auth/test_user_invites.py).
    assert public == ["/health", "/ready", "/v1/auth/invite/accept", "/v1/auth/login"]


def test_declared_permissions_exist_in_the_seed(seeded_url: str) -> None:
    with psycopg.connect(seeded_url) as conn:
        codes = {r[0] for r in conn.execute("SELECT code FROM auth.permissions")}
    used = {p for perms in registered().values() for p in perms}
    assert used - codes - {PUBLIC, AUTHENTICATED} == set()


def test_no_route_is_shadowed_by_an_earlier_one() -> None:
    """Routes are tried in registry order: each route's own paths must reach it first (so the
    registry can be ordered by traffic without changing which handler serves a path)."""
    ordered = [route for router in ROUTERS for route in router.routes if isinstance(route, APIRoute)]
    shadowed = []
    for route in ordered:
        sample = re.sub(r"\{[^}]+\}", "x1", route.path)
        for method in route.methods:
            first = next(r for r in ordered if method in r.methods and r.path_regex.match(sample))
            if first is not route:
                shadowed.append(f"{method} {route.path} is served by {first.path}")
    assert shadowed == []
