"""Secret references for webhook signing and vendor credentials: never a secret in clear in the database.

A reference is one of ``enc:<token>`` (Fernet-encrypted with the key derived from WARP_SECRET_KEY),
``env:NAME`` (an environment variable), ``file:/path`` (a file's content, trimmed) or
``secret:NAME`` (the pluggable secret store: ``WARP_SECRET_BACKEND``, by default one file per
secret under ``WARP_SECRETS_DIR``). Resolution is the one of vendor management,
:class:`warp.vendors.secrets.SecretResolver`; this module only adds encryption and the messaging
error type.
"""

from __future__ import annotations

from cryptography.fernet import Fernet

from warp.auth.policy import AuthPolicy
from warp.messaging.errors import SecretUnavailable
from warp.vendors.errors import SecretUnavailable as VendorSecretUnavailable
from warp.vendors.secrets import SecretResolver, is_reference

PREFIXES = ("enc:", "env:", "file:", "secret:")


def encrypt_secret(policy: AuthPolicy, secret: str) -> str:
    """An ``enc:`` reference holding ``secret`` encrypted with the platform key."""
    return "enc:" + Fernet(policy.fernet_key()).encrypt(secret.encode()).decode()


def check_reference(ref: str, field: str = "secret_ref") -> str:
    """``ref`` when it is a reference of a supported scheme; InvalidMessage naming ``field`` otherwise."""
    from warp.messaging.errors import InvalidMessage

    if not ref.startswith(PREFIXES) or not is_reference(ref):
        raise InvalidMessage(f"{field}: must be enc:, env:NAME, file:/path or secret:NAME")
    return ref


def resolve_secret(policy: AuthPolicy | None, ref: str | None, secrets: SecretResolver | None = None) -> str:
    """The secret behind a reference; SecretUnavailable (naming the reference, never the secret) when
    it cannot be read. ``secrets`` is the resolver to use (default: the configured store, with
    ``policy``'s key for ``enc:``)."""
    if not ref:
        raise SecretUnavailable("secret_ref: none configured")
    resolver = secrets if secrets is not None else SecretResolver(policy=policy)
    try:
        return resolver.resolve(ref)
    except VendorSecretUnavailable as exc:
        raise SecretUnavailable(exc.message) from exc
