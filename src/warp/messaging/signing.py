"""Webhook signatures: ``X-Warp-Signature`` = hex HMAC-SHA256 over ``"{timestamp}.{raw body}"``.

Receivers verify with :func:`verify_signature` (or the same few lines in their language)::

    from warp.messaging.signing import verify_signature
    verify_signature(secret, request.headers["X-Warp-Timestamp"],
                     request.headers["X-Warp-Signature"], raw_body)   # raises InvalidSignature

Verify against the raw bytes received, before parsing JSON; reject timestamps older than five
minutes (replays); deduplicate on the event ``id`` (delivery is at least once).
"""

from __future__ import annotations

import hashlib
import hmac
import time

from warp.messaging.errors import InvalidSignature

TIMESTAMP_HEADER = "X-Warp-Timestamp"
SIGNATURE_HEADER = "X-Warp-Signature"
EVENT_ID_HEADER = "X-Warp-Event-Id"
TOLERANCE_SECONDS = 300


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``"{timestamp}.{body}"`` with ``secret``."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_headers(secret: str, body: bytes, now: float | None = None) -> dict[str, str]:
    """The two signature headers for ``body``, timestamped now."""
    timestamp = int(time.time() if now is None else now)
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: sign(secret, timestamp, body)}


def verify_signature(
    secret: str,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    *,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> None:
    """Raise InvalidSignature unless ``signature`` signs ``body`` at a timestamp at most ``tolerance`` old."""
    if not timestamp or not signature or not timestamp.isdigit():
        raise InvalidSignature("signature: missing or malformed X-Warp-Timestamp / X-Warp-Signature")
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > tolerance:
        raise InvalidSignature(f"signature: timestamp more than {tolerance} seconds from now")
    if not hmac.compare_digest(sign(secret, timestamp, body), signature.strip().lower()):
        raise InvalidSignature("signature: does not match the body")
