"""Built-in provider plugins (registered as entry points in WARP's own pyproject.toml).

- ``loopback``: SMS/MMS accepted in-process (tests, demo, benchmarks); ``fail_to`` refuses one number,
  ``fail`` makes every call (and the health check) fail.
- ``http``: SMS/MMS posted as JSON to ``url`` (see :mod:`warp.messaging.providers`).
- ``local-lrn``: an LRN source answering from its configured ``ported`` map; ``fail`` makes it fail.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import Field, field_validator

from warp.messaging.providers import HttpProvider, LoopbackProvider, OutboundMessage, ProviderError
from warp.vendors.errors import ProviderFailure
from warp.vendors.registry import ProviderConfig, ProviderPlugin
from warp.vendors.secrets import SecretRef

E164 = r"^\+[1-9][0-9]{1,14}$"


class LoopbackConfig(ProviderConfig):
    fail_to: str | None = Field(default=None, pattern=E164)
    fail: bool = False
    callback_secret_ref: SecretRef | None = None


class LoopbackSms(ProviderPlugin):
    """Accepts every message in-process."""

    provider_type = "loopback"
    capabilities = frozenset({"sms", "mms"})
    Config = LoopbackConfig
    description = "In-process SMS/MMS sink for tests and the demo."

    def _impl(self) -> LoopbackProvider:
        config = self.config
        assert isinstance(config, LoopbackConfig)
        return LoopbackProvider(id=self.id, name=self.name, config=config.model_dump(exclude_none=True))

    def health_check(self) -> None:
        assert isinstance(self.config, LoopbackConfig)
        if self.config.fail:
            raise ProviderFailure(f"provider {self.name}: configured to fail")
        super().health_check()

    def send(self, message: OutboundMessage) -> str:
        """Carry one message; the vendor's message id."""
        self.health_check()
        try:
            return self._impl().send(message)
        except ProviderError as exc:
            raise ProviderFailure(f"provider {self.name}: {exc.message}") from exc


class HttpConfig(ProviderConfig):
    url: str = Field(pattern=r"^https?://[^\s]+$")
    auth_token_ref: SecretRef | None = None
    callback_secret_ref: SecretRef | None = None
    timeout: float = Field(default=10, gt=0, le=120)


class HttpSms(ProviderPlugin):
    """Posts each message as JSON to the vendor's URL."""

    provider_type = "http"
    capabilities = frozenset({"sms", "mms"})
    Config = HttpConfig
    description = "SMS/MMS vendor reached over HTTPS (JSON in, {id} out)."

    def send(self, message: OutboundMessage) -> str:
        """Carry one message; the vendor's message id."""
        impl = HttpProvider(
            id=self.id, name=self.name, config=self.config.model_dump(exclude_none=True), secrets=self.secrets
        )
        try:
            return impl.send(message)
        except ProviderError as exc:
            raise ProviderFailure(f"provider {self.name}: {exc.message}") from exc


class LocalLrnConfig(ProviderConfig):
    ported: dict[str, str] = Field(default_factory=dict)
    fail: bool = False
    api_key_ref: SecretRef | None = None

    @field_validator("ported")
    @classmethod
    def _e164(cls, value: dict[str, str]) -> dict[str, str]:
        import re

        bad = [k for k, v in value.items() if not re.match(E164, k) or not re.match(E164, v)]
        if bad:
            raise ValueError(f"numbers and LRNs must be E.164 (+15551234567): {', '.join(bad[:5])}")
        return value


class LocalLrn(ProviderPlugin):
    """An LRN source answering from its configuration (serves :class:`warp.cdr.reference.LrnProvider`)."""

    provider_type = "local-lrn"
    capabilities: ClassVar[frozenset[str]] = frozenset({"lrn_lookup"})
    Config = LocalLrnConfig
    description = "LRN look-ups answered from a configured map of ported numbers."

    def health_check(self) -> None:
        assert isinstance(self.config, LocalLrnConfig)
        if self.config.fail:
            raise ProviderFailure(f"provider {self.name}: configured to fail")
        super().health_check()

    def lookup(self, numbers: list[str]) -> Mapping[str, str | None]:
        """LRN per number (None: not ported)."""
        self.health_check()  # resolves api_key_ref at use, like a real dip would
        assert isinstance(self.config, LocalLrnConfig)
        ported: dict[str, Any] = self.config.ported
        return {n: ported.get(n) for n in numbers}
