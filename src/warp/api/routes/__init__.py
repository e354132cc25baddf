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

ROUTERS: list[APIRouter] = [
    system.router,
    auth.router,
    me.router,
    accounts.router,
    users.router,
    api_keys.router,
    numbers.router,
    messages.router,
    tendlc.router,
    vendor_callbacks.router,
    cdrs.router,
    reports.router,
    routing.router,
    billing.router,
    vendors.router,
    compliance.router,
]
