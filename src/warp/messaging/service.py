"""Messaging services: send, status callbacks, receive (keywords + routing), opt-outs, inbound routes.

Plain functions taking a psycopg connection; the caller owns the transaction. Sending runs as the
tenant (RLS applies); vendor callbacks and dispatch run as staff because a vendor's message spans
tenants.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg
from limits import RateLimitItemPerSecond
from limits.storage import Storage
from limits.strategies import FixedWindowRateLimiter
from psycopg.rows import dict_row, tuple_row
from psycopg.types.json import Jsonb

from warp.auth.policy import AuthPolicy
from warp.auth.ratelimit import LocalStorage
from warp.messaging import errors
from warp.messaging.encoding import SegmentCount, count_segments
from warp.messaging.keywords import HELP, START, STOP, classify
from warp.messaging.secrets import check_reference, encrypt_secret

Conn = psycopg.Connection[Any]

DEFAULT_STOP_REPLY = (
    "You have been unsubscribed and will receive no further messages. Reply START to resubscribe."
)
DEFAULT_START_REPLY = "You have been resubscribed to messages. Reply STOP to unsubscribe, HELP for help."
DEFAULT_HELP_REPLY = "Reply STOP to unsubscribe. Msg & data rates may apply."
DLR_STATUSES = {"SENDING", "SENT", "DELIVERED", "UNDELIVERED", "FAILED"}


@dataclass(frozen=True)
class Message:
    """A message detail record as customers see it."""

    id: UUID
    created_at: datetime
    account_id: UUID
    direction: str
    message_type: str
    from_number: str
    to_number: str
    body: str | None
    media_urls: list[str]
    encoding: str | None
    segments: int
    status: str
    error_code: str | None
    error_message: str | None
    campaign_id: UUID | None
    rate: Decimal | None
    charge: Decimal | None
    sent_at: datetime | None
    delivered_at: datetime | None


MESSAGE_COLUMNS = (
    "id, created_at, account_id, direction, message_type, from_number, to_number, body, media_urls, encoding, "
    "segments, status, error_code, error_message, campaign_id, rate, charge, sent_at, delivered_at"
)


@dataclass(frozen=True)
class Submitted:
    """The outcome of a send: ``result`` is ``queued`` or ``recipient-opted-out`` (a REJECTED MDR)."""

    result: str
    id: UUID
    created_at: datetime
    status: str
    encoding: str
    segments: int
    rate: Decimal | None
    charge: Decimal | None
    campaign_id: UUID | None
    campaign_mps: int | None = None  # the throughput settings in force (queued messages)
    account_mps: int | None = None


class ThroughputLimiter:
    """Messages per second per account and per 10DLC campaign (fixed one-second windows).

    The account limit is ``accounts.metadata.messaging.max_mps`` or ``default_account_mps``; the
    campaign limit is ``campaigns_10dlc.throughput_mps`` when set. Shares the API's rate-limit storage
    (memory, or Redis when WARP_REDIS_URL is set, so several API processes share the counters).
    """

    def __init__(self, storage: Storage | None = None, default_account_mps: int = 100) -> None:
        self._storage = storage or LocalStorage()
        self._limiter = FixedWindowRateLimiter(self._storage)
        self.default_account_mps = default_account_mps

    def _allowed(self, namespace: str, key: str, per_second: int) -> bool:
        """Count one message in ``key``'s one-second window; False when it is over ``per_second``.

        In-process counters are counted directly (as ``RateLimiter`` does: no ``limits`` key and
        window objects per message); a network storage (Redis) goes through ``limits``."""
        if isinstance(self._storage, LocalStorage):
            count, _ = self._storage.incr_at(f"{namespace}/{key}/{per_second}", 1, time.time())
            return count <= per_second
        return self._limiter.hit(RateLimitItemPerSecond(per_second), namespace, key)

    def hit(
        self, account_id: UUID, account_mps: int | None, campaign_id: UUID | None, mps: int | None
    ) -> None:
        account_limit = account_mps or self.default_account_mps
        if not self._allowed("msg-account", str(account_id), account_limit):
            raise errors.ThroughputExceeded(
                f"throughput: account limit of {account_limit} messages per second reached"
            )
        if campaign_id is not None and mps and not self._allowed("msg-campaign", str(campaign_id), mps):
            raise errors.ThroughputExceeded(
                f"throughput: campaign limit of {mps} messages per second reached"
            )

    def admit(self, account_id: UUID, sent: Submitted) -> None:
        """Count a queued message against its account's and campaign's limits (ThroughputExceeded)."""
        self.hit(account_id, sent.account_mps, sent.campaign_id, sent.campaign_mps)


_SEND_ERRORS: dict[str, tuple[type[errors.MessagingError], str]] = {
    "sender-not-found": (errors.SenderNotFound, "from: not an ACTIVE number of this account"),
    "sender-not-messaging-enabled": (errors.SenderNotMessagingEnabled, "from: messaging is not enabled"),
    "campaign-not-approved": (
        errors.CampaignNotApproved,
        "from: a local (10DLC) number must be assigned to an APPROVED campaign before it sends",
    ),
    "no-messaging-rate": (errors.NoMessagingRate, "account: no messaging rate in force for this message"),
    "no-messaging-vendor": (errors.NoMessagingVendor, "no messaging vendor is available; retry later"),
    "insufficient-balance": (errors.InsufficientBalance, "balance: prepaid funds do not cover this message"),
}


@dataclass(frozen=True)
class Outbound:
    """One message to send, as ``POST /v1/messages`` carries it."""

    from_number: str
    to_number: str
    body: str | None
    media_urls: Sequence[str] = ()
    metadata: dict[str, Any] | None = None


SendOutcome = Submitted | errors.MessagingError

# messaging.submit_message / submit_messages result columns, in the order _submitted reads them.
_RESULT = "result, id, created_at, status, campaign_id, campaign_mps, rate, charge, account_mps"


def _submitted(row: tuple[Any, ...], count: SegmentCount) -> SendOutcome:
    result, message_id, created_at, status, campaign_id, campaign_mps, rate, charge, account_mps = row
    if result in _SEND_ERRORS:
        cls, message = _SEND_ERRORS[result]
        return cls(message)
    return Submitted(  # the fields in order
        result,
        message_id,
        created_at,
        status,
        count.encoding,
        count.segments,
        rate,
        charge,
        campaign_id,
        campaign_mps,
        account_mps,
    )


# messaging.submit_messages' element keys, in submit_message's parameter order after the account.
_BATCH_KEYS = ("from", "to", "type", "body", "media", "encoding", "segments", "metadata")


def _submit_args(m: Outbound, count: SegmentCount) -> tuple[Any, ...]:
    """``m``'s arguments of messaging.submit_message after the account, as ``_BATCH_KEYS`` names them.

    NULL for "none" (the function stores '{}'): no array / JSON adaptation per send."""
    return (
        m.from_number,
        m.to_number,
        "MMS" if m.media_urls else "SMS",
        m.body or None,
        list(m.media_urls) or None,
        count.encoding if m.body else None,
        count.segments,
        m.metadata or None,
    )


def send_messages(conn: Conn, *, account_id: UUID, messages: Sequence[Outbound]) -> list[SendOutcome]:
    """Validate and queue messages of ``account_id`` in the caller's transaction, in ONE round trip.

    One message goes through ``messaging.submit_message``, several through
    ``messaging.submit_messages`` (the same function for each, in order: a later message sees the
    earlier ones' prepaid debits). Returns one outcome per message, in order: ``Submitted`` (queued, or
    ``recipient-opted-out`` with its REJECTED MDR) or the send error the message alone would raise
    (invalid, sender, 10DLC, rate, vendor, balance). Throughput is not counted here: the caller hits
    the limiter for each queued message before committing (``send_message``,
    ``warp.messaging.coalesce``). Anything unexpected raises and fails them all; so does, for several
    messages, a concurrent debit that spent the funds after the check (one message gets
    ``InsufficientBalance``): the caller then sends them one by one.
    """
    outcomes: list[SendOutcome | None] = []
    todo: list[tuple[int, Outbound, SegmentCount]] = []
    for m in messages:
        if not m.media_urls and not m.body:
            outcomes.append(errors.InvalidMessage("body: an SMS needs text (or send media_urls for an MMS)"))
            continue
        todo.append((len(outcomes), m, count_segments(m.body or "", mms=bool(m.media_urls))))
        outcomes.append(None)
    cur = conn.cursor(row_factory=tuple_row)
    if len(todo) == 1:
        _, m, count = todo[0]
        *args, metadata = _submit_args(m, count)
        try:
            row = cur.execute(
                f"SELECT {_RESULT} FROM messaging.submit_message(%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (account_id, *args, Jsonb(metadata) if metadata else None),
            ).fetchone()
        except psycopg.errors.CheckViolation as exc:
            # A concurrent debit spent the funds between the check and the debit (taken under the lock).
            if exc.diag.constraint_name != "account_balance_funds_check":
                raise
            cls, message = _SEND_ERRORS["insufficient-balance"]
            raise cls(message) from exc
        assert row is not None
        rows = [row]
    elif todo:
        batch = [dict(zip(_BATCH_KEYS, _submit_args(m, count), strict=True)) for _, m, count in todo]
        rows = cur.execute(
            f"SELECT {_RESULT} FROM messaging.submit_messages(%s, %s)", (account_id, Jsonb(batch))
        ).fetchall()
        if len(rows) != len(todo):
            raise RuntimeError(f"messaging.submit_messages: {len(rows)} results for {len(todo)} messages")
    else:
        rows = []
    for (index, _, count), row in zip(todo, rows, strict=True):
        outcomes[index] = _submitted(row, count)
    return [outcome for outcome in outcomes if outcome is not None]


def send_message(
    conn: Conn,
    *,
    account_id: UUID,
    from_number: str,
    to_number: str,
    body: str | None,
    media_urls: list[str] | None = None,
    limiter: ThroughputLimiter | None = None,
    metadata: dict[str, Any] | None = None,
) -> Submitted:
    """Validate and queue one outbound message (MDR + outbox event) in the caller's transaction.

    Raises the send errors (sender, 10DLC, rate, vendor, balance, throughput). An opted-out recipient
    is not an exception: the REJECTED MDR is returned (``result == 'recipient-opted-out'``) so the
    caller can commit it and refuse the request. ``send_messages`` with one message.
    """
    message = Outbound(from_number, to_number, body, media_urls or (), metadata)
    outcome = send_messages(conn, account_id=account_id, messages=[message])[0]
    if isinstance(outcome, errors.MessagingError):
        raise outcome
    if outcome.result == "queued" and limiter is not None:
        limiter.admit(account_id, outcome)
    return outcome


def check_opt_out(conn: Conn, account_id: UUID, campaign_id: UUID | None, recipient: str) -> bool:
    """True when ``recipient`` opted out of the account or of ``campaign_id``."""
    row = (
        conn.cursor(row_factory=tuple_row)
        .execute("SELECT messaging.check_opt_out(%s, %s, %s)", (account_id, campaign_id, recipient))
        .fetchone()
    )
    return bool(row and row[0])


def get_message(conn: Conn, message_id: UUID) -> Message:
    """One message visible to the caller (another tenant's is not found)."""
    row = (
        conn.cursor(row_factory=dict_row)
        .execute(f"SELECT {MESSAGE_COLUMNS} FROM messaging.mdr WHERE id = %s", (message_id,))
        .fetchone()
    )
    if row is None:
        raise errors.MessageNotFound(f"message {message_id}: not found")
    return Message(**row)


def list_messages(conn: Conn, *, limit: int, after: tuple[datetime, UUID] | None = None) -> list[Message]:
    """Messages visible to the caller, newest first, after the cursor position (created_at, id)."""
    cur = conn.cursor(row_factory=dict_row)
    if after:
        rows = cur.execute(
            f"SELECT {MESSAGE_COLUMNS} FROM messaging.mdr WHERE (created_at, id) < (%s, %s) "
            "ORDER BY created_at DESC, id DESC LIMIT %s",
            (after[0], after[1], limit),
        ).fetchall()
    else:
        rows = cur.execute(
            f"SELECT {MESSAGE_COLUMNS} FROM messaging.mdr ORDER BY created_at DESC, id DESC LIMIT %s",
            (limit,),
        ).fetchall()
    return [Message(**r) for r in rows]


# ---------------------------------------------------------------------------------------------
# Vendor side (staff transactions)


def provider_row(conn: Conn, name: str) -> dict[str, Any]:
    """The enabled service provider called ``name`` with capability sms or mms."""
    row = (
        conn.cursor(row_factory=dict_row)
        .execute(
            "SELECT id, name, provider_type, config, capabilities FROM vendor_mgmt.service_providers "
            "WHERE name = %s AND enabled AND capabilities && ARRAY['sms', 'mms']",
            (name,),
        )
        .fetchone()
    )
    if row is None:
        raise errors.ProviderNotFound(f"provider {name}: not a messaging provider")
    return row


@dataclass(frozen=True)
class StatusChange:
    message_id: UUID
    changed: bool
    status: str


def apply_dlr(
    conn: Conn,
    *,
    provider_id: UUID,
    status: str,
    vendor_message_id: str | None = None,
    message_id: UUID | None = None,
    error_code: str | None = None,
    error_message: str | None = None,
) -> StatusChange:
    """A delivery receipt: move the message forward (never backwards; duplicates are no-ops)."""
    wanted = status.upper()
    if wanted not in DLR_STATUSES:
        raise errors.InvalidMessage(f"status: {status!r} is not one of {', '.join(sorted(DLR_STATUSES))}")
    target = message_id
    if target is None:
        if not vendor_message_id:
            raise errors.InvalidMessage("vendor_message_id: required (or message_id)")
        found = (
            conn.cursor(row_factory=tuple_row)
            .execute(
                "SELECT id FROM messaging.mdr WHERE service_provider_id = %s AND vendor_message_ref = %s "
                "AND direction = 'OUTBOUND' LIMIT 1",
                (provider_id, vendor_message_id),
            )
            .fetchone()
        )
        if found is None:
            raise errors.MessageNotFound(f"vendor_message_id {vendor_message_id}: no such message")
        target = found[0]
    row = (
        conn.cursor(row_factory=tuple_row)
        .execute(
            "SELECT changed, id, status FROM messaging.apply_status(%s, %s, %s, %s, %s, %s)",
            (target, wanted, error_code, error_message, vendor_message_id, provider_id),
        )
        .fetchone()
    )
    if row is None:
        raise errors.MessageNotFound(f"message {target}: not found for this provider")
    return StatusChange(message_id=row[1], changed=row[0], status=row[2])


@dataclass(frozen=True)
class Inbound:
    """What happened to an inbound message."""

    message_id: UUID
    account_id: UUID
    duplicate: bool
    keyword: str | None
    reply_id: UUID | None
    route: str


def _reply(conn: Conn, inbound: dict[str, Any], text: str, keyword: str) -> UUID:
    """Queue an automatic reply (STOP/START/HELP) from the DID to the sender: an outbound MDR."""
    count = count_segments(text)
    row = (
        conn.cursor(row_factory=tuple_row)
        .execute(
            """
        WITH priced AS (
            SELECT messaging.messaging_rate(%(account)s, 'SMS', 'OUTBOUND',
                       messaging.destination_type(%(number_type)s, %(to)s)) AS rate
        )
        INSERT INTO messaging.mdr (account_id, direction, message_type, from_number, to_number, did_id,
                                   campaign_id, body, encoding, segments, status, service_provider_id, rate,
                                   charge, metadata)
        SELECT %(account)s, 'OUTBOUND', 'SMS', %(from)s, %(to)s, %(did)s, %(campaign)s, %(body)s, %(encoding)s,
               %(segments)s, 'QUEUED', coalesce(messaging.pick_provider('SMS'), %(provider)s), priced.rate,
               priced.rate * %(segments)s, %(metadata)s
        FROM priced
        RETURNING id, created_at
        """,
            {
                "account": inbound["account_id"],
                "number_type": inbound["number_type"],
                "from": inbound["to_number"],
                "to": inbound["from_number"],
                "did": inbound["did_id"],
                "campaign": inbound["campaign_id"],
                "body": text,
                "encoding": count.encoding,
                "segments": count.segments,
                "provider": inbound["service_provider_id"],
                "metadata": Jsonb({"auto_reply": keyword, "in_reply_to": str(inbound["id"])}),
            },
        )
        .fetchone()
    )
    assert row is not None
    conn.execute(
        "SELECT messaging.enqueue_event(m.account_id, 'message.queued', m.did_id, m.id, m.created_at, "
        "messaging.message_data(m)) FROM messaging.mdr m WHERE m.id = %s AND m.created_at = %s",
        (row[0], row[1]),
    )
    return UUID(str(row[0]))


def receive_inbound(
    conn: Conn,
    *,
    provider_id: UUID,
    from_number: str,
    to_number: str,
    body: str | None,
    media_urls: list[str] | None = None,
    vendor_message_id: str | None = None,
) -> Inbound:
    """An inbound message from a vendor: MDR for the DID's account, keyword handling, then routing.

    STOP records an opt-out scoped to the number's campaign (or the account) and confirms once;
    START removes that opt-out and confirms; HELP answers the help text. Replies are outbound MDRs.
    A vendor retry (same provider and vendor id) is recognised and changes nothing.
    """
    cur = conn.cursor(row_factory=dict_row)
    if vendor_message_id:
        seen = cur.execute(
            "SELECT id, account_id, metadata FROM messaging.mdr WHERE service_provider_id = %s "
            "AND vendor_message_ref = %s AND direction = 'INBOUND' LIMIT 1",
            (provider_id, vendor_message_id),
        ).fetchone()
        if seen is not None:
            meta = seen["metadata"] or {}
            return Inbound(
                seen["id"], seen["account_id"], True, meta.get("keyword"), None, meta.get("route", "")
            )
    did = cur.execute(
        "SELECT d.id, d.account_id, d.campaign_id, i.number_type, c.opt_in_message, c.opt_out_message, "
        "c.help_message FROM numbers.dids d JOIN numbers.inventory i ON i.id = d.inventory_id "
        "LEFT JOIN messaging.campaigns_10dlc c ON c.id = d.campaign_id "
        "WHERE d.number = %s AND d.status = 'ACTIVE' AND d.messaging_enabled",
        (to_number,),
    ).fetchone()
    if did is None:
        raise errors.NumberNotFound(f"to: {to_number} is not an active messaging number")
    media = list(media_urls or [])
    mms = bool(media)
    if not mms and not body:
        raise errors.InvalidMessage("body: an SMS needs text")
    count = count_segments(body or "", mms=mms)
    keyword = classify(body) if body and not mms else None
    route = cur.execute(
        "SELECT route_type FROM messaging.inbound_routes WHERE account_id = %s AND enabled "
        "AND (did_id = %s OR did_id IS NULL) ORDER BY did_id NULLS LAST LIMIT 1",
        (did["account_id"], did["id"]),
    ).fetchone()
    route_type = route["route_type"] if route else "STORE"
    inbound = cur.execute(
        """
        WITH priced AS (
            SELECT messaging.messaging_rate(%(account)s, %(type)s, 'INBOUND',
                       messaging.destination_type(%(number_type)s, %(from)s)) AS rate
        )
        INSERT INTO messaging.mdr (account_id, direction, message_type, from_number, to_number, did_id,
                                   campaign_id, body, media_urls, encoding, segments, status, service_provider_id,
                                   vendor_message_ref, rate, charge, metadata)
        SELECT %(account)s, 'INBOUND', %(type)s, %(from)s, %(to)s, %(did)s, %(campaign)s, %(body)s, %(media)s,
               %(encoding)s, %(segments)s, 'RECEIVED', %(provider)s, %(vendor_ref)s, priced.rate,
               CASE WHEN %(type)s = 'SMS' THEN priced.rate * %(segments)s ELSE priced.rate END, %(metadata)s
        FROM priced
        RETURNING *
        """,
        {
            "account": did["account_id"],
            "type": "MMS" if mms else "SMS",
            "number_type": did["number_type"],
            "from": from_number,
            "to": to_number,
            "did": did["id"],
            "campaign": did["campaign_id"],
            "body": body or None,
            "media": media,
            "encoding": count.encoding if body else None,
            "segments": count.segments,
            "provider": provider_id,
            "vendor_ref": vendor_message_id,
            "metadata": Jsonb({"route": route_type, "keyword": keyword}),
        },
    ).fetchone()
    assert inbound is not None
    inbound["number_type"] = did["number_type"]

    reply_id: UUID | None = None
    if keyword == STOP:
        added = cur.execute(
            "INSERT INTO messaging.opt_outs (account_id, campaign_id, recipient_number, keyword, source) "
            "VALUES (%s, %s, %s, %s, 'KEYWORD') ON CONFLICT DO NOTHING RETURNING id",
            (did["account_id"], did["campaign_id"], from_number, " ".join((body or "").split()).upper()[:32]),
        ).fetchone()
        if added is not None:  # confirm once: a repeated STOP is not answered again
            reply_id = _reply(conn, inbound, did["opt_out_message"] or DEFAULT_STOP_REPLY, STOP)
    elif keyword == START:
        removed = cur.execute(
            "DELETE FROM messaging.opt_outs WHERE account_id = %s AND recipient_number = %s "
            "AND campaign_id IS NOT DISTINCT FROM %s RETURNING id",
            (did["account_id"], from_number, did["campaign_id"]),
        ).fetchall()
        if removed:
            reply_id = _reply(conn, inbound, did["opt_in_message"] or DEFAULT_START_REPLY, START)
    elif keyword == HELP:
        reply_id = _reply(conn, inbound, did["help_message"] or DEFAULT_HELP_REPLY, HELP)

    if route_type == "WEBHOOK":
        conn.execute(
            "SELECT messaging.enqueue_event(m.account_id, 'message.received', m.did_id, m.id, m.created_at, "
            "messaging.message_data(m)) FROM messaging.mdr m WHERE m.id = %s AND m.created_at = %s",
            (inbound["id"], inbound["created_at"]),
        )
    return Inbound(inbound["id"], did["account_id"], False, keyword, reply_id, route_type)


# ---------------------------------------------------------------------------------------------
# Configuration


def set_inbound_route(
    conn: Conn,
    policy: AuthPolicy,
    *,
    account_id: UUID,
    did_id: UUID | None = None,
    route_type: str = "WEBHOOK",
    webhook_url: str | None = None,
    status_webhook_url: str | None = None,
    webhook_secret: str | None = None,
    secret_ref: str | None = None,
    customer_sms_auth_id: UUID | None = None,
) -> UUID:
    """Create or replace the route of a DID (or the account default): the secret is stored encrypted."""
    if webhook_secret is not None and secret_ref is not None:
        raise errors.InvalidMessage("webhook_secret: give the secret or a reference, not both")
    ref = encrypt_secret(policy, webhook_secret) if webhook_secret is not None else secret_ref
    if ref is not None:
        check_reference(ref)
    row = (
        conn.cursor(row_factory=tuple_row)
        .execute(
            "INSERT INTO messaging.inbound_routes (account_id, did_id, route_type, webhook_url, status_webhook_url, "
            "webhook_secret_ref, customer_sms_auth_id) VALUES (%s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT ON CONSTRAINT inbound_routes_account_id_did_id_key DO UPDATE SET "
            "route_type = EXCLUDED.route_type, webhook_url = EXCLUDED.webhook_url, "
            "status_webhook_url = EXCLUDED.status_webhook_url, webhook_secret_ref = EXCLUDED.webhook_secret_ref, "
            "customer_sms_auth_id = EXCLUDED.customer_sms_auth_id, enabled = true RETURNING id",
            (account_id, did_id, route_type, webhook_url, status_webhook_url, ref, customer_sms_auth_id),
        )
        .fetchone()
    )
    assert row is not None
    return UUID(str(row[0]))
