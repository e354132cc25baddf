"""The root of every error WARP raises on purpose.

Each domain defines its own subclasses beside its services (``warp/numbers/errors.py``...).
The API maps them to problem+json by ``code``; the CLI prints ``str(error)`` and exits with
``exit_code``.
"""

from __future__ import annotations


class WarpError(Exception):
    """An expected failure with a message fit for an operator or a customer."""

    code: str = "warp-error"
    exit_code: int = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(WarpError):
    """The environment or machine is not set up the way WARP needs it."""

    code = "config-error"
    exit_code = 2
