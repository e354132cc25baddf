"""Every API request goes to audit.api_request_log, off the request's critical path.

An ASGI middleware records each request (principal, status, latency, and JSON bodies of writes and
errors, with known secret fields masked here and again by the SQL sanitizer) onto a queue; a
background thread writes batches through ``audit.log_api_requests`` every ``interval`` seconds or
``batch_size`` rows. A full queue drops entries (counted) rather than slow requests down.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import logging
import queue
import re
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from warp.db import tenant

log = logging.getLogger("warp.api.request_log")

MAX_BODY = 16 * 1024
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
SECRET_FIELDS = re.compile(
    r"(password|passwd|secret|token|key|codes?|otp|authorization|credential|uri)$", re.I
)
SAFE_FIELDS = {"flag_key", "idempotency_key", "key_prefix", "prefix", "country_code", "status_code"}
TOKEN_VALUE = re.compile(r"^(warp_[A-Za-z0-9]+_[A-Za-z0-9]+|wsess_[A-Za-z0-9_-]+)$")
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
SYSTEM = tenant.Context(staff=True, actor_type="SYSTEM")


def redact(value: Any) -> Any:
    """``value`` with secret-named fields and token-shaped strings masked."""
    if isinstance(value, dict):
        return {
            k: "[REDACTED]" if (SECRET_FIELDS.search(str(k)) and str(k) not in SAFE_FIELDS) else redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v) for v in value]
    if isinstance(value, str) and TOKEN_VALUE.match(value):
        return "[REDACTED]"
    return value


def _json_body(raw: bytes) -> Any:
    if not raw or len(raw) > MAX_BODY:
        return None
    try:
        return redact(json.loads(raw))
    except (ValueError, UnicodeDecodeError):
        return None


class RequestLogWriter:
    """Background batch writer of request-log entries."""

    def __init__(
        self,
        pool: ConnectionPool[Any],
        *,
        interval: float = 0.2,
        batch_size: int = 500,
        max_queue: int = 50_000,
    ) -> None:
        self.pool = pool
        self.interval = interval
        self.batch_size = batch_size
        self.queue: queue.Queue[dict[str, Any]] = queue.Queue(maxsize=max_queue)
        self.dropped = 0
        self.written = 0
        self._stop = threading.Event()
        self._flush_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="warp-request-log", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.flush()

    def add(self, entry: dict[str, Any]) -> None:
        try:
            self.queue.put_nowait(entry)
        except queue.Full:
            self.dropped += 1

    def flush(self) -> int:
        """Write everything queued now; return how many entries were written."""
        total = 0
        with self._flush_lock:
            while True:
                batch: list[dict[str, Any]] = []
                while len(batch) < self.batch_size:
                    try:
                        batch.append(self.queue.get_nowait())
                    except queue.Empty:
                        break
                if not batch:
                    return total
                try:
                    with self.pool.connection() as conn, tenant.transaction(conn, SYSTEM):
                        conn.execute("SELECT audit.log_api_requests(%s)", (Jsonb(batch),))
                    total += len(batch)
                    self.written += len(batch)
                except Exception:
                    log.exception("could not write %d request-log entries", len(batch))
                    return total

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.flush()


class RequestLogMiddleware:
    """Assigns the request id (``X-Request-ID``), times the request, and queues its log entry."""

    def __init__(self, app: ASGIApp, writer_getter: Any) -> None:
        self.app = app
        self.writer_getter = writer_getter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        requested_at = datetime.now(UTC)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        incoming = headers.get("x-request-id", "")
        request_id = incoming if REQUEST_ID_RE.match(incoming) else str(uuid.uuid4())
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        method = scope.get("method", "GET")
        capture = method in WRITE_METHODS
        request_body = bytearray()
        response_body = bytearray()
        status = 500

        async def receive_wrapper() -> Message:
            message = await receive()
            if capture and message["type"] == "http.request" and len(request_body) <= MAX_BODY:
                request_body.extend(message.get("body", b""))
            return message

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            elif (
                message["type"] == "http.response.body"
                and (capture or status >= 400)
                and len(response_body) <= MAX_BODY
            ):
                response_body.extend(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive_wrapper, send_wrapper)
        finally:
            writer: RequestLogWriter | None = self.writer_getter()
            if writer is not None and method in {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}:
                principal = state.get("principal")
                client = scope.get("client")
                writer.add(
                    {
                        "requested_at": requested_at.isoformat(),
                        "method": method,
                        "path": scope.get("path", "")[:2000],
                        "status_code": status,
                        "latency_ms": round((time.perf_counter() - started) * 1000, 3),
                        "account_id": _str(getattr(principal, "account_id", None)),
                        "api_key_id": _str(getattr(principal, "api_key_id", None)),
                        "user_id": _str(getattr(principal, "user_id", None)),
                        "client_ip": valid_ip(client[0]) if client else None,
                        "request_id": request_id,
                        "user_agent": headers.get("user-agent", "")[:500] or None,
                        "request_body": _json_body(bytes(request_body)) if capture else None,
                        "response_body": _json_body(bytes(response_body)),
                    }
                )


@functools.lru_cache(maxsize=4096)
def valid_ip(value: str | None) -> str | None:
    """``value`` when it is an IP address, else None (test clients report names).

    Called twice per request with the peer address: memoised (a pure function of a short string)."""
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def _str(value: Any) -> str | None:
    return None if value is None else str(value)
