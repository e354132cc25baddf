"""Errors of the numbers domain (stable codes for the API and CLI)."""

from __future__ import annotations

from typing import Any

import psycopg

from warp.errors import WarpError


class NumbersError(WarpError):
    code = "numbers-error"


class NumberNotFound(NumbersError):
    code = "number-not-found"


class NumbersNotAvailable(NumbersError):
    code = "numbers-not-available"
    http_status = 409


class InvalidTransition(NumbersError):
    code = "invalid-status-transition"
    http_status = 409


class InvalidNumber(NumbersError):
    code = "invalid-number"


class InvalidAddress(NumbersError):
    """An E911 address failed validation; ``errors`` maps field -> reason."""

    code = "invalid-e911-address"

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors

    @property
    def field_errors(self) -> list[dict[str, str]]:
        """The field errors as the API's problem details list them."""
        return [{"field": k, "message": v} for k, v in self.errors.items()]


class E911Required(NumbersError):
    code = "e911-address-required"
    http_status = 409


class AddressNotFound(NumbersError):
    code = "e911-address-not-found"


class PortRequestNotFound(NumbersError):
    code = "port-request-not-found"


class InvalidPortRequest(NumbersError):
    code = "invalid-port-request"


class NumbersForbidden(NumbersError):
    code = "numbers-forbidden"
    http_status = 403


_BY_CONSTRAINT: dict[str, type[NumbersError]] = {
    "numbers_not_available": NumbersNotAvailable,
    "numbers_not_found": NumberNotFound,
    "numbers_no_tenant": NumbersForbidden,
    "numbers_forbidden": NumbersForbidden,
    "numbers_reservation_ttl_check": InvalidNumber,
    "inventory_status_transition_check": InvalidTransition,
    "port_requests_status_transition_check": InvalidTransition,
    "port_requests_number_unavailable": NumbersNotAvailable,
    "dids_e911_address_check": E911Required,
    "dids_e911_address_id_fkey": AddressNotFound,
    "dids_e911_exempt_check": InvalidNumber,
}


def translate(exc: psycopg.Error) -> WarpError | None:
    """The domain error a database error stands for (by constraint name), or None."""
    diag: Any = exc.diag
    name = diag.constraint_name
    cls = _BY_CONSTRAINT.get(name or "")
    if cls is None:
        return None
    return cls(diag.message_primary or str(exc))
