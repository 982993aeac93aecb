"""AES-GCM payload encryption and the keyring, as memberlist's security.go and keyring.go.

Encrypted payload: ``[version][12-byte nonce][ciphertext + 16-byte tag]``. Version 1 seals the
plaintext as is; version 0 (sent by nodes speaking protocol 1) first pads it PKCS#7-style to a
multiple of 16. Receivers accept both and try every installed key.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from trio_gossip.wire.errors import ConfigError, DecodeError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

# cryptography is imported when a key is first used, not with the wire package: its Rust
# bindings cost a node without keys (most of them) about 7 MiB of RSS and 15 ms at start.

NONCE_SIZE = 12
TAG_SIZE = 16
BLOCK_SIZE = 16
MAX_ENCRYPTION_VERSION = 1
KEY_SIZES = (16, 24, 32)


def _check_key(key: bytes) -> bytes:
    if not isinstance(key, bytes | bytearray) or len(key) not in KEY_SIZES:
        size = len(key) if isinstance(key, bytes | bytearray) else type(key).__name__
        raise ConfigError(
            f"encryption key must be 16, 24 or 32 bytes (AES-128/192/256), not {size}"
        )
    return bytes(key)


class Keyring:
    """The installed gossip keys; the primary one encrypts, all of them are tried to decrypt.

    Mutable like Go's keyring (keys are rotated at run time by install, use, remove); each method
    replaces the key tuple as a whole, so a reader never sees a half-changed ring.
    """

    __slots__ = ("_ciphers", "_keys")

    def __init__(self, keys: Sequence[bytes], primary: bytes | None = None) -> None:
        checked = [_check_key(k) for k in keys]
        if primary is not None:
            primary = _check_key(primary)
            checked = [primary, *(k for k in checked if k != primary)]
        if not checked:
            raise ConfigError("a keyring needs at least one key")
        self._keys: tuple[bytes, ...] = tuple(dict.fromkeys(checked))  # unique, order kept
        self._ciphers: dict[bytes, AESGCM] = {}

    def __repr__(self) -> str:
        return f"Keyring(<{len(self._keys)} keys>)"  # never print key material

    @property
    def keys(self) -> tuple[bytes, ...]:
        """Every installed key, primary first."""
        return self._keys

    @property
    def primary_key(self) -> bytes:
        return self._keys[0]

    def add_key(self, key: bytes) -> None:
        """Install a key for decryption (Go's AddKey); a key already present is left in place."""
        key = _check_key(key)
        if key not in self._keys:
            self._keys = (*self._keys, key)

    def use_key(self, key: bytes) -> None:
        """Make an installed key the primary one (Go's UseKey)."""
        key = _check_key(key)
        if key not in self._keys:
            raise ValueError("cannot use a key that is not installed")
        self._keys = (key, *(k for k in self._keys if k != key))

    def remove_key(self, key: bytes) -> None:
        """Uninstall a key (Go's RemoveKey); the primary key cannot be removed."""
        key = _check_key(key)
        if key == self._keys[0]:
            raise ValueError("cannot remove the primary key")
        self._keys = tuple(k for k in self._keys if k != key)
        self._ciphers.pop(key, None)

    def cipher(self, key: bytes) -> AESGCM:
        """The AES-GCM object for ``key``, built once (building one costs more than a packet)."""
        found = self._ciphers.get(key)
        if found is None:
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: PLC0415

            found = self._ciphers[key] = AESGCM(key)
        return found


def encrypted_length(version: int, plaintext_length: int) -> int:
    """Size of an encrypted payload (Go's encryptedLength): 29 bytes overhead for v1."""
    if version == 0:
        padded = plaintext_length + BLOCK_SIZE - plaintext_length % BLOCK_SIZE
        return 1 + NONCE_SIZE + padded + TAG_SIZE
    return 1 + NONCE_SIZE + plaintext_length + TAG_SIZE


def encrypt_payload(
    version: int,
    key: bytes | Keyring,
    plaintext: bytes,
    aad: bytes,
    nonce: bytes | None = None,
) -> bytes:
    """Seal ``plaintext``; ``nonce`` is random unless given (tests reproduce Go vectors with it)."""
    if version not in (0, 1):
        raise ValueError(f"encryption version must be 0 or 1, not {version}")
    if nonce is None:
        nonce = os.urandom(NONCE_SIZE)
    elif len(nonce) != NONCE_SIZE:
        raise ValueError(f"nonce must be {NONCE_SIZE} bytes")
    keyring = key if isinstance(key, Keyring) else Keyring([key])
    cipher = keyring.cipher(keyring.primary_key)
    if version == 0:
        pad = BLOCK_SIZE - len(plaintext) % BLOCK_SIZE
        plaintext = plaintext + bytes((pad,)) * pad
    sealed = cipher.encrypt(nonce, plaintext, aad or None)
    return bytes((version,)) + nonce + sealed


def decrypt_payload(keyring: Keyring, data: bytes, aad: bytes) -> bytes:
    """Open a payload with any installed key; DecodeError if none can (Go's decryptPayload)."""
    if not data:
        raise DecodeError("cannot decrypt an empty payload")
    version = data[0]
    if version > MAX_ENCRYPTION_VERSION:
        raise DecodeError(f"unsupported encryption version {version}")
    minimum = encrypted_length(version, 0)
    if len(data) < minimum:
        raise DecodeError(
            f"payload of {len(data)} bytes is too small to decrypt (version {version} needs"
            f" at least {minimum})"
        )
    from cryptography.exceptions import InvalidTag  # noqa: PLC0415  # see the imports

    nonce = bytes(data[1 : 1 + NONCE_SIZE])
    sealed = bytes(data[1 + NONCE_SIZE :])
    for key in keyring.keys:
        try:
            plain = keyring.cipher(key).decrypt(nonce, sealed, aad or None)
        except InvalidTag:
            continue
        if version == 0:
            # Go strips the pad without checking it; a pad longer than the text would panic.
            pad = plain[-1]
            if pad > len(plain):
                raise DecodeError(f"invalid PKCS#7 padding length {pad}")
            plain = plain[: len(plain) - pad]
        return plain
    raise DecodeError(f"no installed key could decrypt the message ({len(keyring.keys)} tried)")
