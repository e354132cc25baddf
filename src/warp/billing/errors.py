"""Errors raised by the billing domain (stable ``code`` per kind, mapped to problem+json)."""

from __future__ import annotations

from warp.errors import WarpError


class BillingError(WarpError):
    code = "billing-error"


class InvalidBilling(BillingError):
    code = "invalid-billing"


class InsufficientFunds(BillingError):
    """A prepaid account would go below -credit_limit."""

    code = "insufficient-funds"
    http_status = 422


class InvoiceImmutable(BillingError):
    code = "invoice-immutable"
    http_status = 409


class InvoiceNotFound(BillingError):
    code = "invoice-not-found"


class PaymentNotFound(BillingError):
    code = "payment-not-found"


class AccountNotFound(BillingError):
    code = "account-not-found"


class RatePlanNotFound(BillingError):
    code = "rate-plan-not-found"


class DuplicatePayment(BillingError):
    """The processor's external reference was already recorded."""

    code = "duplicate-payment"


class OverlappingRatePlan(BillingError):
    """Two plan assignments of one account would be in force at the same instant."""

    code = "overlapping-rate-plan"
    http_status = 409


class RatePlanImportError(BillingError):
    """A rate plan CSV was refused; ``problems`` lists (line, message) for every bad line."""

    code = "invalid-rate-plan-import"

    def __init__(self, message: str, problems: list[tuple[int, str]] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []
