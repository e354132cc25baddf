"""SMS/MMS vendors behind one small interface, configured in vendor_mgmt.service_providers.

``provider_type`` picks the implementation: ``http`` posts each message as JSON to ``config.url``
(optional bearer token from ``config.auth_token_ref``) and reads the vendor's id from the JSON answer
``{"id": ...}``; ``loopback`` accepts everything in-process (tests, demo, benchmarks). Vendor
callbacks are authenticated with ``config.callback_secret_ref``: the vendor signs
``"{timestamp}.{raw body}"`` exactly like WARP's own webhooks (``X-Warp-Timestamp``/``X-Warp-Signature``).
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from warp.auth.policy import AuthPolicy
from warp.messaging.errors import ProviderNotFound, SecretUnavailable
from warp.messaging.secrets import resolve_secret
from warp.vendors.secrets import SecretResolver


@dataclass(frozen=True)
class OutboundMessage:
    """What a vendor needs to carry one message."""

    id: UUID
    created_at: datetime
    message_type: str
    from_number: str
    to_number: str
    body: str | None
    media_urls: list[str]


class ProviderError(Exception):
    """The vendor refused or could not be reached; ``code`` goes to the MDR's error_code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class SmsProvider(Protocol):
    """A vendor that carries messages; returns the vendor's message id."""

    id: UUID
    name: str

    def send(self, message: OutboundMessage) -> str: ...


@dataclass
class LoopbackProvider:
    """Accepts every message in-process and remembers it (no network)."""

    id: UUID
    name: str
    config: dict[str, Any] = field(default_factory=dict)
    sent: list[OutboundMessage] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, message: OutboundMessage) -> str:
        if self.config.get("fail_to") == message.to_number:
            raise ProviderError("vendor-rejected", f"loopback refuses messages to {message.to_number}")
        with self._lock:
            self.sent.append(message)
        return f"loop-{message.id}"


@dataclass
class HttpProvider:
    """Posts each message as JSON to the configured URL.

    2xx with ``{"id": ...}``: accepted (the id is the vendor's message reference). Any other status,
    a connection error or no answer within ``config.timeout`` seconds raises ProviderError
    (``vendor-http-<status>``, ``vendor-unreachable``/``vendor-timeout``, ``vendor-bad-answer``); the
    dispatcher then fails over to the next provider. The JSON carries WARP's message ``id`` so a vendor
    can deduplicate a message sent twice (delivery to vendors is at least once).
    """

    id: UUID
    name: str
    config: dict[str, Any]
    policy: AuthPolicy | None = None
    secrets: SecretResolver | None = None

    def send(self, message: OutboundMessage) -> str:
        url = str(self.config.get("url") or "")
        if not url.startswith(("http://", "https://")):
            raise ProviderError("vendor-misconfigured", f"provider {self.name}: config.url must be http(s)")
        payload = json.dumps(
            {
                "id": str(message.id),
                "type": message.message_type,
                "from": message.from_number,
                "to": message.to_number,
                "body": message.body,
                "media_urls": message.media_urls,
            }
        ).encode()
        headers = {"Content-Type": "application/json"}
        if self.config.get("auth_token_ref"):
            try:
                token = resolve_secret(self.policy, self.config["auth_token_ref"], self.secrets)
            except SecretUnavailable as exc:
                raise ProviderError("vendor-misconfigured", f"provider {self.name}: {exc.message}") from exc
            headers["Authorization"] = "Bearer " + token
        request = urllib.request.Request(url, data=payload, headers=headers, method="POST")  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=float(self.config.get("timeout", 10))) as response:  # noqa: S310
                answer = json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            raise ProviderError(
                f"vendor-http-{exc.code}", f"provider {self.name} answered {exc.code}"
            ) from exc
        except TimeoutError as exc:
            raise ProviderError(
                "vendor-timeout", f"provider {self.name}: no answer within {self.config.get('timeout', 10)} s"
            ) from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise ProviderError(
                    "vendor-timeout",
                    f"provider {self.name}: no answer within {self.config.get('timeout', 10)} s",
                ) from exc
            raise ProviderError("vendor-unreachable", f"provider {self.name}: {exc.reason}") from exc
        except OSError as exc:
            raise ProviderError("vendor-unreachable", f"provider {self.name}: {exc}") from exc
        except ValueError as exc:
            raise ProviderError("vendor-bad-answer", f"provider {self.name}: answer is not JSON") from exc
        ref = answer.get("id") if isinstance(answer, dict) else None
        if not ref:
            raise ProviderError("vendor-bad-answer", f"provider {self.name}: answer has no id")
        return str(ref)[:128]


def build_provider(
    row: dict[str, Any], policy: AuthPolicy, secrets: SecretResolver | None = None
) -> SmsProvider:
    """The implementation of a service_providers row."""
    kind = row["provider_type"]
    if kind == "loopback":
        return LoopbackProvider(id=row["id"], name=row["name"], config=dict(row["config"]))
    if kind == "http":
        return HttpProvider(
            id=row["id"], name=row["name"], config=dict(row["config"]), policy=policy, secrets=secrets
        )
    raise ProviderNotFound(f"provider {row['name']}: unknown provider_type {kind!r} (http, loopback)")
