"""The Twilio-compatible Messages API: create, list, fetch, status callbacks and inbound webhooks."""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import re
import time
import xml.etree.ElementTree as ET
from urllib.parse import urlencode

import aiohttp
from aiohttp import web
from yarl import URL

from sandbox.errors import ERRORS, QUEUE_OVERFLOW, UNDELIVERED, twilio_error
from sandbox.faults import FaultPlan
from sandbox.limits import RequestGate
from sandbox.senders import SenderQueues
from sandbox.signing import SIGNATURE_HEADER, twilio_signature
from sandbox.sms_store import API_VERSION, SmsRecord, SmsStore, new_sid, parse_date_filter

__all__ = ["DEFAULT_FROM", "ERRORS", "TwilioGateway", "twilio_error", "twiml_messages"]

log = logging.getLogger(__name__)

DEFAULT_FROM = "+15005550006"
E164 = re.compile(r"^\+[1-9]\d{6,14}$")


class TwilioGateway:
    """State and handlers of the fake Twilio API for one account."""

    def __init__(
        self, *, account_sid: str, auth_token: str, faults: FaultPlan, inbound_webhook_url: str | None = None,
        status_callback_default: str | None = None, delivery_delay: float = 0.05,
    ) -> None:
        self.account_sid, self.auth_token, self.faults = account_sid, auth_token, faults
        self.inbound_webhook_url = inbound_webhook_url
        self.status_callback_default = status_callback_default
        self.delivery_delay = delivery_delay
        self.store = SmsStore()
        self.senders = SenderQueues()
        self.gate = RequestGate(faults)
        self.callbacks_failed = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._queued: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None

    def routes(self) -> list[web.RouteDef]:
        """The API routes, under /2010-04-01/Accounts/{sid}/."""
        base = f"/{API_VERSION}/Accounts/{{account}}/Messages"
        gate = self.gate
        return [web.post(base + ".json", gate(self.create)), web.get(base + ".json", gate(self.list)),
                web.get(base + "/{sid}.json", gate(self.fetch))]

    def _authorized(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        try:
            user, _, token = base64.b64decode(header.removeprefix("Basic ")).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            user = token = ""
        if not header.startswith("Basic ") or (user, token) != (self.account_sid, self.auth_token):
            return twilio_error(20003)
        if request.match_info["account"] != self.account_sid:
            return twilio_error(20404)
        return None

    async def create(self, request: web.Request) -> web.StreamResponse:
        """POST Messages.json: accept (201, queued) or fail as the faults say."""
        if (denied := self._authorized(request)) is not None:
            return denied
        form = await request.post()
        to, sender = str(form.get("To", "")), str(form.get("From", ""))
        service, body = form.get("MessagingServiceSid"), form.get("Body")
        if not to:
            return twilio_error(21604)
        if not body:
            return twilio_error(21602)
        if not sender and not service:
            return twilio_error(21603)
        code = 21211 if not E164.match(to) else self.faults.permanent_error(to)
        if code:
            return twilio_error(code)
        record = SmsRecord(
            account_sid=self.account_sid, to=to, from_=sender or DEFAULT_FROM, body=str(body),
            messaging_service_sid=str(service) if service else None,
            status_callback=str(form.get("StatusCallback") or "") or self.status_callback_default,
        )
        # Sent with both From and MessagingServiceSid, a message queues on the number: Twilio sends from it.
        queue_key = sender or str(service)
        fate = self.faults.transient()
        if fate == "timeout":
            # Accepted-then-timed-out is the case exactly-once recovery (lookup) exists for.
            if self.faults.faults.timeout_accepts:
                self._accept(record, queue_key)
            await asyncio.sleep(self.faults.faults.timeout_seconds)
            return twilio_error(20500)
        if fate == "throttle":
            return twilio_error(20429)
        if fate == "error":
            return twilio_error(20500)
        self._accept(record, queue_key)
        return web.json_response(record.to_json(), status=201)

    def _accept(self, record: SmsRecord, queue_key: str | None = None) -> None:
        self.store.add(record)
        undelivered = self.faults.undelivered()
        key = queue_key or record.from_
        sender = self.faults.sender_class(key)
        if sender is None:
            self._spawn(self._progress(record, undelivered))
            return
        leaves = self.senders.place(key, record.sid, record.num_segments, sender, self.faults.faults.queue_seconds)
        if leaves is None:
            self._spawn(self._overflow(record))
            return
        self._queued.add(self._spawn(self._progress(record, undelivered, key, leaves)))

    def _spawn(self, coro: object) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(self._queued.discard)
        return task

    async def _progress(self, record: SmsRecord, undelivered: bool, queue_key: str | None = None,
                        leaves: float | None = None) -> None:
        # queued -> sent -> delivered | undelivered, one callback per step after queued.
        wait = 0.0 if leaves is None else max(0.0, leaves - time.monotonic())
        await asyncio.sleep(wait + self.delivery_delay)
        if queue_key is not None:
            self.senders.left(queue_key, record.sid)
            self._queued.discard(asyncio.current_task())  # type: ignore[arg-type]
        record.set_status("sent")
        await self._status_callback(record)
        await asyncio.sleep(self.delivery_delay)
        if undelivered:
            record.set_status("undelivered", *UNDELIVERED)
        else:
            record.set_status("delivered")
        await self._status_callback(record)

    async def _overflow(self, record: SmsRecord) -> None:
        # Twilio accepts the request, then fails the message once it finds the sender's queue full.
        await asyncio.sleep(self.delivery_delay)
        record.set_status("failed", *QUEUE_OVERFLOW)
        await self._status_callback(record)

    def clear_queues(self) -> None:
        """Drop every message still waiting on a sender's queue, and the queues."""
        for task in list(self._queued):
            task.cancel()
        self.senders.clear()

    async def _status_callback(self, record: SmsRecord) -> None:
        if not record.status_callback:
            return
        params = {"AccountSid": record.account_sid, "ApiVersion": API_VERSION, "From": record.from_,
                  "MessageSid": record.sid, "MessageStatus": record.status, "SmsSid": record.sid,
                  "SmsStatus": record.status, "To": record.to}
        if record.messaging_service_sid:
            params["MessagingServiceSid"] = record.messaging_service_sid
        if record.error_code:
            params["ErrorCode"] = str(record.error_code)
        await self.post_signed(record.status_callback, params)

    async def post_signed(self, url: str, params: dict[str, str]) -> tuple[int, str] | None:
        """POST form `params` to `url` signed like Twilio; (status, body) or None if it failed."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        headers = {SIGNATURE_HEADER: twilio_signature(self.auth_token, url, params),
                   "Content-Type": "application/x-www-form-urlencoded", "User-Agent": "TwilioProxy/1.1"}
        # Twilio requests the URL exactly as given and signs that string; aiohttp would re-quote it
        # (%3A -> :, %2F -> /) and the receiver would check a different URL than the one signed.
        try:
            async with self._session.post(URL(url, encoded=True), data=urlencode(params),
                                          headers=headers) as response:
                return response.status, await response.text()
        except (aiohttp.ClientError, TimeoutError, OSError):
            self.callbacks_failed += 1
            log.warning("webhook delivery failed")
            return None

    async def list(self, request: web.Request) -> web.Response:
        """GET Messages.json: filter by To, From, DateSent (=, <, >) and page like Twilio."""
        if (denied := self._authorized(request)) is not None:
            return denied
        q = request.query
        try:
            dates = {key: parse_date_filter(q[param]) for key, param in
                     (("on", "DateSent"), ("before", "DateSent<"), ("after", "DateSent>")) if q.get(param)}
            page_size = min(max(int(q.get("PageSize", 50)), 1), 1000)
            page = int(q.get("Page", 0))
        except ValueError:
            return twilio_error(20001)
        found = self.store.search(to=q.get("To"), from_=q.get("From"), **dates)
        start = 0
        if token := q.get("PageToken"):
            sids = [r.sid for r in found]
            start = sids.index(token[2:]) + 1 if token[2:] in sids else len(found)
        chunk = found[start:start + page_size]
        filters = [(k, q[k]) for k in ("To", "From", "DateSent", "DateSent<", "DateSent>") if q.get(k)]
        path = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages.json"

        def uri(extra: list[tuple[str, str]]) -> str:
            return path + "?" + urlencode(filters + [("PageSize", str(page_size))] + extra)

        more = start + page_size < len(found)
        next_uri = uri([("Page", str(page + 1)), ("PageToken", "PA" + chunk[-1].sid)]) if more else None
        return web.json_response({
            "messages": [r.to_json() for r in chunk], "end": start + len(chunk) - 1 if chunk else 0,
            "first_page_uri": uri([("Page", "0")]), "next_page_uri": next_uri, "page": page,
            "page_size": page_size, "previous_page_uri": None, "start": start, "uri": uri([("Page", str(page))]),
        })

    async def fetch(self, request: web.Request) -> web.Response:
        """GET Messages/{sid}.json."""
        if (denied := self._authorized(request)) is not None:
            return denied
        record = self.store.get(request.match_info["sid"])
        return web.json_response(record.to_json()) if record else twilio_error(20404)

    async def inbound(self, sender: str, body: str, to: str | None = None) -> dict[str, object]:
        """A member texts us: record it, POST the signed webhook, and keep any TwiML <Message> replies."""
        if to is None:
            previous = self.store.search(to=sender)
            to = previous[0].from_ if previous else DEFAULT_FROM
        record = self.store.add(SmsRecord(account_sid=self.account_sid, to=to, from_=sender, body=body,
                                          direction="inbound", status="received", sid=new_sid("SM")))
        result: dict[str, object] = {"sid": record.sid, "webhook_status": None, "replies": []}
        if not self.inbound_webhook_url:
            return result
        params = {"AccountSid": self.account_sid, "ApiVersion": API_VERSION, "Body": body, "From": sender,
                  "MessageSid": record.sid, "NumMedia": "0", "NumSegments": str(record.num_segments),
                  "SmsMessageSid": record.sid, "SmsSid": record.sid, "SmsStatus": "received", "To": to}
        answer = await self.post_signed(self.inbound_webhook_url, params)
        if answer is not None:
            result["webhook_status"] = answer[0]
            result["replies"] = [self._reply(record, text) for text in twiml_messages(answer[1])]
        return result

    def _reply(self, inbound: SmsRecord, text: str) -> str:
        reply = SmsRecord(account_sid=self.account_sid, to=inbound.from_, from_=inbound.to, body=text,
                          direction="outbound-reply")
        self._accept(reply)
        return reply.sid

    async def close(self) -> None:
        """Cancel pending status progressions and close the webhook session."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None


def twiml_messages(text: str) -> list[str]:
    """The texts of <Message> verbs in a TwiML <Response>; [] if it is not TwiML."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        return []
    if root.tag != "Response":
        return []
    texts = []
    for message in root.iter("Message"):
        inner = message.find("Body")
        texts.append(((inner.text if inner is not None else message.text) or "").strip())
    return [t for t in texts if t]
