"""SMS through the Twilio REST API (or the Twilio-compatible sandbox) with the async twilio client."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import ClassVar, TypeVar

import aiohttp
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from notifiers.base import Notifier, ProviderMessage, SendResult
from notifiers.errors import NotifierError, unreachable
from notifiers.twilio.errors import classify_twilio_error
from notifiers.twilio.receipts import status_callback_url
from schemas.vocab import Channel

log = logging.getLogger(__name__)
# The twilio HTTP client logs query parameters (recipient numbers) at INFO: keep its log quiet.
_wire_log = logging.getLogger(__name__ + ".wire")
_wire_log.setLevel(logging.WARNING)
T = TypeVar("T")


class TwilioSmsNotifier(Notifier):
    """Sends SMS through Twilio's Messages API at `base_url`; one HTTP session for all requests.

    Constructor parameters (keyword-only), as `registry.create("sms", **params)` takes them:
    base_url: the API base URL (`settings.twilio.base_url`; the sandbox in dev); account_sid, auth_token: the
    account; from_number or messaging_service_sid: the sender (at least one); status_callback: the absolute URL
    of our StatusCallback webhook, or None for no receipts (each message adds `?key=<idempotency key>`);
    timeout_seconds: the bound on each API call.
    """

    channel: ClassVar[Channel] = Channel.sms

    def __init__(
        self,
        *,
        base_url: str,
        account_sid: str,
        auth_token: str,
        from_number: str | None = None,
        messaging_service_sid: str | None = None,
        status_callback: str | None = None,
        timeout_seconds: float = 10.0,
    ) -> None:
        if not from_number and not messaging_service_sid:
            raise ValueError("either from_number or messaging_service_sid is required")
        self._base_url = base_url.rstrip("/")
        self._account_sid = account_sid
        self._auth_token = auth_token
        self._from = from_number
        self._service = messaging_service_sid
        self._status_callback = status_callback
        self._timeout = timeout_seconds
        self._http: AsyncTwilioHttpClient | None = None
        self._client: Client | None = None

    def _twilio(self) -> Client:
        # Built lazily: AsyncTwilioHttpClient opens an aiohttp session, which wants a running loop.
        if self._client is None:
            self._http = AsyncTwilioHttpClient(timeout=self._timeout, logger=_wire_log)
            client = Client(self._account_sid, self._auth_token, http_client=self._http)
            # Edge/region (from TWILIO_EDGE/TWILIO_REGION) would rewrite the host name; the base URL rules.
            client.edge = None
            client.region = None
            # The Api domain builds every Messages URL (and next_page_uri) from this attribute.
            client.api.base_url = self._base_url
            self._client = client
        return self._client

    async def _call(self, operation: str, request: Awaitable[T]) -> T:
        # The async twilio client ignores its own timeout per request, so bound the whole call here.
        try:
            async with asyncio.timeout(self._timeout):
                return await request
        except TwilioRestException as exc:
            error = classify_twilio_error(exc.status, exc.code, exc.msg)
        except TwilioServiceException as exc:
            error = classify_twilio_error(exc.status, exc.code, exc.detail)
        except (TimeoutError, aiohttp.ServerTimeoutError):
            error = unreachable(timeout=True)
        except (aiohttp.ClientConnectorError, ConnectionRefusedError):
            error = unreachable(timeout=False)  # never connected: the request cannot have reached Twilio
        except (aiohttp.ClientError, OSError):
            # Connected, then lost (reset, hang-up, a broken answer): Twilio may have created the message.
            error = unreachable(timeout=False, sent=True)
        log.warning("twilio %s failed: %s retryable=%s", operation, error.code, error.retryable)
        raise error

    async def send(self, to: str, body: str, subject: str | None = None, key: str | None = None,
                   sender=None) -> SendResult:
        """Send one SMS; `subject` is ignored (SMS has none); `key` rides on the StatusCallback URL; `sender` (an
        object with `from_number` and `messaging_service_sid`, one of a pool's) replaces the configured sender.

        Twilio has no idempotency key, so `key` cannot stop a repeat; it tells the receipt which notification
        it belongs to.
        """
        params: dict[str, str] = {"to": to, "body": body}
        service, number = ((sender.messaging_service_sid, sender.from_number) if sender is not None
                           else (self._service, self._from))
        if service:
            params["messaging_service_sid"] = service
        if number:
            params["from_"] = number
        if self._status_callback:
            params["status_callback"] = status_callback_url(self._status_callback, key)
        message = await self._call("create", self._twilio().messages.create_async(**params))
        if not message.sid:
            raise NotifierError("provider returned no message sid", code="no-sid")
        return SendResult(provider_id=message.sid, segments=int(message.num_segments or 1))

    async def lookup(self, to: str, since: datetime, any_sender: bool = False) -> list[ProviderMessage]:
        """Messages from our number (from any of the account's senders with `any_sender`: a pool) to `to`
        created at or after `since` (newest first)."""
        since = since if since.tzinfo else since.replace(tzinfo=UTC)
        filters: dict[str, object] = {"to": to, "date_sent_after": since.astimezone(UTC)}
        if self._from and not any_sender:
            filters["from_"] = self._from
        found = await self._call("list", self._twilio().messages.list_async(**filters))
        result = []
        for m in found:
            # Created, not sent: recovery compares it with the time we marked the notification 'sending'.
            when = m.date_created or m.date_sent
            if when is not None and when < since:
                continue
            result.append(ProviderMessage(m.sid or "", m.to or to, m.from_, m.body, m.status, when))
        return result

    async def status(self, provider_id: str) -> str | None:
        """The provider's current status of one message (queued, sent, delivered, undelivered, failed)."""
        message = await self._call("fetch", self._twilio().messages(provider_id).fetch_async())
        return message.status

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._http is not None:
            await self._http.close()
        self._http = self._client = None
