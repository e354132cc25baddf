"""Errors raised by the accounts domain."""

from __future__ import annotations

from warp.errors import WarpError


class AccountError(WarpError):
    code = "account-error"


class AccountNotFound(AccountError):
    code = "account-not-found"


class DuplicateBan(AccountError):
    code = "duplicate-ban"


class InvalidAccount(AccountError):
    code = "invalid-account"
