"""Encryption at rest: envelope encryption of personal fields, blind indexes, crypto-shredding (SECURITY.md).

    keyring.py   the KEKs (key file, environment secret or KMS), the blind-index key and the audit key
    datakeys.py  data keys per case, member and month, wrapped by the KEK; shredding and re-wrapping
    store.py     keys.data.v1 on the broker, read by a thread of each process
    sealing.py   what is sealed in each record, under whose key

Every process that reads or writes records calls `start(settings)` once (the worker at build, the CLI commands
that touch topics); then `sealer()` seals and opens anywhere, synchronous code included.
"""

from __future__ import annotations

import threading

from streams.crypto.datakeys import DataKeys
from streams.crypto.keyring import KeyError_, KeyRing, LocalKek, load_keyring
from streams.crypto.sealing import PLACEHOLDER, SealError, Sealer, period_subject
from streams.settings import Settings

__all__ = ["DataKeys", "KeyError_", "KeyRing", "PLACEHOLDER", "SealError", "Sealer", "install", "memory_sealer",
           "period_subject", "sealer", "start", "started"]

_current: Sealer | None = None
_store = None
_lock = threading.Lock()


def install(s: Sealer | None) -> None:
    """Make a sealer the process's own (tests install an in-memory one)."""
    global _current
    _current = s


def sealer() -> Sealer:
    """The process's sealer; refuses before `start` (a record written then would be sealed with no lasting key)."""
    if _current is None:
        raise RuntimeError("encryption keys are not loaded: call streams.crypto.start(settings) first")
    return _current


def started() -> bool:
    return _current is not None


def start(settings: Settings, timeout: float = 60.0) -> Sealer:
    """Load the key ring, read keys.data.v1 to its end and install the sealer (once per process)."""
    global _store
    with _lock:
        if _current is not None and _store is not None and _store.settings == settings:
            return _current
        from streams.crypto.store import KafkaKeyStore
        ring = load_keyring(settings)
        store = KafkaKeyStore(settings)
        keys = DataKeys(ring, store.publish, wait_seconds=settings.crypto.key_wait_seconds)
        store.start(keys, timeout=timeout)
        if _store is not None:
            _store.stop()
        _store = store
        made = Sealer(keys, enabled=settings.crypto.enabled)
        install(made)
        # This month's and next month's keys made ahead, in the background: sealing a dead letter or an unknown
        # number's reply must never wait on the broker (a codec makes a missing key in line).
        threading.Thread(target=_months_ahead, args=(keys,), name="solidarity-month-keys", daemon=True).start()
        return made


def _months_ahead(keys: DataKeys) -> None:
    from datetime import datetime, timedelta, timezone

    now = datetime.now(timezone.utc)
    try:
        keys.ensure([period_subject(now), period_subject(now.replace(day=1) + timedelta(days=32))])
    except Exception:  # noqa: BLE001 - made in line when first needed instead
        pass


def memory_sealer(enabled: bool = True) -> Sealer:
    """A sealer whose keys live in this process only (unit tests): published keys are simply kept."""
    import secrets
    kek = LocalKek("kek-memory", secrets.token_bytes(32))
    ring = KeyRing(kek, {kek.kek_id: kek}, secrets.token_bytes(32), secrets.token_bytes(32))
    return Sealer(DataKeys(ring, lambda records: None, wait_seconds=0.0), enabled=enabled)
