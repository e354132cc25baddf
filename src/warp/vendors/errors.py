"""Errors of the vendor management domain."""

from __future__ import annotations

from warp.errors import WarpError


class InvalidProviderConfig(WarpError):
    """A service provider's configuration does not match its plugin's schema."""

    code = "invalid-provider-config"


class UnknownProviderType(WarpError):
    """No plugin is registered (entry point group ``warp.providers``) under that provider type."""

    code = "invalid-provider-type"


class ProviderNotFound(WarpError):
    """No service provider with that name."""

    code = "provider-not-found"


class DuplicateProvider(WarpError):
    """A service provider with that name exists already."""

    code = "duplicate-provider"


class SecretUnavailable(WarpError):
    """A secret reference cannot be resolved (unset variable, unreadable file, unknown secret)."""

    code = "secret-unavailable"


class ProviderFailure(WarpError):
    """A provider call failed (network, vendor error, misconfiguration); failover moves on."""

    code = "provider-failure"


class NoProviderAvailable(WarpError):
    """Every enabled provider of a capability failed, or none is configured."""

    code = "no-provider-available"
    http_status = 503


class VendorNotFound(WarpError):
    """No vendor with that id or name."""

    code = "vendor-not-found"


class DuplicateVendor(WarpError):
    """A vendor with that name exists already."""

    code = "duplicate-vendor"


class InvalidVendor(WarpError):
    """A vendor's fields are refused (type, status, phone, e-mail...)."""

    code = "invalid-vendor"


class ContractNotFound(WarpError):
    """No contract with that id (for that vendor)."""

    code = "contract-not-found"


class InvalidContract(WarpError):
    """A contract's fields are refused (dates, commitment, status...)."""

    code = "invalid-contract"


class CarrierNotFound(WarpError):
    """No carrier with that id."""

    code = "carrier-not-found"


class InvalidSla(WarpError):
    """An SLA's fields are refused (metric, target range, carrier/contract of another vendor...)."""

    code = "invalid-sla"


class SlaNotFound(WarpError):
    """No SLA with that id (for that vendor)."""

    code = "sla-not-found"


class IncidentNotFound(WarpError):
    """No vendor incident with that id."""

    code = "vendor-incident-not-found"


class InvalidIncidentStatus(WarpError):
    """A vendor incident cannot move to that status from its current one."""

    code = "invalid-incident-status"


class InvalidPeriod(WarpError):
    """A reporting period is empty, reversed or too long."""

    code = "invalid-period"
