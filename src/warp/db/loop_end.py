"""End a synchronous psycopg connection's transaction from the asyncio event loop.

The API runs handlers (synchronous service code) in a worker thread, but the COMMIT that follows
mostly waits: for a write, on the server's WAL flush (~1-4 ms on this machine's disk). Sending
it and waiting for the answer on the event loop frees the thread for the next request meanwhile,
so one handler thread per process still keeps many commits in flight (group commit), and fewer
threads contend for the GIL (ADR 0007).

Written against libpq's asynchronous API as psycopg exposes it publicly (``psycopg.pq``): send the
command, flush, wait for readability, consume, read results until none is left. psycopg's
``Connection`` reads the transaction state from libpq, so it sees the transaction as ended.
"""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
from psycopg import pq
from psycopg.errors import error_from_result

_IDLE = pq.TransactionStatus.IDLE


async def end_transaction(conn: psycopg.Connection[Any], commit: bool) -> None:
    """COMMIT (or ROLLBACK) ``conn``'s open transaction without blocking the event loop.

    Like ``conn.commit()``: nothing is sent when no transaction is open; a COMMIT of a failed
    transaction rolls it back (the server answers ROLLBACK); an error the server reports for the
    COMMIT (a deferred constraint, a serialization failure) is raised as psycopg's exception for
    it, after the connection is back in a clean state."""
    pgconn = conn.pgconn
    if pgconn.transaction_status == _IDLE:
        return
    loop = asyncio.get_running_loop()
    fd = pgconn.socket
    pgconn.send_query(b"COMMIT" if commit else b"ROLLBACK")
    while pgconn.flush():  # 1: part of the command is still to be sent
        await _ready(loop, fd, write=True)
    error: psycopg.Error | None = None
    while True:
        pgconn.consume_input()
        while not pgconn.is_busy():
            result = pgconn.get_result()
            if result is None:
                if error is not None:
                    raise error
                return
            if result.status == pq.ExecStatus.FATAL_ERROR and error is None:
                error = error_from_result(result, encoding=conn.info.encoding)
        await _ready(loop, fd, write=False)


async def _ready(loop: asyncio.AbstractEventLoop, fd: int, *, write: bool) -> None:
    """Wait until ``fd`` is readable (or writable)."""
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    if write:
        loop.add_writer(fd, wake)
    else:
        loop.add_reader(fd, wake)
    try:
        await ready
    finally:
        if write:
            loop.remove_writer(fd)
        else:
            loop.remove_reader(fd)
