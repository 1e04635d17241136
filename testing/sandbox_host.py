"""The process testing/sandbox.py starts: the project's sandbox, run unchanged, plus a read-only probe.

`GET /sandbox/messages` renders dates as RFC 2822 (whole seconds); benchmarks and drills need the microseconds
the store keeps, so this host serves them on a second port: `python -m testing.sandbox_host --probe-port N ...`
followed by the flags of `python -m sandbox`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import socket

from aiohttp import web

from sandbox.server import SandboxHandle, start_sandbox
from sandbox.server import parse_args as sandbox_args


def probe_app(handle: SandboxHandle) -> web.Application:
    """Routes that read the running sandbox's SMS store and mail sink (never change them)."""

    async def sms(request: web.Request) -> web.Response:
        start = int(request.query.get("start", 0))
        records = handle.gateway.store.records
        items = [[r.to, r.from_, r.date_created.timestamp(), r.body, r.direction, r.status, r.num_segments]
                 for r in records[start:]]
        return web.json_response({"total": len(records), "items": items})

    async def mail(request: web.Request) -> web.Response:
        start = int(request.query.get("start", 0))
        mails = handle.sink.mails
        items = [[m.rcpt_tos[0] if m.rcpt_tos else m.to, m.received_at.timestamp(), m.subject, m.text, m.message_id]
                 for m in mails[start:]]
        return web.json_response({"total": len(mails), "items": items})

    async def counts(request: web.Request) -> web.Response:
        return web.json_response({"sms": len(handle.gateway.store.records), "mail": len(handle.sink.mails)})

    app = web.Application()
    app.add_routes([web.get("/probe/sms", sms), web.get("/probe/mail", mail), web.get("/probe/counts", counts)])
    return app


async def _serve(args: argparse.Namespace, probe_port: int) -> None:
    handle = await start_sandbox(
        args.host, args.http_port, args.smtp_port, args.account_sid, args.auth_token, args.inbound_webhook_url,
        args.status_callback, args.seed, faults=args.faults, delivery_delay=args.delivery_delay,
        smtp_username=args.smtp_username, smtp_password=args.smtp_password,
    )
    runner = web.AppRunner(probe_app(handle), access_log=None)
    await runner.setup()
    await web.SockSite(runner, socket.create_server((args.host, probe_port))).start()
    print(json.dumps({"http": handle.http_url, "smtp": handle.smtp_port, "probe": probe_port}), flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
        await handle.stop()


def main() -> None:
    """Run the sandbox with its probe until terminated."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--probe-port", type=int, required=True)
    known, rest = pre.parse_known_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(sandbox_args(rest), known.probe_port))


if __name__ == "__main__":
    main()
