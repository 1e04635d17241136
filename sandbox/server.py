"""Start the sandbox: the Twilio-compatible HTTP API, the admin page and the SMTP sink."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import socket
import ssl
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from sandbox.admin import Admin
from sandbox.faults import FaultPlan
from sandbox.smtp_sink import SmtpSink
from sandbox.twilio_api import TwilioGateway

log = logging.getLogger(__name__)

DEFAULT_ACCOUNT_SID = "ACsandbox00000000000000000000000000"
DEFAULT_AUTH_TOKEN = "sandbox-auth-token"


@dataclass
class SandboxHandle:
    """A running sandbox: where it listens, its state, and `stop()`."""

    http_url: str
    smtp_host: str
    smtp_port: int
    account_sid: str
    auth_token: str
    gateway: TwilioGateway
    sink: SmtpSink
    faults: FaultPlan
    _runner: web.AppRunner

    def set_faults(self, **changes: Any) -> None:
        """Change faults at runtime, as POST /sandbox/faults does."""
        self.faults.update(changes)

    def reset(self) -> None:
        """Forget all SMS and mail, drop senders' queues and clear faults and limits (same seed)."""
        self.gateway.store.clear()
        self.gateway.clear_queues()
        self.sink.mails.clear()
        self.faults.reset()

    async def stop(self) -> None:
        """Stop the HTTP server, pending callbacks and the SMTP sink."""
        await self.gateway.close()
        await self._runner.cleanup()
        await self.sink.stop()


async def _to_admin_page(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/sandbox/")


async def start_sandbox(
    host: str = "127.0.0.1",
    http_port: int = 8025,
    smtp_port: int = 8026,
    account_sid: str = DEFAULT_ACCOUNT_SID,
    auth_token: str = DEFAULT_AUTH_TOKEN,
    inbound_webhook_url: str | None = None,
    status_callback_default: str | None = None,
    seed: int = 0,
    *,
    faults: dict[str, Any] | None = None,
    delivery_delay: float = 0.05,
    smtp_username: str | None = None,
    smtp_password: str | None = None,
    smtp_tls_context: ssl.SSLContext | None = None,
) -> SandboxHandle:
    """Start the gateway and the sink on the running loop; port 0 picks a free port."""
    plan = FaultPlan(seed=seed, **(faults or {}))
    gateway = TwilioGateway(
        account_sid=account_sid, auth_token=auth_token, faults=plan, inbound_webhook_url=inbound_webhook_url,
        status_callback_default=status_callback_default, delivery_delay=delivery_delay,
    )
    sink = SmtpSink(plan, username=smtp_username, password=smtp_password, tls_context=smtp_tls_context)
    app = web.Application()
    app.add_routes(gateway.routes() + Admin(gateway, sink).routes())
    app.router.add_get("/", _to_admin_page)
    # A short shutdown: handlers hanging on purpose (timeout faults) must not delay stop().
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    sock = socket.create_server((host, http_port))
    await web.SockSite(runner, sock).start()
    bound_http = sock.getsockname()[1]
    bound_smtp = await sink.start(host, smtp_port)
    log.info("sandbox listening: http %s:%s, smtp %s:%s", host, bound_http, host, bound_smtp)
    return SandboxHandle(
        http_url=f"http://{host}:{bound_http}", smtp_host=host, smtp_port=bound_smtp, account_sid=account_sid,
        auth_token=auth_token, gateway=gateway, sink=sink, faults=plan, _runner=runner,
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line flags of `python -m sandbox`."""
    p = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    p.add_argument("--http-port", type=int, default=8025, help="Twilio-compatible API and admin page")
    p.add_argument("--smtp-port", type=int, default=8026, help="SMTP sink")
    p.add_argument("--account-sid", default=DEFAULT_ACCOUNT_SID)
    p.add_argument("--auth-token", default=DEFAULT_AUTH_TOKEN, help="checks API auth and signs webhooks")
    p.add_argument("--inbound-webhook-url", default=None, help="where simulated inbound SMS are POSTed")
    p.add_argument("--status-callback", default=None, help="status callback when a send names none")
    p.add_argument("--seed", type=int, default=0, help="seed of the fault generator")
    p.add_argument("--faults", type=json.loads, default=None, help='initial faults as JSON, e.g. {"error_rate": 0.1}')
    p.add_argument("--delivery-delay", type=float, default=0.05, help="seconds between status steps")
    p.add_argument("--smtp-username", default=None, help="require SMTP AUTH with this user")
    p.add_argument("--smtp-password", default=None)
    return p.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    handle = await start_sandbox(
        args.host, args.http_port, args.smtp_port, args.account_sid, args.auth_token, args.inbound_webhook_url,
        args.status_callback, args.seed, faults=args.faults, delivery_delay=args.delivery_delay,
        smtp_username=args.smtp_username, smtp_password=args.smtp_password,
    )
    print(f"sandbox: {handle.http_url}/sandbox/  smtp://{handle.smtp_host}:{handle.smtp_port}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await handle.stop()


def main(argv: list[str] | None = None) -> None:
    """Run the sandbox until interrupted."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # aiosmtpd logs peers and, at debug, mail content: keep personal data out of the log.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(parse_args(argv)))
