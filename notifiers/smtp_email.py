"""Email over SMTP with aiosmtplib, reusing one connection for every message."""

from __future__ import annotations

import asyncio
import email.policy
import hashlib
import logging
import ssl
from email.charset import QP, Charset
from email.header import Header
from email.message import EmailMessage
from email.mime.text import MIMEText
from email.utils import formatdate, make_msgid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import aiosmtplib

from notifiers.base import Notifier, SendResult
from notifiers.errors import InvalidRecipient, NotifierError, classify_smtp_error, unreachable
from schemas.vocab import Channel

log = logging.getLogger(__name__)

# 7-bit transfer encodings (quoted-printable/base64 for UTF-8 text) pass any relay, 8BITMIME or not.
_POLICY = email.policy.SMTP.clone(cte_type="7bit")
# The quick form: compat32 writes headers as given instead of parsing each one back (a fifth of a fan-out's
# CPU went there). Used when the addresses are ASCII; the subject is RFC 2047 encoded either way.
_QUICK_POLICY = email.policy.compat32.clone(linesep="\r\n")
_UTF8_QP = Charset("utf-8")
_UTF8_QP.body_encoding = QP


@dataclass(frozen=True)
class Attachment:
    """A file attached to an email."""

    filename: str
    content_type: str
    data: bytes


class SmtpEmailNotifier(Notifier):
    """Sends UTF-8 text email through one SMTP connection, reconnecting when the server drops it.

    Constructor parameters (keyword-only), as `registry.create("email", **params)` takes them:
    host, port: the relay (`settings.smtp`); sender: the From address; username, password: SMTP AUTH, if any;
    start_tls: upgrade with STARTTLS; use_tls: implicit TLS from the start; tls_context: a custom SSL context;
    timeout_seconds: the bound on each SMTP command. One instance holds one connection: build several for a pool.
    """

    channel: ClassVar[Channel] = Channel.email

    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        username: str | None = None,
        password: str | None = None,
        start_tls: bool = False,
        use_tls: bool = False,
        tls_context: ssl.SSLContext | None = None,
        timeout_seconds: float = 10.0,
    ) -> None:
        self._host, self._port, self._sender = host, port, sender
        self._username, self._password = username, password
        self._start_tls, self._use_tls, self._tls_context = start_tls, use_tls, tls_context
        self._timeout = timeout_seconds
        self._smtp: aiosmtplib.SMTP | None = None
        self._lock = asyncio.Lock()
        self._domain = sender.rpartition("@")[2] or "localhost"

    def message_id(self, key: str | None) -> str:
        """The Message-ID: derived from the idempotency key, so a resend after a crash is the same message."""
        if key is None:
            return make_msgid(domain=self._domain)
        return f"<{hashlib.sha256(key.encode()).hexdigest()[:40]}@{self._domain}>"

    def build(self, to: str, body: str, subject: str | None, key: str | None = None,
              attachments: Sequence[Attachment] = ()) -> tuple[str, bytes]:
        """The RFC 5322 message for `to`: (message id, bytes for DATA), with any attachments (a referral packet or
        a letter as a PDF) as MIME parts."""
        # A line break in a header value ends the header (or, doubled, every header): it could add a Bcc or
        # replace the body. The compat32 quick form writes values as given, so refuse or fold them here.
        if not to.isprintable():
            raise InvalidRecipient("address contains a line break or control character", code="address")
        subject = " ".join((subject or "").splitlines())
        message_id = self.message_id(key)
        date = formatdate(localtime=False, usegmt=True)
        if self._sender.isascii() and to.isascii() and not attachments:
            quick = MIMEText(body, "plain", _UTF8_QP)
            quick["From"], quick["To"] = self._sender, to
            quick["Subject"] = Header(subject, "utf-8")
            quick["Date"], quick["Message-ID"] = date, message_id
            return message_id, quick.as_bytes(policy=_QUICK_POLICY)
        msg = EmailMessage(policy=_POLICY)
        msg["From"] = self._sender
        msg["To"] = to
        msg["Subject"] = subject
        msg["Date"] = date
        msg["Message-ID"] = message_id
        msg.set_content(body, charset="utf-8")
        for item in attachments:
            maintype, _, subtype = item.content_type.partition("/")
            # The file name is ours (a reference and a kind), never text a person typed.
            msg.add_attachment(item.data, maintype=maintype, subtype=subtype, filename=item.filename)
        return message_id, msg.as_bytes(policy=_POLICY)

    async def _connect(self) -> aiosmtplib.SMTP:
        if self._smtp is not None and self._smtp.is_connected:
            return self._smtp
        smtp = aiosmtplib.SMTP(
            hostname=self._host, port=self._port, timeout=self._timeout, use_tls=self._use_tls,
            start_tls=self._start_tls, tls_context=self._tls_context,
        )
        try:
            await smtp.connect()
            if self._username:
                await smtp.login(self._username, self._password or "")
        except aiosmtplib.SMTPResponseException as exc:
            smtp.close()
            raise classify_smtp_error(exc.code, exc.message) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            smtp.close()
            raise unreachable(timeout=isinstance(exc, (TimeoutError, aiosmtplib.SMTPTimeoutError))) from exc
        self._smtp = smtp
        log.info("smtp connection opened")
        return smtp

    def _drop(self) -> None:
        if self._smtp is not None:
            self._smtp.close()
        self._smtp = None

    async def _start_transaction(self) -> aiosmtplib.SMTP:
        # A server may close an idle connection; MAIL FROM is the first command, so retrying it
        # on a fresh connection cannot duplicate a message.
        for attempt in range(2):
            smtp = await self._connect()
            try:
                await smtp.mail(self._sender)
                return smtp
            except aiosmtplib.SMTPServerDisconnected:
                self._drop()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def send(self, to: str, body: str, subject: str | None = None, key: str | None = None,
                   attachments: Sequence[Attachment] = ()) -> SendResult:
        """Send one email; the Message-ID (from `key` when given) is the provider id."""
        message_id, data = self.build(to, body, subject, key, attachments)
        async with self._lock:
            try:
                smtp = await self._start_transaction()
                await smtp.rcpt(to)
                await smtp.data(data)
            except aiosmtplib.SMTPResponseException as exc:
                await self._reset()
                error = classify_smtp_error(exc.code, exc.message)
            except aiosmtplib.SMTPRecipientsRefused as exc:
                await self._reset()
                first = exc.recipients[0] if exc.recipients else None
                error = classify_smtp_error(first.code if first else None, first.message if first else None)
            except NotifierError as exc:
                error = exc
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                self._drop()
                error = unreachable(timeout=isinstance(exc, (TimeoutError, aiosmtplib.SMTPTimeoutError)))
            else:
                return SendResult(provider_id=message_id, segments=1)
        log.warning("smtp send failed: %s retryable=%s", error.code, error.retryable)
        raise error

    async def _reset(self) -> None:
        # RSET clears the refused transaction so the connection can carry the next message.
        if self._smtp is None:
            return
        try:
            await self._smtp.rset()
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            self._drop()

    async def close(self) -> None:
        """Say QUIT and close the connection."""
        async with self._lock:
            if self._smtp is not None and self._smtp.is_connected:
                try:
                    await self._smtp.quit()
                except (aiosmtplib.SMTPException, OSError, TimeoutError):
                    pass
            self._drop()
