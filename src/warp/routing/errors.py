"""Errors raised by the routing domain."""

from __future__ import annotations

from warp.errors import WarpError


class RoutingError(WarpError):
    code = "routing-error"


class NotFound(RoutingError):
    code = "routing-not-found"


class CarrierNotFound(NotFound):
    code = "carrier-not-found"


class CarrierTrunkNotFound(NotFound):
    code = "carrier-trunk-not-found"


class PartitionNotFound(NotFound):
    code = "partition-not-found"


class TrunkNotFound(NotFound):
    code = "trunk-not-found"


class AclNotFound(NotFound):
    code = "trunk-acl-not-found"


class AccountNotFound(NotFound):
    """The account is not visible to the transaction (another tenant's account is simply not found)."""

    code = "routing-account-not-found"


class Duplicate(RoutingError):
    code = "routing-duplicate"
    http_status = 409


class InvalidRouting(RoutingError):
    code = "invalid-routing"


class AclOverlap(RoutingError):
    """The network overlaps an ACL entry of another account."""

    code = "trunk-acl-overlap"
    http_status = 409


class RateImportError(RoutingError):
    """A rate deck file was refused; ``problems`` lists every bad line."""

    code = "rate-import-invalid"

    def __init__(self, message: str, problems: list[tuple[int, str]] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []
