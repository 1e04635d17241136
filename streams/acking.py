"""Acknowledge a Kafka record only once an agent has finished with it.

faust acknowledges the record an `async for` over a stream is on in a `finally` (faust/streams.py, `_py_aiter`):
when the agent is cancelled part-way through a record, as on a SIGTERM while it awaits a produce, that record is
acknowledged too, and the offsets committed at shutdown move past a record whose outcome was never produced. A
report stopped that way was never turned into a case: accepted, then lost.

Here a record is acknowledged only when the agent asks for the next one, so a record an agent was interrupted on
is read again after the restart, as after a SIGKILL (every stage is idempotent on replays: same event ids, same
notification keys)."""

from __future__ import annotations

from typing import Any, AsyncIterator


async def each_event(stream) -> AsyncIterator[Any]:
    """The stream's events (`event.key`, `event.value`, `event.message`), each acknowledged once the agent's body
    has finished with it, never when the agent is cancelled in the middle of it."""
    manual = stream.noack()
    async for event in manual.events():
        yield event
        # Reached only when the body asks for the next record: not on cancellation, not on an exception.
        await manual.ack(event)


async def each_value(stream) -> AsyncIterator[Any]:
    """The stream's values, acknowledged like `each_event`'s events."""
    async for event in each_event(stream):
        yield event.value
