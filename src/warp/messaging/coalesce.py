"""Group submit for ``POST /v1/messages``: the sends of one tenant context that wait for a database
slot at the same time go to PostgreSQL together, in ONE transaction and ONE round trip.

Why this exists: an API worker process lets few requests hold a pooled connection at once
(``WARP_API_DB_SLOTS``, default 1, see ``warp.api.deps``). Under load, many sends of the same API
key queue for that slot, and sent one by one each pays a whole transaction (BEGIN, the tenant
settings, COMMIT and its WAL flush), a round trip, a pool check-out and a worker-thread hop, on
the API side and on PostgreSQL's. Sent as a group (``service.send_messages``:
``messaging.submit_messages``, the single send path applied to each message in order) they pay
those once; each message is still decided by the same rules and gets its own outcome.

How: the first send of a group (the principal's transaction context: same account, same actor,
so the same row-level security) becomes its leader. It waits for a slot, takes every send of the
group queued by then (it never waits for more: at low load a group is one message and runs exactly
as a single send), runs them in a worker thread, then answers each one after the commit; a send
queued meanwhile waits for the next leader (the first of them). Groups of different contexts
never share a transaction.

Per message, inside a group: a business refusal (opt-out, 10DLC, funds, vendor, rate) is that
message's outcome and the others commit; the throughput limiter is hit once per queued message
(when some are over their limit, the transaction is rolled back and run again without them, the
others not counted twice). When the group's transaction fails as a whole (an unexpected
exception, a concurrent debit that spent the funds, a COMMIT the server refused), it is rolled back
and its messages are sent again one by one, each in its own transaction, so one bad message fails
only itself; only a connection lost during COMMIT (the group may have committed) is not sent again.
"""

from __future__ import annotations

import functools
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import anyio
from psycopg_pool import ConnectionPool

from warp.auth import api_keys
from warp.db import tenant
from warp.db.tenant import Context
from warp.messaging import errors
from warp.messaging.service import Outbound, Submitted, ThroughputLimiter, send_messages

Outcome = Submitted | BaseException

# At most this many sends in one transaction (the rest wait for the next leader): bounds the
# statement and how long a group holds the account's prepaid balance row.
MAX_GROUP = 100


class CommitUnknown(Exception):
    """The connection broke during a group's COMMIT: it may have committed, so its messages are
    not sent again (each request gets this error, as a single send would)."""


@dataclass(eq=False)
class _Send:
    message: Outbound
    request_id: str
    touch: UUID | None  # an API key whose use is due to be recorded
    outcome: Outcome | None = None
    # Set when the send is answered, or when it is its turn to lead; replaced before each wait.
    wake: anyio.Event = field(default_factory=anyio.Event)


@dataclass(eq=False)
class _Group:
    queue: list[_Send] = field(default_factory=list)
    leading: bool = False


