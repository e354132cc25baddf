"""Errors raised by the auth domain (mapped to HTTP statuses by ``warp.api.errors``)."""

from __future__ import annotations

from warp.errors import WarpError


class AuthError(WarpError):
    """Base of every auth failure."""

    code = "auth-error"
    http_status = 400


class Unauthenticated(AuthError):
    """No credentials, or credentials that do not identify anyone (HTTP 401)."""

    code = "unauthenticated"
    http_status = 401


class InvalidCredentials(Unauthenticated):
    """Login failed: same answer whether the email exists, the password is wrong or the user is locked."""

    code = "invalid-credentials"


class MfaRequired(Unauthenticated):
    """The password was right but the user has a second factor and no valid code was given."""

    code = "mfa-required"


class Forbidden(AuthError):
    """Authenticated, but not allowed to do this (HTTP 403)."""

    code = "forbidden"
    http_status = 403


class InsufficientScope(Forbidden):
    code = "insufficient-scope"


class SourceIpNotAllowed(Forbidden):
    code = "ip-not-allowed"


class RateLimited(AuthError):
    """Too many requests; ``retry_after`` seconds until the window resets (HTTP 429)."""

    code = "rate-limited"
    http_status = 429

    def __init__(self, message: str, *, retry_after: int, limit: int, remaining: int = 0) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.limit = limit
        self.remaining = remaining


class ApiKeyNotFound(AuthError):
    code = "api-key-not-found"
    http_status = 404


class UserNotFound(AuthError):
    code = "user-not-found"
    http_status = 404


class DuplicateEmail(AuthError):
    code = "duplicate-email"
    http_status = 409


class InvalidScope(AuthError):
    """A scope or role name that does not exist or may not be granted here."""

    code = "invalid-scope"
    http_status = 422


class InvalidAuthInput(AuthError):
    code = "invalid-input"
    http_status = 422


class TotpError(AuthError):
    code = "totp-error"
    http_status = 422
