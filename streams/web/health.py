"""GET /healthz: is the worker up and can it reach the Kafka broker?"""

from __future__ import annotations

import asyncio

from aiohttp import web
from faust.web import View

from streams.runtime import Runtime
from schemas.vocab import TokenRole
from streams.web.common import ApiError, authenticate, json_response


async def broker_status(rt: Runtime, timeout: float = 2.0) -> dict:
    """Ask the broker for cluster metadata through the worker's own producer connection."""
    try:
        client = rt.app.producer._producer.client  # aiokafka AIOKafkaClient of the running producer
    except Exception:  # noqa: BLE001 - the producer may not be started yet
        client = None
    if client is None:
        return {"connected": False, "error": "producer not started"}
    try:
        metadata = await asyncio.wait_for(client.fetch_all_metadata(), timeout)
    except Exception as exc:  # noqa: BLE001
        return {"connected": False, "error": type(exc).__name__}
    return {"connected": True, "brokers": len(metadata.brokers()), "topics": len(metadata.topics())}


def register_health_views(rt: Runtime) -> None:
    """Add /healthz."""

    @rt.app.page("/healthz")
    class Health(View):
        """Liveness and broker connectivity."""

        async def get(self, request: web.Request) -> web.Response:
            """200 when the broker answers, 503 otherwise; details only for a secretariat or metrics token."""
            broker = await broker_status(rt)
            status = "ok" if broker["connected"] else "degraded"
            body: dict = {"status": status}
            try:
                authenticate(rt, request, TokenRole.secretariat, TokenRole.metrics)
            except ApiError:
                pass  # anonymous: up or down, never where the broker is
            else:
                body.update(broker=broker, bootstrap=rt.settings.kafka.bootstrap_servers)
            return json_response(body, status=200 if broker["connected"] else 503)
