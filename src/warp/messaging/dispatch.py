"""Vendor dispatch: claim QUEUED messages, hand them to their provider, record SENT or FAILED."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row

from warp.auth.policy import AuthPolicy
from warp.db import tenant
from warp.messaging.providers import OutboundMessage, ProviderError, SmsProvider, build_provider

DISPATCH = tenant.Context(staff=True, actor_type="SYSTEM")


def load_providers(conn: psycopg.Connection[Any], policy: AuthPolicy) -> dict[UUID, SmsProvider]:
    """Every enabled messaging provider, built from vendor_mgmt.service_providers (staff transaction)."""
    rows = (
        conn.cursor(row_factory=dict_row)
        .execute(
            "SELECT id, name, provider_type, config FROM vendor_mgmt.service_providers "
            "WHERE enabled AND capabilities && ARRAY['sms', 'mms']"
        )
        .fetchall()
    )
    return {r["id"]: build_provider(r, policy) for r in rows}


def dispatch_once(conn: psycopg.Connection[Any], providers: dict[UUID, SmsProvider], limit: int = 100) -> int:
    """Send up to ``limit`` queued messages; returns how many were claimed.

    The claim (QUEUED -> SENDING) commits before any vendor is called, so two dispatchers never
    send the same message; each outcome is recorded in its own transaction.
    """
    with tenant.transaction(conn, DISPATCH):
        claimed = (
            conn.cursor(row_factory=dict_row)
            .execute("SELECT * FROM messaging.lease_queued(%s)", (limit,))
            .fetchall()
        )
    for m in claimed:
        provider = providers.get(m["service_provider_id"])
        status, ref, code, text = "FAILED", None, None, None
        if provider is None:
            code, text = "vendor-unavailable", "the message's provider is not configured"
        else:
            try:
                ref = provider.send(
                    OutboundMessage(
                        id=m["id"],
                        created_at=m["created_at"],
                        message_type=m["message_type"],
                        from_number=m["from_number"],
                        to_number=m["to_number"],
                        body=m["body"],
                        media_urls=list(m["media_urls"]),
                    )
                )
                status = "SENT"
            except ProviderError as exc:
                code, text = exc.code, exc.message
        with tenant.transaction(conn, DISPATCH):
            conn.execute(
                "SELECT messaging.apply_status(%s, %s, %s, %s, %s)", (m["id"], status, code, text, ref)
            )
    return len(claimed)
