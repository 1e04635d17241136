"""The key-encryption keys (KEKs) and the two keyed-hash keys, from a key file, an environment secret or a KMS.

A KEK only ever wraps data keys (streams/crypto/datakeys.py); it never touches a record. Several KEKs may be
known at once during a rotation: the primary wraps, every known one unwraps (`solidarity keys rotate`).
A cloud KMS plugs in as any object with `kek_id`, `wrap(dek, aad)` and `unwrap(wrapped, aad)`, built by the
`module:factory` named in SOLIDARITY_CRYPTO__KMS.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib
import json
import os
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from streams.settings import Settings

NONCE = 12


class KeyError_(Exception):
    """Keys missing, unreadable or refused; the message says which setting or file to fix."""


class KeyEncryptionKey(Protocol):
    """What wraps data keys: a local AES-256-GCM key, or a cloud KMS key behind the same three members."""

    kek_id: str

    def wrap(self, dek: bytes, aad: bytes) -> bytes: ...

    def unwrap(self, wrapped: bytes, aad: bytes) -> bytes: ...


class LocalKek:
    """A KEK held in this process: AES-256-GCM with a random nonce per wrap."""

    def __init__(self, kek_id: str, key: bytes) -> None:
        if len(key) != 32:
            raise KeyError_(f"KEK {kek_id} must be 32 bytes, not {len(key)}")
        self.kek_id, self._aead = kek_id, AESGCM(key)

    def wrap(self, dek: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(NONCE)
        return nonce + self._aead.encrypt(nonce, dek, aad)

    def unwrap(self, wrapped: bytes, aad: bytes) -> bytes:
        return self._aead.decrypt(wrapped[:NONCE], wrapped[NONCE:], aad)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _unb64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (ValueError, TypeError):
        raise KeyError_(f"{what} is not base64") from None


def env_kek_id(key: bytes) -> str:
    """A stable id for a KEK given as a secret (a keyed hash of it, never the key)."""
    return "kek-env-" + hmac.new(key, b"solidarity kek id", hashlib.sha256).hexdigest()[:12]


@dataclass
class KeyRing:
    """Every KEK this process knows (the primary wraps), the blind-index key and the audit key."""

    primary: KeyEncryptionKey
    keks: dict[str, KeyEncryptionKey]
    blind_index_key: bytes
    audit_key: bytes
    path: Path | None = None
    _mtime: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def unwrap(self, kek_id: str, wrapped: bytes, aad: bytes) -> bytes | None:
        """The data key, or None if no known KEK of that id opens it (the key file is re-read once first)."""
        kek = self.keks.get(kek_id)
        if kek is None and self.reload():
            kek = self.keks.get(kek_id)
        if kek is None:
            return None
        try:
            return kek.unwrap(wrapped, aad)
        except InvalidTag:
            return None

    def reload(self) -> bool:
        """Re-read the key file if it changed (a rotation by `solidarity keys rotate`); whether it did."""
        if self.path is None:
            return False
        with self._lock:
            try:
                mtime = self.path.stat().st_mtime
            except OSError:
                return False
            if mtime == self._mtime:
                return False
            fresh = read_key_file(self.path)
            self.primary, self.keks, self._mtime = fresh.primary, fresh.keks, mtime
            return True


def new_key_file_content() -> dict:
    """A fresh key file: one KEK (primary), a blind-index key and an audit key, all random."""
    kek_id = f"kek-{datetime.now(timezone.utc):%Y%m%d}-{secrets.token_hex(4)}"
    return {"version": 1, "primary": kek_id,
            "keks": [{"id": kek_id, "key": _b64(secrets.token_bytes(32)),
                      "created_at": datetime.now(timezone.utc).isoformat()}],
            "blind_index_key": _b64(secrets.token_bytes(32)), "audit_key": _b64(secrets.token_bytes(32))}


def write_key_file(path: Path, content: dict, exclusive: bool = False) -> None:
    """Write a key file readable by its owner only (atomically, or only if absent with exclusive)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (json.dumps(content, indent=2) + "\n").encode()
    if exclusive:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        return
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def init_key_file(path: Path) -> bool:
    """Create the key file if it does not exist; whether it was created (safe when several start at once)."""
    if path.exists():
        return False
    try:
        write_key_file(path, new_key_file_content(), exclusive=True)
    except FileExistsError:
        return False
    return True


def read_key_file(path: Path) -> KeyRing:
    """The key ring in a key file, with a clear error naming what is wrong."""
    try:
        content = json.loads(path.read_text())
    except FileNotFoundError:
        raise KeyError_(f"key file {path} does not exist (create it with: solidarity keys init)") from None
    except (OSError, ValueError) as exc:
        raise KeyError_(f"key file {path} cannot be read: {type(exc).__name__}") from None
    try:
        keks = {k["id"]: LocalKek(k["id"], _unb64(k["key"], f"{path}: keks[{k['id']}].key"))
                for k in content["keks"]}
        primary = keks[content["primary"]]
        ring = KeyRing(primary, keks, _unb64(content["blind_index_key"], f"{path}: blind_index_key"),
                       _unb64(content["audit_key"], f"{path}: audit_key"), path=path)
    except (KeyError, TypeError) as exc:
        raise KeyError_(f"key file {path} lacks {exc}") from None
    ring._mtime = path.stat().st_mtime
    return ring


def load_keyring(settings: Settings, create: bool | None = None) -> KeyRing:
    """The key ring the settings name: a KMS plug-in, an environment KEK, or a key file.

    Without any, development settings use (and on first use create) .local/keys/dev-keys.json; production
    settings refuse (see Settings.insecure_defaults).
    """
    c = settings.crypto
    if c.kms:
        module, _, factory = c.kms.partition(":")
        kek = getattr(importlib.import_module(module), factory or "build")(settings)
        if c.blind_index_key is None or c.audit_key is None:
            raise KeyError_("SOLIDARITY_CRYPTO__BLIND_INDEX_KEY and SOLIDARITY_CRYPTO__AUDIT_KEY must be set with a KMS")
        return KeyRing(kek, {kek.kek_id: kek}, _secret(c.blind_index_key, "SOLIDARITY_CRYPTO__BLIND_INDEX_KEY"),
                       _secret(c.audit_key, "SOLIDARITY_CRYPTO__AUDIT_KEY"))
    if c.kek is not None:
        key = _secret(c.kek, "SOLIDARITY_CRYPTO__KEK")
        kek = LocalKek(env_kek_id(key), key)
        if c.blind_index_key is None or c.audit_key is None:
            raise KeyError_("SOLIDARITY_CRYPTO__BLIND_INDEX_KEY and SOLIDARITY_CRYPTO__AUDIT_KEY must be set with "
                            "SOLIDARITY_CRYPTO__KEK")
        return KeyRing(kek, {kek.kek_id: kek}, _secret(c.blind_index_key, "SOLIDARITY_CRYPTO__BLIND_INDEX_KEY"),
                       _secret(c.audit_key, "SOLIDARITY_CRYPTO__AUDIT_KEY"))
    path = settings.key_file
    if c.key_file is None and settings.production:
        raise KeyError_("production settings need SOLIDARITY_CRYPTO__KEY_FILE, SOLIDARITY_CRYPTO__KEK or "
                        "SOLIDARITY_CRYPTO__KMS; the development key file is refused")
    if create if create is not None else c.key_file is None:
        init_key_file(path)
    return read_key_file(path)


def _secret(value, name: str) -> bytes:
    key = _unb64(value.get_secret_value().strip(), name)
    if len(key) < 32:
        raise KeyError_(f"{name} must be at least 32 random bytes (base64)")
    return key
