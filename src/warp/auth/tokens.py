"""Secrets WARP hands out: API keys and session tokens, and how they are hashed for storage."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from dataclasses import dataclass

import bcrypt

API_KEY_RE = re.compile(r"^warp_([A-Za-z0-9]{4,32})_([A-Za-z0-9]{16,128})$")
SESSION_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,256}$")
SESSION_TOKEN_PREFIX = "wsess_"  # noqa: S105 - a public marker, not a secret
_ALPHABET = string.ascii_letters + string.digits


def sha256_hex(value: str) -> str:
    """Lowercase hex SHA-256 of ``value`` (UTF-8)."""
    return hashlib.sha256(value.encode()).hexdigest()


def same_hash(a: str, b: str) -> bool:
    """Constant-time equality of two hex digests."""
    return hmac.compare_digest(a.strip().lower().encode(), b.strip().lower().encode())


def _random(n: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(n))


@dataclass(frozen=True)
class NewApiKey:
    """A freshly generated key: ``key`` is shown once; only ``prefix`` and ``key_hash`` are stored."""

    key: str
    prefix: str
    key_hash: str


def generate_api_key() -> NewApiKey:
    """A new ``warp_<prefix>_<secret>`` key (12-char prefix, 40-char secret, ~238 bits)."""
    prefix, secret = _random(12), _random(40)
    key = f"warp_{prefix}_{secret}"
    return NewApiKey(key=key, prefix=prefix, key_hash=sha256_hex(key))


def parse_api_key(value: str) -> str | None:
    """The prefix of a well-formed API key, else None."""
    match = API_KEY_RE.match(value)
    return match.group(1) if match else None


def generate_session_token() -> str:
    """An opaque session token (256 random bits)."""
    return SESSION_TOKEN_PREFIX + secrets.token_urlsafe(32)


def is_session_token(value: str) -> bool:
    """Whether ``value`` could be a session token (anything token-shaped that is not an API key)."""
    return not value.startswith("warp_") and SESSION_TOKEN_RE.match(value) is not None


def hash_password(password: str, rounds: int) -> str:
    """bcrypt hash of ``password`` (bcrypt reads at most 72 bytes: longer input is pre-hashed)."""
    return bcrypt.hashpw(_bcrypt_input(password), bcrypt.gensalt(rounds=rounds)).decode()


def check_password(password: str, password_hash: str | None) -> bool:
    """Whether ``password`` matches; with no hash, spends the same time and returns False."""
    if not password_hash:
        bcrypt.checkpw(b"not the password", _DUMMY_HASH)
        return False
    try:
        return bcrypt.checkpw(_bcrypt_input(password), password_hash.encode())
    except ValueError:
        return False


def _bcrypt_input(password: str) -> bytes:
    raw = password.encode()
    if len(raw) > 72:
        raw = hashlib.sha256(raw).hexdigest().encode()
    return raw


_DUMMY_HASH = bcrypt.hashpw(b"dummy password for timing", bcrypt.gensalt(rounds=12))


def generate_backup_codes(n: int = 10) -> list[str]:
    """One-time MFA backup codes (10 chars each, ~59 bits)."""
    return [_random(10) for _ in range(n)]


def hash_backup_code(user_id: str, code: str) -> str:
    """Hash stored for a backup code, salted with the user id."""
    return sha256_hex(f"{user_id}:{code.strip()}")
