"""Secret references for webhook signing and vendor credentials: never a secret in clear in the database.

A reference is one of ``enc:<token>`` (Fernet-encrypted with the key derived from WARP_SECRET_KEY),
``env:NAME`` (an environment variable) or ``file:/path`` (a file's content, trimmed).
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from warp.auth.policy import AuthPolicy
from warp.messaging.errors import SecretUnavailable

PREFIXES = ("enc:", "env:", "file:")


def encrypt_secret(policy: AuthPolicy, secret: str) -> str:
    """An ``enc:`` reference holding ``secret`` encrypted with the platform key."""
    return "enc:" + Fernet(policy.fernet_key()).encrypt(secret.encode()).decode()


def resolve_secret(policy: AuthPolicy, ref: str | None) -> str:
    """The secret behind a reference; SecretUnavailable when it cannot be read."""
    if not ref:
        raise SecretUnavailable("secret_ref: none configured")
    if ref.startswith("enc:"):
        try:
            return Fernet(policy.fernet_key()).decrypt(ref[4:].encode()).decode()
        except InvalidToken as exc:
            raise SecretUnavailable(
                "secret_ref: cannot be decrypted with the configured WARP_SECRET_KEY"
            ) from exc
    if ref.startswith("env:"):
        value = os.environ.get(ref[4:])
        if not value:
            raise SecretUnavailable(f"secret_ref: environment variable {ref[4:]} is not set")
        return value
    if ref.startswith("file:"):
        try:
            return Path(ref[5:]).read_text().strip()
        except OSError as exc:
            raise SecretUnavailable(f"secret_ref: cannot read {ref[5:]}") from exc
    raise SecretUnavailable("secret_ref: unsupported scheme (use enc:, env: or file:)")
