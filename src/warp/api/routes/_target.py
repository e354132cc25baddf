"""Which account a request about users or keys is about."""

from __future__ import annotations

from uuid import UUID

from warp.accounts.profile import get_account
from warp.api.deps import Tx
from warp.auth.errors import InvalidAuthInput


def target_account(tx: Tx, account_id: UUID | None) -> UUID:
    """``account_id`` when given and visible, else the caller's own account (staff must name one)."""
    if account_id is None:
        if tx.principal.account_id is None:
            raise InvalidAuthInput("account_id: required for staff")
        return tx.principal.account_id
    return get_account(tx.conn, account_id).id
