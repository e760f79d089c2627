"""Secrets at rest: MultiFernet over the comma-separated ENCRYPTION_KEY.

The first key encrypts; every key decrypts, so an operator rotates by putting a new key
first, running `python -m storage.rotate_keys`, then dropping the old one.
"""

from __future__ import annotations

import json

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class SecretUnreadable(ValueError):
    """A stored secret no key in ENCRYPTION_KEY opens: a key dropped before
    `storage.rotate_keys` ran, or a damaged row."""


class SecretBox:
    def __init__(self, keys: str) -> None:
        self._fernet = MultiFernet([Fernet(k.strip()) for k in keys.split(",") if k.strip()])

    def seal(self, secret: str) -> bytes:
        return self._fernet.encrypt(secret.encode())

    def open(self, sealed: bytes) -> str:
        try:
            return self._fernet.decrypt(sealed).decode()
        except InvalidToken:
            # Never include the ciphertext or the key in the message.
            raise SecretUnreadable(
                "a stored secret cannot be decrypted with ENCRYPTION_KEY"
            ) from None

    def seal_json(self, value: dict) -> bytes:
        return self.seal(json.dumps(value))

    def open_json(self, sealed: bytes) -> dict:
        return json.loads(self.open(sealed))

    def rotate(self, sealed: bytes) -> bytes:
        """Re-encrypt with the first key."""
        return self._fernet.rotate(sealed)