class SendCoalescer:
    """Per API process: queues sends per tenant context and submits each queue as one transaction.

    ``slots`` is the process's database-slot semaphore (held while a group's transaction runs);
    ``pool`` gives the connection. Methods run on the event loop; the database work runs in a
    worker thread (``run_group``, usable on its own).
    """

    def __init__(
        self, pool: ConnectionPool[Any], slots: anyio.Semaphore | None, limiter: ThroughputLimiter
    ) -> None:
        self.pool = pool
        self.slots = slots
        self.limiter = limiter
        self._groups: dict[Context, _Group] = {}

    def queued(self, context: Context) -> int:
        """How many sends of ``context`` wait for a leader (tests use it to build a group)."""
        group = self._groups.get(context)
        return len(group.queue) if group else 0

    async def send(
        self, context: Context, request_id: str, message: Outbound, *, touch: UUID | None = None
    ) -> Submitted:
        """Queue ``message`` of ``context`` (an account's; its request id ignored): its own outcome,
        returned or raised once its transaction has committed (or rolled back). ``touch``: the API
        key whose last use the transaction records (``Principal.needs_touch``)."""
        key = Context(context.account_id, context.staff, context.actor_type, context.actor_id)
        group = self._groups.setdefault(key, _Group())
        item = _Send(message, request_id, touch)
        group.queue.append(item)
        try:
            while item.outcome is None:
                if group.leading:
                    item.wake = anyio.Event()
                    await item.wake.wait()
                else:
                    await self._lead(key, group)
        except BaseException:
            if item in group.queue:  # cancelled before any leader took it
                group.queue.remove(item)
                self._hand_over(key, group)
            raise
        if isinstance(item.outcome, BaseException):
            raise item.outcome
        return item.outcome

    async def _lead(self, key: Context, group: _Group) -> None:
        group.leading = True
        try:
            async with self.slots if self.slots is not None else nullcontext():
                batch, group.queue = group.queue[:MAX_GROUP], group.queue[MAX_GROUP:]
                messages = [s.message for s in batch]
                with anyio.CancelScope(shield=True):  # a taken group always ends (commit or rollback)
                    try:
                        touch = next((s.touch for s in batch if s.touch is not None), None)
                        outcomes = await anyio.to_thread.run_sync(
                            functools.partial(self.run_group, touch=touch), key, batch[0].request_id, messages
                        )
                    except Exception as exc:  # never leave a taken send unanswered
                        outcomes = [exc] * len(batch)
            for item, outcome in zip(batch, outcomes, strict=True):
                item.outcome = outcome
                item.wake.set()
        finally:
            group.leading = False
            self._hand_over(key, group)

    def _hand_over(self, key: Context, group: _Group) -> None:
        """Wake the first waiting send to lead the next group, or forget an idle group."""
        if group.leading:
            return
        if group.queue:
            group.queue[0].wake.set()
        elif self._groups.get(key) is group:
            del self._groups[key]

    def run_group(
        self, context: Context, request_id: str, messages: list[Outbound], *, touch: UUID | None = None
    ) -> list[Outcome]:
        """Submit ``messages`` of ``context`` (blocking): one transaction, else one per message;
        each transaction records the use of the API key ``touch`` (if given).

        The group's transaction carries the first send's request id (MDRs and the outbox carry no
        audit trail; the request log keeps every request)."""
        account_id = context.account_id
        if account_id is None:
            raise errors.InvalidMessage("account: staff cannot send; use a customer API key")
        ctx = Context(context.account_id, context.staff, context.actor_type, context.actor_id, request_id)
        counted: set[int] = set()
        indexed = list(enumerate(messages))
        try:
            outcomes = self._transaction(ctx, account_id, indexed, counted, touch)
        except CommitUnknown as lost:  # perhaps committed: sending again could duplicate
            return [lost] * len(messages)
        except Exception as exc:
            if len(messages) == 1:
                return [exc]
            outcomes = {}
            for one in indexed:  # the group failed as a whole: each message on its own
                try:
                    outcomes.update(self._transaction(ctx, account_id, [one], counted, touch))
                except Exception as own:
                    outcomes[one[0]] = own
        return [outcomes[i] for i in range(len(messages))]

    def _transaction(
        self,
        ctx: Context,
        account_id: UUID,
        todo: list[tuple[int, Outbound]],
        counted: set[int],
        touch: UUID | None,
    ) -> dict[int, Outcome]:
        """``todo`` (index, message) in one committed transaction. The limiter counts each queued
        message once (its index joins ``counted``); the messages over a limit are refused and the
        transaction is run again without them."""
        outcomes: dict[int, Outcome] = {}
        while todo:
            with self.pool.connection() as conn:  # rolls back on error
                tenant.apply(conn, ctx)
                if touch is not None:
                    api_keys.touch_last_used(conn, touch)
                results = send_messages(conn, account_id=account_id, messages=[m for _, m in todo])
                over: dict[int, Outcome] = {}
                for (i, _), result in zip(todo, results, strict=True):
                    if isinstance(result, Submitted) and result.result == "queued" and i not in counted:
                        try:
                            self.limiter.admit(account_id, result)
                        except errors.ThroughputExceeded as exc:
                            over[i] = exc
                        else:
                            counted.add(i)
                if over:
                    conn.rollback()
                    outcomes.update(over)
                    todo = [(i, m) for i, m in todo if i not in over]
                    continue
                try:
                    conn.commit()
                except Exception as exc:
                    if conn.broken:  # no answer to COMMIT: the transaction may have committed
                        raise CommitUnknown(
                            "the connection was lost during COMMIT; the outcome is unknown"
                        ) from exc
                    raise  # the server refused the commit: rolled back, safe to send again
            outcomes.update((i, result) for (i, _), result in zip(todo, results, strict=True))
            break
        return outcomes
