"""The route registry: every router the API serves. A domain adds its router here."""

from __future__ import annotations

from fastapi import APIRouter

from warp.api.routes import (
    accounts,
    api_keys,
    auth,
    billing,
    cdrs,
    compliance,
    me,
    messages,
    numbers,
    reports,
    routing,
    system,
    tendlc,
    users,
    vendor_callbacks,
    vendors,
)

# Served in this order, and FastAPI tries routes one by one: the busiest first (the switch- and
# customer-facing hot paths), routers with a prefix before the ones without (numbers, routing,
# billing, vendors, system hold many prefix-less paths each). Order never changes which handler
# serves a path: tests/api/test_routes.py fails for a route shadowed by an earlier one.
ROUTERS: list[APIRouter] = [
    messages.router,
    me.router,
    vendor_callbacks.router,
    auth.router,
    cdrs.router,
    tendlc.router,
    accounts.router,
    users.router,
    api_keys.router,
    reports.router,
    compliance.router,
    numbers.router,
    routing.router,
    billing.router,
    vendors.router,
    system.router,
]
