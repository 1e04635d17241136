"""Live updates for the dashboard: a case hook feeds server-sent events (GET /dashboard/events)."""

from __future__ import annotations

import asyncio
import json
from collections import deque

from aiohttp import web
from faust.web import View

from schemas.cases import Case, CaseEvent
from streams.runtime import Runtime
from streams.web.cases import case_summary

KEEP = 500
PING_SECONDS = 10.0
# A stream ends after this long and the browser reconnects with Last-Event-ID: nothing is missed, and a
# stopping worker never waits on an open stream for long.
STREAM_SECONDS = 60.0


class Broadcaster:
    """Numbered case-change events kept in a ring, and the queues of open streams."""

    def __init__(self) -> None:
        self.seq = 0
        self.recent: deque[tuple[int, str]] = deque(maxlen=KEEP)
        self.listeners: set[asyncio.Queue] = set()

    def publish(self, data: dict) -> None:
        """Number an event, keep it, and hand it to every open stream."""
        self.seq += 1
        item = (self.seq, json.dumps(data, default=str))
        self.recent.append(item)
        for queue in list(self.listeners):
            if queue.qsize() < KEEP:
                queue.put_nowait(item)

    def since(self, last: int) -> list[tuple[int, str]]:
        """Kept events after `last` (for a reconnecting browser)."""
        return [item for item in self.recent if item[0] > last]


def case_hook(broadcaster: Broadcaster):
    """A case hook publishing the changed case's summary (no personal data) and the event kind."""

    async def push_case_change(before: Case | None, after: Case, event: CaseEvent) -> None:
        """Publish a case change to the dashboard streams."""
        broadcaster.publish({"type": "case", "event": event.kind.value, "new": before is None,
                             "case": case_summary(after)})

    return push_case_change


def register_live(rt: Runtime, broadcaster: Broadcaster, current_session) -> None:
    """Add the case hook and /dashboard/events."""
    rt.hooks.case_hooks.append(case_hook(broadcaster))

    @rt.app.page("/dashboard/events")
    class Events(View):
        """Server-sent events of case changes."""

        async def get(self, request: web.Request) -> web.StreamResponse:
            """A text/event-stream of case changes for a logged-in secretariat user."""
            if current_session(request) is None:
                return web.Response(status=401, text="log in first")
            try:
                last = int(request.headers.get("Last-Event-ID") or request.query.get("since") or broadcaster.seq)
            except ValueError:
                last = broadcaster.seq
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                                   "X-Accel-Buffering": "no"})
            queue: asyncio.Queue = asyncio.Queue()
            broadcaster.listeners.add(queue)
            try:
                await response.prepare(request)
                await response.write(b"retry: 500\n\n")
                for seq, data in broadcaster.since(last):
                    await response.write(f"id: {seq}\nevent: case\ndata: {data}\n\n".encode())
                    last = seq
                deadline = asyncio.get_running_loop().time() + STREAM_SECONDS
                while asyncio.get_running_loop().time() < deadline:
                    try:
                        seq, data = await asyncio.wait_for(queue.get(), PING_SECONDS)
                    except asyncio.TimeoutError:
                        await response.write(b": ping\n\n")
                        continue
                    if seq > last:
                        await response.write(f"id: {seq}\nevent: case\ndata: {data}\n\n".encode())
                        last = seq
            except (ConnectionError, RuntimeError):  # the browser went away
                pass
            finally:
                broadcaster.listeners.discard(queue)
            return response
