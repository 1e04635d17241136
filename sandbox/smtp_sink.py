"""An in-process aiosmtpd SMTP server that keeps every mail in memory for the sandbox and tests."""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import socket
import ssl
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from sandbox.faults import FaultPlan

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MailAttachment:
    """A file attached to a received mail (a referral packet, a letter)."""

    filename: str
    content_type: str
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class MailRecord:
    """One received mail, parsed."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    sender: str
    to: str
    subject: str
    text: str
    message_id: str
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    attachments: tuple[MailAttachment, ...] = ()

    def to_json(self, index: int | None = None) -> dict[str, object]:
        """JSON for /sandbox/mail; each attachment with the address it downloads from."""
        return {"mail_from": self.mail_from, "rcpt_tos": list(self.rcpt_tos), "from": self.sender, "to": self.to,
                "subject": self.subject, "text": self.text, "message_id": self.message_id,
                "received_at": self.received_at.isoformat(), "index": index,
                "attachments": [{"filename": a.filename, "content_type": a.content_type, "size": len(a.data),
                                 "url": f"/sandbox/mail/{index}/attachments/{n}"}
                                for n, a in enumerate(self.attachments)]}


def parse_mail(mail_from: str, rcpt_tos: list[str], raw: bytes) -> MailRecord:
    """Parse raw RFC 5322 bytes into a MailRecord (text/plain body preferred)."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    part = msg.get_body(preferencelist=("plain", "html"))  # type: ignore[attr-defined]
    text = part.get_content() if part is not None else ""
    files = tuple(MailAttachment(filename=a.get_filename() or f"attachment-{n}", content_type=a.get_content_type(),
                                 data=a.get_payload(decode=True) or b"")
                  for n, a in enumerate(msg.iter_attachments()))  # type: ignore[attr-defined]
    return MailRecord(attachments=files, mail_from=mail_from, rcpt_tos=tuple(rcpt_tos), sender=str(msg.get("From", "")),
                      # A folded header ("Subject:\r\n SOL-...") unfolds with the space, which mail clients drop.
                      to=str(msg.get("To", "")), subject=str(msg.get("Subject", "")).lstrip(),
                      text=text.replace("\r\n", "\n").rstrip("\n"),
                      message_id=str(msg.get("Message-ID", "")))


class _Handler:
    """aiosmtpd hooks: refuse recipients per the faults, record accepted mail."""

    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        refusal = self.sink.faults.smtp_reply(address)
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        raw_bytes = raw if isinstance(raw, bytes) else str(raw).encode()
        self.sink.mails.append(parse_mail(str(envelope.mail_from), list(envelope.rcpt_tos), raw_bytes))
        return "250 Message accepted for delivery"


class _CountingSMTP(SMTP):
    def __init__(self, sink: SmtpSink, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sink = sink

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._sink.connections += 1
        self._sink._live.add(self)
        super().connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._sink._live.discard(self)
        super().connection_lost(exc)


class SmtpSink:
    """An SMTP server on the running loop; `mails` and `connections` are what tests look at."""

    def __init__(self, faults: FaultPlan | None = None, *, username: str | None = None,
                 password: str | None = None, tls_context: ssl.SSLContext | None = None) -> None:
        self.faults = faults or FaultPlan()
        self.mails: list[MailRecord] = []
        self.connections = 0
        self._credentials = (username, password) if username else None
        self._tls_context = tls_context
        self._server: asyncio.base_events.Server | None = None
        self._live: set[_CountingSMTP] = set()
        self.host, self.port = "127.0.0.1", 0

    def _authenticate(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                      auth_data: Any) -> AuthResult:
        # handled=False makes aiosmtpd send the 535 reply itself.
        if not isinstance(auth_data, LoginPassword) or self._credentials is None:
            return AuthResult(success=False, handled=False)
        given = (auth_data.login.decode(), auth_data.password.decode())
        return AuthResult(success=given == self._credentials, handled=False, auth_data=auth_data)

    def _protocol(self) -> SMTP:
        with warnings.catch_warnings():
            # AUTH without TLS is the sandbox's deliberate default; aiosmtpd warns on every connection.
            warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS", UserWarning)
            return self._new_protocol()

    def _new_protocol(self) -> SMTP:
        return _CountingSMTP(
            self, _Handler(self), hostname="sandbox.invalid", ident="Solidarity sandbox SMTP",
            enable_SMTPUTF8=True, decode_data=False, tls_context=self._tls_context,
            require_starttls=False, authenticator=self._authenticate if self._credentials else None,
            auth_required=self._credentials is not None, auth_require_tls=self._tls_context is not None,
        )

    async def start(self, host: str = "127.0.0.1", port: int = 8026) -> int:
        """Listen on host:port (0 picks a free port); returns the port."""
        sock = socket.create_server((host, port), reuse_port=False)
        self._server = await asyncio.get_running_loop().create_server(self._protocol, sock=sock)
        self.host, self.port = host, sock.getsockname()[1]
        return self.port

    async def stop(self) -> None:
        """Close the listener and every open session."""
        if self._server is None:
            return
        self._server.close()
        for protocol in list(self._live):
            if protocol.transport is not None:
                protocol.transport.close()
        await self._server.wait_closed()
        self._server = None

    def find(self, to: str | None = None) -> list[MailRecord]:
        """Mails whose envelope recipients include `to` (all if None), oldest first."""
        return [m for m in self.mails if to is None or to in m.rcpt_tos]

    def mailboxes(self) -> dict[str, list[MailRecord]]:
        """Each recipient address with its mails."""
        result: dict[str, list[MailRecord]] = {}
        for mail in self.mails:
            for rcpt in mail.rcpt_tos:
                result.setdefault(rcpt, []).append(mail)
        return result
