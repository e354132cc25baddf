"""Errors of the compliance domain."""

from __future__ import annotations

from warp.errors import WarpError


class IncidentNotFound(WarpError):
    """No security incident with that id."""

    code = "incident-not-found"


class InvalidIncidentTransition(WarpError):
    """The security incident workflow does not allow that status change."""

    code = "invalid-incident-transition"
    http_status = 409
