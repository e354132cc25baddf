"""Compliance for staff: the report of everything needing attention."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from warp.api.deps import Tx, WarpRoute, require
from warp.compliance import service

router = APIRouter(prefix="/v1/compliance", tags=["compliance"], route_class=WarpRoute)


@router.get("/report")
def report(tx: Tx = require("staff:read")) -> dict[str, Any]:
    """E911 gaps, STIR/SHAKEN certificates expiring within 30 days, 10DLC numbers without an approved
    campaign, open security and vendor incidents; ``attention`` is true when any list is non-empty."""
    data = service.compliance_report(tx.conn)
    return {**data, "attention": any(data.values())}
