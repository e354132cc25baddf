"""Errors raised by the CDR domain."""

from __future__ import annotations

from warp.errors import WarpError


class CdrError(WarpError):
    code = "cdr-error"


class InvalidCdrInput(CdrError):
    """Bad arguments or a file that cannot be read at all (header, format)."""

    code = "invalid-cdr-input"


class ImportRefused(CdrError):
    """A reference-data file was refused; ``problems`` lists every bad line."""

    code = "invalid-cdr-import"

    def __init__(self, message: str, problems: list[tuple[int, str]] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class CarrierNotFound(CdrError):
    code = "carrier-not-found"
