"""Inspection and control endpoints under /sandbox/, plus a small server-rendered page."""

from __future__ import annotations

import json
from pathlib import Path

import jinja2
from aiohttp import web

from sandbox.smtp_sink import SmtpSink
from sandbox.twilio_api import TwilioGateway

_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")), autoescape=True,
)
_TEMPLATES.filters["id"] = id


class Admin:
    """Handlers for /sandbox/: messages, mail, faults, inbound simulation and the HTML page."""

    def __init__(self, gateway: TwilioGateway, sink: SmtpSink) -> None:
        self.gateway, self.sink = gateway, sink

    def routes(self) -> list[web.RouteDef]:
        """The admin routes."""
        return [
            web.get("/sandbox/", self.page), web.get("/sandbox/messages", self.messages),
            web.delete("/sandbox/messages", self.reset), web.get("/sandbox/mail", self.mail),
            web.delete("/sandbox/mail", self.reset_mail),
            web.get("/sandbox/mail/{index}/attachments/{n}", self.attachment), web.get("/sandbox/faults", self.get_faults),
            web.post("/sandbox/faults", self.set_faults), web.post("/sandbox/inbound", self.inbound),
            web.get("/sandbox/senders", self.senders),
        ]

    async def messages(self, request: web.Request) -> web.Response:
        """GET /sandbox/messages?to=&from=: every SMS, either direction, oldest first."""
        to, sender = request.query.get("to"), request.query.get("from")
        found = [r for r in self.gateway.store.records
                 if (to is None or r.to == to) and (sender is None or r.from_ == sender)]
        return web.json_response([r.to_json() for r in found])

    async def reset(self, request: web.Request) -> web.Response:
        """DELETE /sandbox/messages: forget all SMS and mail, and the messages still on senders' queues."""
        self.gateway.store.clear()
        self.gateway.clear_queues()
        self.sink.mails.clear()
        return web.Response(status=204)

    async def mail(self, request: web.Request) -> web.Response:
        """GET /sandbox/mail?to=: mails received, oldest first."""
        to = request.query.get("to")
        return web.json_response([m.to_json(i) for i, m in enumerate(self.sink.mails)
                                  if to is None or to in m.rcpt_tos])

    async def attachment(self, request: web.Request) -> web.Response:
        """GET /sandbox/mail/{index}/attachments/{n}: one attached file, as received."""
        try:
            found = self.sink.mails[int(request.match_info["index"])].attachments[int(request.match_info["n"])]
        except (ValueError, IndexError):
            return web.Response(status=404, text="no such attachment\n")
        safe = "".join(c for c in found.filename if c.isalnum() or c in "._-") or "attachment"
        return web.Response(body=found.data, content_type=found.content_type,
                            headers={"Content-Disposition": f'inline; filename="{safe}"'})

    async def reset_mail(self, request: web.Request) -> web.Response:
        """DELETE /sandbox/mail: forget all mail."""
        self.sink.mails.clear()
        return web.Response(status=204)

    async def get_faults(self, request: web.Request) -> web.Response:
        """GET /sandbox/faults: the faults in force."""
        return web.json_response(self.gateway.faults.faults.__dict__)

    async def set_faults(self, request: web.Request) -> web.Response:
        """POST /sandbox/faults {..partial..}: change faults; {"reset": true} clears them first."""
        try:
            changes = await request.json()
            if not isinstance(changes, dict):
                raise ValueError("expected a JSON object")
            if changes.pop("reset", False):
                self.gateway.faults.reset()
            faults = self.gateway.faults.update(changes)
        except (ValueError, TypeError, json.JSONDecodeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(faults.__dict__)

    async def senders(self, request: web.Request) -> web.Response:
        """GET /sandbox/senders: each rate-limited sender's type, rate, queue and when its queue is empty."""
        plan = self.gateway.faults
        report = self.gateway.senders.report({key: plan.sender_class(key) for key in plan.faults.senders},
                                             plan.default_sender(), plan.faults.queue_seconds)
        return web.json_response(report)

    async def inbound(self, request: web.Request) -> web.Response:
        """POST /sandbox/inbound {from, body[, to]} (JSON or form): a member texts the service."""
        is_form = request.content_type != "application/json"
        data = dict(await request.post()) if is_form else await request.json()
        sender, body = str(data.get("from") or ""), str(data.get("body") or "")
        if not sender or not body:
            return web.json_response({"error": "from and body are required"}, status=400)
        result = await self.gateway.inbound(sender, body, str(data["to"]) if data.get("to") else None)
        if is_form:
            raise web.HTTPSeeOther("/sandbox/")
        return web.json_response(result, status=201)

    async def page(self, request: web.Request) -> web.Response:
        """GET /sandbox/: each phone's conversation and each mailbox, with a reply box per phone."""
        html = _TEMPLATES.get_template("index.html.j2").render(
            phones=self.gateway.store.phones(), mailboxes=self.sink.mailboxes(),
            index={id(m): i for i, m in enumerate(self.sink.mails)},
            faults=self.gateway.faults.faults, inbound_url=self.gateway.inbound_webhook_url,
        )
        return web.Response(text=html, content_type="text/html")
