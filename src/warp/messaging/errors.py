"""Errors raised by the messaging domain (stable ``code`` per kind, mapped to problem+json)."""

from __future__ import annotations

from warp.errors import WarpError
from warp.vendors.errors import SecretUnavailable as VendorSecretUnavailable


class MessagingError(WarpError):
    code = "messaging-error"


class InvalidMessage(MessagingError):
    code = "invalid-message"


class SenderNotFound(MessagingError):
    """The ``from`` number is not an ACTIVE number of the account."""

    code = "sender-not-found"
    http_status = 422


class SenderNotMessagingEnabled(MessagingError):
    code = "sender-not-messaging-enabled"
    http_status = 422


class CampaignNotApproved(MessagingError):
    """10DLC: a local sender must be assigned to an APPROVED campaign."""

    code = "campaign-not-approved"
    http_status = 422


class RecipientOptedOut(MessagingError):
    code = "recipient-opted-out"
    http_status = 422


class InsufficientBalance(MessagingError):
    code = "insufficient-balance"
    http_status = 402


class NoMessagingRate(MessagingError):
    code = "no-messaging-rate"
    http_status = 422


class NoMessagingVendor(MessagingError):
    code = "no-messaging-vendor"
    http_status = 503


class ThroughputExceeded(MessagingError):
    code = "throughput-exceeded"
    http_status = 429

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class MessageNotFound(MessagingError):
    code = "message-not-found"


class ProviderNotFound(MessagingError):
    code = "provider-not-found"


class CallbackUnauthenticated(MessagingError):
    code = "callback-unauthenticated"
    http_status = 401


class NumberNotFound(MessagingError):
    code = "number-not-found"


class BrandNotFound(MessagingError):
    code = "brand-not-found"


class CampaignNotFound(MessagingError):
    code = "campaign-not-found"


class InvalidTransition(MessagingError):
    code = "invalid-status-transition"
    http_status = 409


class Invalid10dlc(MessagingError):
    code = "invalid-10dlc"


class InvalidCredential(MessagingError):
    code = "invalid-sms-credential"


class SecretUnavailable(MessagingError, VendorSecretUnavailable):
    """A secret reference cannot be resolved; also a :class:`warp.vendors.errors.SecretUnavailable`
    (one resolver serves both domains)."""

    code = "secret-unavailable"
    http_status = 500


class InvalidSignature(MessagingError):
    code = "invalid-signature"
    http_status = 401
