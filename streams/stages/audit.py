"""The audit writer: chains each request on audit.submitted.v1 onto audit.log.v1, one entry after another.

One writer: both topics have one partition, so only the worker the group gives audit.submitted.v1 to appends,
and it appends in order, each send acknowledged before the next. Its head (the last entry) lives in memory;
it is read back from the log whenever the partition may have moved (at start and after every revocation), so
a new owner continues the chain where the last one stopped. A crash between an append and the commit of the
request's offset delivers the request again: requests whose id is among the newest entries are skipped.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from pydantic import ValidationError

from schemas.audit import AuditEntry, AuditRequest
from streams.acking import each_value
from streams.audit import log as audit_log
from streams.audit.chain import chain_entry, genuine, parse
from streams.audit.record import audit_key
from streams.runtime import Runtime

log = logging.getLogger("solidarity.audit")
# Newest entries read back for their request ids: far more than can be appended between two offset commits.
TAIL = 1000
RETRY_SECONDS = 60.0


class AuditTrail:
    """The chain_audit_entries agent."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.head: AuditEntry | None = None
        self.generation = 0  # bumped at every revocation: the head must then be read again
        self.loaded: int | None = None  # the generation the head was read in
        self.recent: deque[str] = deque(maxlen=TAIL)
        self.seen: set[str] = set()

    def register(self) -> None:
        """Bind the agent, and note every revocation (the partition may come back after another worker wrote)."""
        self.rt.app.agent(self.rt.topics.audit_submitted, name="chain_audit_entries")(self.chain_audit_entries)

        async def revoked(app, *args, **kwargs) -> None:
            self.generation += 1

        self.rt.app.on_partitions_revoked.connect(revoked)

    async def chain_audit_entries(self, stream) -> None:
        """Append each request to the chain once."""
        async for raw in each_value(stream):
            await self.append(raw)

    async def append(self, raw: bytes) -> AuditEntry | None:
        """Chain one request (its raw JSON); None when it is not a request or was chained already."""
        try:
            req = AuditRequest.model_validate_json(raw)
        except (ValidationError, ValueError) as exc:
            log.warning("audit request refused (%s)", type(exc).__name__)
            return None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + RETRY_SECONDS
        while True:
            try:
                if self.loaded != self.generation:
                    await self.load_head()
                if req.request_id in self.seen:
                    return None
                generation = self.generation
                entry = chain_entry(self.head, req, audit_key())
                fut = await self.rt.topics.audit_log.send(value=entry)
                await fut
            except Exception as exc:  # noqa: BLE001 - the outcome of the send is unknown: read the log again
                self.loaded = None
                if loop.time() > deadline:
                    log.error("audit request %s not chained after %.0f s: %s", req.request_id, RETRY_SECONDS,
                              type(exc).__name__)
                    raise
                log.warning("audit append failed (%s); reading the head again", type(exc).__name__)
                await asyncio.sleep(1.0)
                continue
            if generation == self.generation:
                self.head = entry
                self.remember(req.request_id)
            else:
                self.loaded = None
            return entry

    def remember(self, request_id: str) -> None:
        """Note a chained request id among the newest TAIL."""
        if len(self.recent) == self.recent.maxlen:
            self.seen.discard(self.recent[0])
        self.recent.append(request_id)
        self.seen.add(request_id)

    async def load_head(self) -> None:
        """Read the newest genuine entry (and the request ids of the newest entries) back from the log."""
        generation = self.generation
        head, ids = await asyncio.to_thread(read_head, self.rt, audit_key())
        self.head = head
        self.recent.clear()
        self.seen.clear()
        for request_id in ids:
            self.remember(request_id)
        self.loaded = generation
        log.info("audit chain continues after seq %s", head.seq if head else 0)


def read_head(rt: Runtime, key: bytes) -> tuple[AuditEntry | None, list[str]]:
    """The genuine entry with the highest seq among the newest that verify, and the request ids of the newest
    genuine entries (blocking). Highest seq, not last offset: a genuine entry copied onto the log again by
    someone who may produce to it must not send the chain back to it."""
    first, end = audit_log.bounds(rt.settings)
    stop, ids, head = end, [], None
    while stop > first and head is None:
        start = max(first, stop - TAIL)
        for _offset, raw in audit_log.read(rt.settings, start, stop):
            data = parse(raw)
            if data is not None and genuine(data, key):
                if head is None or data["seq"] > head["seq"]:
                    head = data
                if stop == end:
                    ids.append(data.get("request_id"))
        stop = start
    return (AuditEntry.model_validate(head) if head is not None else None), [i for i in ids if isinstance(i, str)]
