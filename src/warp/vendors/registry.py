"""Provider plugins: classes registered under the entry point group ``warp.providers``.

A plugin declares its ``provider_type`` (the entry point name, stored in
vendor_mgmt.service_providers.provider_type), the ``capabilities`` it can serve, and a pydantic
``Config`` model that validates the row's ``config`` when it is saved. Credentials in a config are
:data:`warp.vendors.secrets.SecretRef` fields (references, resolved only at use through the
:class:`~warp.vendors.secrets.SecretResolver` the plugin is built with).

Third-party packages add plugins in their own ``pyproject.toml``::

    [project.entry-points."warp.providers"]
    acme-lrn = "acme_warp.lrn:AcmeLrnProvider"
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any, ClassVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, ValidationError

from warp.vendors.errors import InvalidProviderConfig, UnknownProviderType
from warp.vendors.secrets import SecretResolver, clear_secrets

GROUP = "warp.providers"
CAPABILITIES = (
    "lrn_lookup",
    "sms",
    "mms",
    "number_ordering",
    "e911",
    "cnam",
    "tax",
    "tollfree",
    "porting",
    "10dlc",
)


class ProviderConfig(BaseModel):
    """Base of every plugin's config schema: unknown keys are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ProviderPlugin:
    """Base class of provider plugins; capability methods (``lookup``, ``send``...) live in subclasses."""

    provider_type: ClassVar[str]
    capabilities: ClassVar[frozenset[str]]
    Config: ClassVar[type[ProviderConfig]] = ProviderConfig
    description: ClassVar[str] = ""

    def __init__(self, *, id: UUID, name: str, config: ProviderConfig, secrets: SecretResolver) -> None:
        self.id = id
        self.name = name
        self.config = config
        self.secrets = secrets

    def health_check(self) -> None:
        """Raise ProviderFailure when the provider cannot serve (default: its secrets resolve)."""
        for field in type(self.config).model_fields:
            value = getattr(self.config, field)
            if field.endswith("_ref") and value:
                self.secrets.resolve(value)


_extra: dict[str, type[ProviderPlugin]] = {}
_cache: dict[str, type[ProviderPlugin]] | None = None


def register_plugin(cls: type[ProviderPlugin]) -> type[ProviderPlugin]:
    """Register a plugin in-process (tests, embedding); entry points are the normal way."""
    _extra[cls.provider_type] = cls
    return cls


def plugins() -> dict[str, type[ProviderPlugin]]:
    """Every known plugin by provider type: entry points of ``warp.providers`` plus in-process ones."""
    global _cache
    if _cache is None:
        found: dict[str, type[ProviderPlugin]] = {}
        for ep in entry_points(group=GROUP):
            cls = ep.load()
            if isinstance(cls, type) and issubclass(cls, ProviderPlugin):
                found[ep.name] = cls
        _cache = found
    return {**_cache, **_extra}


def plugin_for(provider_type: str) -> type[ProviderPlugin]:
    """The plugin class of ``provider_type``; UnknownProviderType when none is registered."""
    known = plugins()
    try:
        return known[provider_type]
    except KeyError:
        raise UnknownProviderType(
            f"provider_type: no plugin {provider_type!r} in entry point group {GROUP} "
            f"(known: {', '.join(sorted(known)) or 'none'})"
        ) from None


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or "(root)"
        parts.append(f"config.{where}: {error['msg']}")
    return "; ".join(parts)


def validate_config(
    provider_type: str, capabilities: list[str], config: Mapping[str, Any]
) -> tuple[type[ProviderPlugin], ProviderConfig]:
    """Check a provider row before it is saved: known plugin, capabilities it serves, config schema, no clear secrets."""
    cls = plugin_for(provider_type)
    if not capabilities:
        raise InvalidProviderConfig("capabilities: at least one is required")
    unknown = sorted(set(capabilities) - set(CAPABILITIES))
    if unknown:
        raise InvalidProviderConfig(
            f"capabilities: unknown {', '.join(unknown)} (known: {', '.join(CAPABILITIES)})"
        )
    unsupported = sorted(set(capabilities) - cls.capabilities)
    if unsupported:
        raise InvalidProviderConfig(
            f"capabilities: {provider_type} does not offer {', '.join(unsupported)} "
            f"(it offers {', '.join(sorted(cls.capabilities))})"
        )
    leaked = clear_secrets(dict(config))
    if leaked:
        raise InvalidProviderConfig(
            f"{', '.join(leaked)}: credentials must be references (env:NAME, file:/path, secret:NAME), not values"
        )
    try:
        parsed = cls.Config.model_validate(dict(config))
    except ValidationError as exc:
        raise InvalidProviderConfig(_describe(exc)) from None
    return cls, parsed


def build(row: Mapping[str, Any], secrets: SecretResolver) -> ProviderPlugin:
    """An instance of the plugin behind a service_providers row (config re-validated)."""
    cls, config = validate_config(row["provider_type"], list(row["capabilities"]), row["config"])
    return cls(id=row["id"], name=row["name"], config=config, secrets=secrets)


def timed(call: Any) -> tuple[float, Any]:
    """Run ``call()``; its duration in milliseconds and its result."""
    start = time.perf_counter()
    result = call()
    return (time.perf_counter() - start) * 1000, result
