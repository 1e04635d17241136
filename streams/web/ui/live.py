"""Live updates for the dashboard: server-sent events of case changes (GET /dashboard/events).

Fed by this worker's replicated view of cases.state.v1, so a browser on any worker sees every change, wherever
it was made. An event's id is the position in that topic after it (one offset per partition, `o0.o1.o2...`):
the same on every worker, so a browser reconnecting to another worker with Last-Event-ID misses nothing.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque

from aiohttp import web
from faust.web import View

from schemas.cases import Case
from streams.runtime import Runtime
from streams.services.cases import case_summary

KEEP = 500
PING_SECONDS = 10.0
# A stream ends after this long and the browser reconnects with Last-Event-ID: nothing is missed, and a
# stopping worker never waits on an open stream for long.
STREAM_SECONDS = 60.0


def parse_position(text: str | None) -> dict[int, int] | None:
    """A position `o0.o1...` as {partition: next offset}, or None when it is not one."""
    if not text:
        return None
    try:
        return {p: int(o) for p, o in enumerate(text.split("."))}
    except ValueError:
        return None


class Broadcaster:
    """Case-change events kept in a ring with their topic positions, and the queues of open streams."""

    def __init__(self, partitions: int) -> None:
        self.next = {p: 0 for p in range(partitions)}
        self.recent: deque[tuple[int, int, str, str]] = deque(maxlen=KEEP)  # partition, offset, id, data
        self.listeners: set[asyncio.Queue] = set()

    @property
    def seq(self) -> str:
        """The position after the last event seen."""
        return ".".join(str(self.next[p]) for p in sorted(self.next))

    def publish(self, data: dict, position: tuple[int, int]) -> None:
        """Keep an event and hand it to every open stream."""
        partition, offset = position
        self.next[partition] = max(self.next.get(partition, 0), offset + 1)
        item = (partition, offset, self.seq, json.dumps(data, default=str))
        self.recent.append(item)
        for queue in list(self.listeners):
            if queue.qsize() < KEEP:
                queue.put_nowait(item)

    def since(self, last: dict[int, int]) -> list[tuple[int, int, str, str]]:
        """Kept events after a position (for a reconnecting browser)."""
        return [item for item in self.recent if item[1] >= last.get(item[0], 0)]

    def case_changed(self, key: str, case: Case | None, position: tuple[int, int]) -> None:
        """The view's listener: publish the changed case's summary (no personal data)."""
        if case is not None:
            event = case.history[-1].kind.value if case.history else "changed"
            self.publish({"type": "case", "event": event, "new": len(case.history) <= 1,
                          "case": case_summary(case)}, position)


def register_live(rt: Runtime, broadcaster: Broadcaster, current_session) -> None:
    """Feed the broadcaster from the cases view and add /dashboard/events."""
    rt.views.cases.listeners.append(broadcaster.case_changed)

    @rt.app.page("/dashboard/events")
    class Events(View):
        """Server-sent events of case changes."""

        async def get(self, request: web.Request) -> web.StreamResponse:
            """A text/event-stream of case changes for a logged-in secretariat user."""
            if await current_session(request) is None:
                return web.Response(status=401, text="log in first")
            last = (parse_position(request.headers.get("Last-Event-ID") or request.query.get("since"))
                    or parse_position(broadcaster.seq))
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                                   "X-Accel-Buffering": "no"})
            queue: asyncio.Queue = asyncio.Queue()
            broadcaster.listeners.add(queue)
            try:
                await response.prepare(request)
                await response.write(b"retry: 500\n\n")
                for partition, offset, ident, data in broadcaster.since(last):
                    await response.write(f"id: {ident}\nevent: case\ndata: {data}\n\n".encode())
                    last[partition] = offset + 1
                deadline = asyncio.get_running_loop().time() + STREAM_SECONDS
                while asyncio.get_running_loop().time() < deadline:
                    try:
                        partition, offset, ident, data = await asyncio.wait_for(queue.get(), PING_SECONDS)
                    except asyncio.TimeoutError:
                        await response.write(b": ping\n\n")
                        continue
                    if offset >= last.get(partition, 0):
                        await response.write(f"id: {ident}\nevent: case\ndata: {data}\n\n".encode())
                        last[partition] = offset + 1
            except (ConnectionError, RuntimeError):  # the browser went away
                pass
            finally:
                broadcaster.listeners.discard(queue)
            return response
