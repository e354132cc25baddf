"""Secret references: configuration names where a credential lives, never the credential itself.

A reference is ``env:NAME`` (environment variable), ``file:/path`` (a file's content, trimmed),
``secret:NAME`` (looked up in the pluggable secret store) or ``enc:<token>`` (Fernet-encrypted with
the platform key, the form messaging writes). References are resolved only at use, by a
:class:`SecretResolver`; the database holds only the reference. This is the one resolver of WARP:
provider credentials, vendor callback secrets and customer webhook signing secrets all go through it
(:func:`warp.messaging.secrets.resolve_secret` is a thin wrapper).

The store behind ``secret:`` is chosen by ``WARP_SECRET_BACKEND``: ``dir`` (default: one file per
secret under ``WARP_SECRETS_DIR``, default ``/run/secrets``, as Docker/Kubernetes mount them) or the
name of an entry point in group ``warp.secret_backends`` (a callable returning a :class:`SecretStore`,
e.g. a Vault or Google Secret Manager client).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Protocol

from cryptography.fernet import Fernet, InvalidToken
from pydantic import AfterValidator

from warp.vendors.errors import SecretUnavailable

if TYPE_CHECKING:
    from warp.auth.policy import AuthPolicy

REFERENCE = re.compile(r"^(env|file|secret|enc):.+$", re.DOTALL)
SECRET_KEY = re.compile(
    r"(password|passwd|secret|token|apikey|authorization|credential|privatekey|apisecret)", re.IGNORECASE
)


def is_reference(value: object) -> bool:
    """True for a string of the form ``env:``/``file:``/``secret:``/``enc:`` + something."""
    return isinstance(value, str) and bool(REFERENCE.match(value))


def _check_reference(value: str) -> str:
    if not is_reference(value):
        raise ValueError(
            "must be a secret reference (env:NAME, file:/path or secret:NAME), never the secret itself"
        )
    return value


SecretRef = Annotated[str, AfterValidator(_check_reference)]
"""A pydantic field type for credentials in provider configurations."""


def clear_secrets(config: object, path: str = "config") -> list[str]:
    """Paths of values under secret-looking keys that are not references (credentials in clear)."""
    found: list[str] = []
    if isinstance(config, Mapping):
        for key, value in config.items():
            where = f"{path}.{key}"
            normalised = re.sub(r"[^A-Za-z0-9]", "", str(key))
            if isinstance(value, str) and SECRET_KEY.search(normalised) and value and not is_reference(value):
                found.append(where)
            else:
                found.extend(clear_secrets(value, where))
    elif isinstance(config, list):
        for i, value in enumerate(config):
            found.extend(clear_secrets(value, f"{path}[{i}]"))
    return found


class SecretStore(Protocol):
    """Where ``secret:NAME`` references are looked up."""

    def get(self, name: str) -> str | None:
        """The secret called ``name``, or None when the store has none."""
        ...


SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


class DirectorySecretStore:
    """One file per secret in a directory (``/run/secrets/NAME``); ``a/b`` names a file in a subdirectory
    (``secret:webhooks/DEMO-ACME``). Names never escape the directory (no ``..``, no hidden files)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def get(self, name: str) -> str | None:
        parts = name.split("/")
        if not all(SEGMENT.fullmatch(part) for part in parts):
            return None
        try:
            return self.directory.joinpath(*parts).read_text().strip()
        except OSError:
            return None


class MappingSecretStore:
    """Secrets held in memory (tests, or a store filled by the process manager)."""

    def __init__(self, secrets: Mapping[str, str]) -> None:
        self.secrets = dict(secrets)

    def get(self, name: str) -> str | None:
        return self.secrets.get(name)


def default_store(environ: Mapping[str, str] | None = None) -> SecretStore:
    """The store named by ``WARP_SECRET_BACKEND`` (default ``dir``)."""
    env = os.environ if environ is None else environ
    backend = env.get("WARP_SECRET_BACKEND", "dir")
    if backend == "dir":
        return DirectorySecretStore(Path(env.get("WARP_SECRETS_DIR", "/run/secrets")))
    for ep in entry_points(group="warp.secret_backends"):
        if ep.name == backend:
            store: SecretStore = ep.load()()
            return store
    raise SecretUnavailable(f"WARP_SECRET_BACKEND={backend}: no such secret backend (dir, or an entry point)")


class SecretResolver:
    """Turns references into secrets at the moment they are used."""

    def __init__(
        self,
        store: SecretStore | None = None,
        environ: Mapping[str, str] | None = None,
        policy: AuthPolicy | None = None,
    ) -> None:
        self._store = store
        self._environ = environ
        self._policy = policy

    @property
    def store(self) -> SecretStore:
        if self._store is None:
            self._store = default_store(self._environ)
        return self._store

    def resolve(self, ref: str | None) -> str:
        """The secret behind ``ref``; SecretUnavailable when it cannot be read."""
        if not ref or not is_reference(ref):
            raise SecretUnavailable(
                "secret reference: none configured, or not of the form env:/file:/secret:/enc:"
            )
        scheme, _, rest = ref.partition(":")
        if scheme == "env":
            value = (os.environ if self._environ is None else self._environ).get(rest)
            if not value:
                raise SecretUnavailable(f"secret reference env:{rest}: the variable is not set")
            return value
        if scheme == "file":
            try:
                return Path(rest).read_text().strip()
            except OSError as exc:
                raise SecretUnavailable(f"secret reference file:{rest}: cannot be read") from exc
        if scheme == "secret":
            found = self.store.get(rest)
            if not found:
                raise SecretUnavailable(f"secret reference secret:{rest}: not in the secret store")
            return found
        return self._decrypt(rest)

    def _decrypt(self, token: str) -> str:
        if self._policy is None:
            from warp.auth.policy import load_policy

            self._policy = load_policy()
        try:
            return Fernet(self._policy.fernet_key()).decrypt(token.encode()).decode()
        except (InvalidToken, ValueError) as exc:
            raise SecretUnavailable(
                "secret reference enc:…: cannot be decrypted with the configured WARP_SECRET_KEY"
            ) from exc
