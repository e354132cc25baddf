"""Auth and rate-limit settings, read from the environment (documented in README.md)."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from warp.errors import ConfigError

MIN_BCRYPT_ROUNDS = 12


@dataclass(frozen=True)
class AuthPolicy:
    """Every tunable of authentication, lockout, sessions and rate limiting."""

    max_failed_logins: int = 5
    lockout_seconds: int = 900
    session_idle_seconds: int = 1800
    session_absolute_seconds: int = 12 * 3600
    bcrypt_rounds: int = MIN_BCRYPT_ROUNDS
    rate_per_second: int = 50
    rate_per_minute: int = 1000
    rate_per_hour: int = 20000
    login_per_minute_per_ip: int = 10
    # Seconds a verified API key is served from the in-process cache (0: look it up every request).
    # load_policy() defaults WARP_AUTH_CACHE_SECONDS to 5; a policy built in code has it off.
    api_key_cache_seconds: float = 0
    redis_url: str | None = None
    secret_key: str | None = None
    home: Path = Path(".warp")

    def __post_init__(self) -> None:
        if self.bcrypt_rounds < MIN_BCRYPT_ROUNDS:
            raise ConfigError(f"WARP_BCRYPT_ROUNDS: must be at least {MIN_BCRYPT_ROUNDS}")
        if self.api_key_cache_seconds < 0:
            raise ConfigError("WARP_AUTH_CACHE_SECONDS: must not be negative")
        for name in ("max_failed_logins", "lockout_seconds", "session_idle_seconds", "rate_per_second"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name}: must be positive")
        if self.session_idle_seconds > self.session_absolute_seconds:
            raise ConfigError("WARP_SESSION_IDLE_SECONDS: must not exceed WARP_SESSION_MAX_SECONDS")

    def fernet_key(self) -> bytes:
        """The key that encrypts TOTP seeds: from WARP_SECRET_KEY, else a file made once under WARP_HOME."""
        material = self.secret_key
        if not material:
            path = self.home / "secret.key"
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as fh:
                    fh.write(secrets.token_urlsafe(32))
            material = path.read_text().strip()
        return base64.urlsafe_b64encode(hashlib.sha256(material.encode()).digest())


def _int(env: dict[str, str] | os._Environ[str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}: {raw!r} is not an integer") from exc


def load_policy(environ: dict[str, str] | None = None) -> AuthPolicy:
    """Build the policy from ``environ`` (default: the process environment)."""
    env = os.environ if environ is None else environ
    return AuthPolicy(
        max_failed_logins=_int(env, "WARP_LOGIN_MAX_FAILURES", 5),
        lockout_seconds=_int(env, "WARP_LOGIN_LOCKOUT_SECONDS", 900),
        session_idle_seconds=_int(env, "WARP_SESSION_IDLE_SECONDS", 1800),
        session_absolute_seconds=_int(env, "WARP_SESSION_MAX_SECONDS", 12 * 3600),
        bcrypt_rounds=_int(env, "WARP_BCRYPT_ROUNDS", MIN_BCRYPT_ROUNDS),
        rate_per_second=_int(env, "WARP_RATE_LIMIT_PER_SECOND", 50),
        rate_per_minute=_int(env, "WARP_RATE_LIMIT_PER_MINUTE", 1000),
        rate_per_hour=_int(env, "WARP_RATE_LIMIT_PER_HOUR", 20000),
        login_per_minute_per_ip=_int(env, "WARP_LOGIN_RATE_PER_MINUTE", 10),
        api_key_cache_seconds=_int(env, "WARP_AUTH_CACHE_SECONDS", 5),
        redis_url=env.get("WARP_REDIS_URL") or None,
        secret_key=env.get("WARP_SECRET_KEY") or None,
        home=Path(env.get("WARP_HOME", ".warp")).resolve(),
    )
