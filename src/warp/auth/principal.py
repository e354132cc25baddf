"""Who is calling: the authenticated principal of a request or command."""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from warp.db.tenant import Context

ADMIN = "admin"
STAFF_PERMISSIONS = frozenset({"staff:read", "staff:write"})


@dataclass(frozen=True)
class Principal:
    """An API key, a customer user or a staff user, with what it may do.

    ``kind`` is the audit actor type: API_KEY, USER or STAFF.
    """

    kind: str
    actor_id: UUID
    account_id: UUID | None
    permissions: frozenset[str]
    name: str = ""
    user_id: UUID | None = None
    api_key_id: UUID | None = None
    session_id: UUID | None = None
    rate_limits: tuple[int | None, int | None, int | None] = field(default=(None, None, None))
    needs_touch: bool = False  # an API key whose last_used_at is older than a minute

    @property
    def is_staff(self) -> bool:
        return self.kind == "STAFF"

    def allows(self, permission: str) -> bool:
        """Whether this principal holds ``permission`` (``admin`` implies every customer permission)."""
        if permission in self.permissions:
            return True
        if permission in STAFF_PERMISSIONS:
            return False
        return ADMIN in self.permissions or (self.is_staff and "staff:write" in self.permissions)

    def context(self, request_id: str | None = None) -> Context:
        """The transaction context that makes row-level security act for this principal."""
        return Context(
            account_id=self.account_id,
            staff=self.is_staff,
            actor_type=self.kind,
            actor_id=self.actor_id,
            request_id=request_id,
        )
