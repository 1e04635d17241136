"""GET /healthz (is the worker up, ready and connected to the broker?) and GET /metrics."""

from __future__ import annotations

import asyncio

from aiohttp import web
from faust.web import View
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from schemas.vocab import TokenRole
from streams.metrics import Metrics
from streams.runtime import Runtime
from streams.services.errors import ServiceError
from streams.web.api.common import authenticate, error_response, json_response


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
            """200 when the broker answers and this worker has read the shared state, 503 otherwise (a worker
            still reading members, tokens and cases at start-up is not ready for requests); details only for a
            secretariat or metrics token."""
            broker = await broker_status(rt)
            ready = rt.views.ready
            status = "ok" if broker["connected"] and ready else ("starting" if broker["connected"] else "degraded")
            body: dict = {"status": status}
            if ready:
                try:
                    await authenticate(rt, request, TokenRole.secretariat, TokenRole.metrics)
                except ServiceError:
                    pass  # anonymous: up or down, never where the broker is
                else:
                    body.update(broker=broker, bootstrap=rt.settings.kafka.bootstrap_servers,
                                partitions=sorted(rt.hooks.deliverer.ownership.active()) if rt.hooks.deliverer else [])
            return json_response(body, status=200 if status == "ok" else 503)


def register_metrics_view(rt: Runtime, metrics: Metrics) -> None:
    """Add GET /metrics (a `metrics` bearer token is required)."""

    @rt.app.page("/metrics")
    class Exposition(View):
        """Prometheus text exposition."""

        async def get(self, request: web.Request) -> web.Response:
            """Every metric in the Prometheus text format."""
            try:
                await authenticate(rt, request, TokenRole.metrics)
            except ServiceError as exc:
                return error_response(exc.status, exc.problems, headers={"WWW-Authenticate": 'Bearer realm="solidarity"'})
            try:
                body = generate_latest(metrics.registry)
            except Exception:  # noqa: BLE001 - a view mid-update: answer 503, never 500
                return web.Response(status=503, text="metrics temporarily unavailable\n")
            return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
