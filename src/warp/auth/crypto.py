"""Symmetric encryption of small secrets the application must read back (TOTP seeds)."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken

from warp.auth.errors import TotpError
from warp.auth.policy import AuthPolicy


def encrypt(policy: AuthPolicy, plaintext: str) -> bytes:
    return Fernet(policy.fernet_key()).encrypt(plaintext.encode())


def decrypt(policy: AuthPolicy, ciphertext: bytes) -> str:
    try:
        return Fernet(policy.fernet_key()).decrypt(bytes(ciphertext)).decode()
    except InvalidToken as exc:
        raise TotpError(
            "totp: the stored seed cannot be decrypted with the configured WARP_SECRET_KEY"
        ) from exc
