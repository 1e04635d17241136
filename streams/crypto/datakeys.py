"""Data keys: one or more per case, member or month, wrapped by the KEK and kept on keys.data.v1.

Each record is keyed `subject|dek_id` and holds the data key wrapped by the primary KEK (the subject and key id
as associated data). Several keys for one subject are fine (two workers may each make one at once); a record's
ciphertext names the key it used. Shredding a subject writes a tombstone for each of its keys and a
`subject|shredded` marker: every worker drops the keys it holds, and every copy of what they sealed, in any
topic, changelog, store or backup, can no longer be opened.

Every worker (and the CLI) reads the whole topic in a thread of its own, so a sealed record can be opened from
any code, synchronous or not: a record sealed with a key another worker made a moment ago waits (at most
crypto.key_wait_seconds) for that key to arrive. A key is written, and acknowledged by the brokers, before
anything sealed with it is, so it is always on the broker first.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from streams.crypto.keyring import KeyRing

log = logging.getLogger("solidarity.crypto")
SHREDDED = "shredded"
# Unwrapped data keys kept in memory (least recently made or opened first out).
OPEN_KEPT = 4096

Publish = Callable[[list[tuple[str, bytes | None]]], None]


@dataclass(frozen=True)
class WrappedKey:
    """One data key as stored: for whom, under which KEK, wrapped."""

    subject: str
    dek_id: str
    kek_id: str
    wrapped: bytes
    created_at: str

    def record(self) -> tuple[str, bytes]:
        return f"{self.subject}|{self.dek_id}", json.dumps({
            "subject": self.subject, "dek_id": self.dek_id, "kek_id": self.kek_id,
            "wrapped": base64.b64encode(self.wrapped).decode(), "created_at": self.created_at}).encode()


def wrap_aad(subject: str, dek_id: str) -> bytes:
    return f"solidarity-dek|{subject}|{dek_id}".encode()


class DataKeys:
    """The data keys every worker holds: made, found, waited for and shredded here."""

    def __init__(self, ring: KeyRing, publish: Publish, wait_seconds: float = 10.0) -> None:
        self.ring, self.publish, self.wait_seconds = ring, publish, wait_seconds
        self._wrapped: dict[str, WrappedKey] = {}
        self._by_subject: dict[str, list[str]] = {}
        self._shredded: dict[str, dict] = {}
        # Unwrapped keys, the most recently used only: a key object costs about 2.4 KB, and a network of 100,000
        # members has 100,000 data keys (each opens in a few microseconds from its wrapped form when needed again).
        # Fewer keys in the clear in memory is also less for whoever seizes a running server.
        self._open: OrderedDict[str, AESGCM] = OrderedDict()
        self._cond = threading.Condition()
        self._maker = threading.Condition()
        self._pending: set[str] = set()
        self._making = False

    # Reading keys.data.v1 -------------------------------------------------------------------------------------

    def apply(self, key: str, value: bytes | None) -> None:
        """Fold one record of keys.data.v1 (from the reading thread, or from publish for our own records)."""
        subject, _, dek_id = key.rpartition("|")
        with self._cond:
            if dek_id == SHREDDED:
                if value is None:
                    self._shredded.pop(subject, None)
                else:
                    self._shredded[subject] = json.loads(value)
                    leftover = self._by_subject.pop(subject, [])
                    for old in leftover:
                        self._wrapped.pop(old, None)
                        self._open.pop(old, None)
                    # A key another worker made just before the shredding, unseen by the shredder: destroyed too.
                    self._destroy([f"{subject}|{old}" for old in leftover])
            elif value is None:
                self._wrapped.pop(dek_id, None)
                self._open.pop(dek_id, None)
                ids = self._by_subject.get(subject, [])
                if dek_id in ids:
                    ids.remove(dek_id)
            elif subject in self._shredded:
                # Made by a worker that had not yet seen the shredding: destroyed at once.
                self._destroy([key])
            else:
                raw = json.loads(value)
                wk = WrappedKey(raw["subject"], raw["dek_id"], raw["kek_id"], base64.b64decode(raw["wrapped"]),
                                raw.get("created_at", ""))
                old = self._wrapped.get(dek_id)
                if old is None:
                    self._by_subject.setdefault(subject, []).append(dek_id)
                elif old.wrapped != wk.wrapped:
                    self._open.pop(dek_id, None)  # rewrapped under another KEK: unwrap afresh
                self._wrapped[dek_id] = wk
            self._cond.notify_all()

    def _destroy(self, keys: list[str]) -> None:
        """Tombstone data keys found alive after their subject was shredded (from a thread: never blocks a reader)."""
        if not keys:
            return

        def run() -> None:
            try:
                self.publish([(k, None) for k in keys])
            except Exception as exc:  # noqa: BLE001 - the next reader of the topic tries again
                log.warning("could not destroy %d leftover data keys: %s", len(keys), type(exc).__name__)

        threading.Thread(target=run, name="solidarity-shred-leftovers", daemon=True).start()

    # Sealing ----------------------------------------------------------------------------------------------------

    def is_shredded(self, subject: str) -> bool:
        return subject in self._shredded

    def current(self, subject: str) -> tuple[str, AESGCM] | None:
        """The key to seal a subject's data with (made, and acknowledged, if it has none); None if shredded."""
        if subject in self._shredded:
            return None
        ids = self._by_subject.get(subject)
        if not ids:
            self.ensure([subject])
            if subject in self._shredded:
                return None
            ids = self._by_subject[subject]
        dek_id = ids[-1]
        aead = self.get(dek_id, wait=False)
        if aead is None:
            raise LookupError(f"data key {dek_id} of {subject} cannot be unwrapped with any known KEK")
        return dek_id, aead

    def _missing(self, subjects: Iterable[str]) -> set[str]:
        return {s for s in subjects if not self._by_subject.get(s) and s not in self._shredded}

    def ensure(self, subjects: Iterable[str]) -> int:
        """Make a data key for every subject that has none; how many were missing.

        Callers in several threads at once are served together: one of them publishes every pending subject in
        one batch while the others wait, so making keys for many new cases costs one broker round trip, not one
        each.
        """
        wanted = self._missing(subjects)
        if not wanted:
            return 0
        with self._maker:
            while True:
                left = self._missing(wanted)
                if not left:
                    return len(wanted)
                self._pending |= left
                if not self._making:
                    self._making = True
                    break
                self._maker.wait()
        try:
            while True:
                with self._maker:
                    batch = sorted(self._missing(self._pending))
                    self._pending.clear()
                if not batch:
                    break
                self._make(batch)
                with self._maker:
                    self._maker.notify_all()
        finally:
            with self._maker:
                self._making = False
                self._maker.notify_all()
        return len(wanted)

    def _make(self, subjects: list[str]) -> None:
        self.ring.reload()  # a rotation may have made another KEK primary: wrap with it
        now = datetime.now(timezone.utc).isoformat()
        made = []
        for subject in subjects:
            dek, dek_id = AESGCM.generate_key(bit_length=256), "k" + secrets.token_hex(8)
            wrapped = self.ring.primary.wrap(dek, wrap_aad(subject, dek_id))
            made.append((WrappedKey(subject, dek_id, self.ring.primary.kek_id, wrapped, now), dek))
        self.publish([wk.record() for wk, _ in made])
        for wk, dek in made:
            self._keep_open(wk.dek_id, AESGCM(dek))
            self.apply(*wk.record())

    # Opening ------------------------------------------------------------------------------------------------------

    def _keep_open(self, dek_id: str, aead: AESGCM) -> None:
        self._open[dek_id] = aead
        while len(self._open) > OPEN_KEPT:
            try:
                self._open.popitem(last=False)
            except KeyError:  # emptied meanwhile by the reading thread (a shredding)
                break

    def get(self, dek_id: str, wait: bool = True) -> AESGCM | None:
        """The data key of that id, waiting a while for one another worker just made; None if it is gone."""
        aead = self._open.get(dek_id)
        if aead is not None:
            return aead
        wk = self._wrapped.get(dek_id)
        if wk is None and wait:
            deadline = time.monotonic() + self.wait_seconds
            with self._cond:
                while (wk := self._wrapped.get(dek_id)) is None and time.monotonic() < deadline:
                    self._cond.wait(timeout=max(0.0, deadline - time.monotonic()))
        if wk is None:
            return None
        dek = self.ring.unwrap(wk.kek_id, wk.wrapped, wrap_aad(wk.subject, wk.dek_id))
        if dek is None:
            return None
        aead = AESGCM(dek)
        self._keep_open(dek_id, aead)
        return aead

    def subject_of(self, dek_id: str) -> str | None:
        wk = self._wrapped.get(dek_id)
        return wk.subject if wk else None

    # Shredding and rotation ---------------------------------------------------------------------------------------

    def shred(self, subjects: Iterable[str], reason: str) -> int:
        """Destroy every data key of these subjects (tombstones, then a marker); how many keys were destroyed."""
        at = datetime.now(timezone.utc).isoformat()
        records: list[tuple[str, bytes | None]] = []
        subjects = sorted(set(subjects))
        for subject in subjects:
            records += [(f"{subject}|{dek_id}", None) for dek_id in list(self._by_subject.get(subject, []))]
            records.append((f"{subject}|{SHREDDED}", json.dumps({"shredded_at": at, "reason": reason[:200]}).encode()))
        self.publish(records)
        for key, value in records:
            self.apply(key, value)
        return sum(1 for _, v in records if v is None)

    def shredded(self) -> dict[str, dict]:
        return dict(self._shredded)

    def subjects(self) -> list[str]:
        return sorted(self._by_subject)

    def keys(self) -> list[WrappedKey]:
        return list(self._wrapped.values())

    def rewrap(self, progress: Callable[[int], None] | None = None, batch: int = 500) -> int:
        """Re-wrap every data key not yet under the primary KEK; how many were re-wrapped."""
        primary = self.ring.primary
        todo = [wk for wk in self.keys() if wk.kek_id != primary.kek_id]
        done = 0
        for start in range(0, len(todo), batch):
            out = []
            for wk in todo[start:start + batch]:
                aad = wrap_aad(wk.subject, wk.dek_id)
                dek = self.ring.unwrap(wk.kek_id, wk.wrapped, aad)
                if dek is None:
                    raise LookupError(f"data key {wk.dek_id} cannot be unwrapped with any known KEK ({wk.kek_id})")
                out.append(WrappedKey(wk.subject, wk.dek_id, primary.kek_id, primary.wrap(dek, aad),
                                      wk.created_at).record())
            self.publish(out)
            for key, value in out:
                self.apply(key, value)
            done += len(out)
            if progress:
                progress(len(out))
        return done
