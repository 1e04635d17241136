"""Shared integration fixtures: the real sandbox in-process, a webhook receiver, a localhost-only guard.

For the protocol tests of the sandbox and the notifiers, which read the sandbox's own store (`sandbox.gateway.store`,
`sandbox.sink`). Tests of a running worker use the sandbox client, testing/sandbox.py, instead.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from sandbox import SandboxHandle, start_sandbox

__all__ = ["Receiver", "clean_sandbox", "eventually", "localhost_only", "point_at", "receiver", "sandbox",
           "twilio_async", "twilio_sync"]


def _is_local(host: object) -> bool:
    if host in ("localhost", None, ""):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(scope="module", autouse=True)
def localhost_only() -> Iterator[None]:
    """Refuse any connection or name lookup that would leave localhost."""
    real_connect, real_connect_ex, real_getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo

    def guard(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(address[0]):
            raise ConnectionRefusedError(f"test tried to leave localhost: {address[0]}")

    def connect(sock: socket.socket, address: Any) -> None:
        guard(sock, address)
        return real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: Any) -> int:
        guard(sock, address)
        return real_connect_ex(sock, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not _is_local(host.decode() if isinstance(host, bytes) else host):
            raise socket.gaierror(f"test tried to resolve a non-local name: {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", connect)
        mp.setattr(socket.socket, "connect_ex", connect_ex)
        mp.setattr(socket, "getaddrinfo", getaddrinfo)
        yield


async def eventually(predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.01) -> Any:
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds."""
    async with asyncio.timeout(timeout):
        while not (result := predicate()):
            await asyncio.sleep(interval)
    return result


@dataclass
class Received:
    """One webhook the receiver got."""

    path: str
    url: str
    form: dict[str, str]
    signature: str | None

    def valid(self, auth_token: str) -> bool:
        """Whether the X-Twilio-Signature validates with the twilio library's RequestValidator."""
        return RequestValidator(auth_token).validate(self.url, self.form, self.signature or "")


@dataclass
class Receiver:
    """A tiny aiohttp app standing in for our webhooks; answers TwiML from `replies`."""

    base_url: str = ""
    requests: list[Received] = field(default_factory=list)
    replies: dict[str, str] = field(default_factory=dict)

    def url(self, path: str) -> str:
        """Absolute URL of `path` on the receiver."""
        return self.base_url + path

    def at(self, path: str) -> list[Received]:
        """Webhooks received on `path`."""
        return [r for r in self.requests if r.path == path]

    async def handle(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.requests.append(Received(request.path, str(request.url), form, request.headers.get("X-Twilio-Signature")))
        reply = self.replies.get(form.get("Body", "").strip().upper())
        twiml = f"<Response><Message>{reply}</Message></Response>" if reply else "<Response/>"
        return web.Response(text=twiml, content_type="text/xml")


@pytest.fixture(scope="module")
async def receiver() -> AsyncIterator[Receiver]:
    """A running webhook receiver on a free localhost port."""
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/{tail:.*}", rec.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = socket.create_server(("127.0.0.1", 0))
    await web.SockSite(runner, sock).start()
    rec.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    yield rec
    await runner.cleanup()


@pytest.fixture(scope="module")
async def sandbox(receiver: Receiver) -> AsyncIterator[SandboxHandle]:
    """The real sandbox (HTTP API + SMTP sink) on free ports, inbound webhooks to the receiver."""
    handle = await start_sandbox(
        "127.0.0.1", 0, 0, inbound_webhook_url=receiver.url("/sms/inbound"), seed=7, delivery_delay=0.01,
    )
    yield handle
    await handle.stop()


@pytest.fixture(autouse=True)
def clean_sandbox(sandbox: SandboxHandle, receiver: Receiver) -> None:
    """Every test starts with no messages, no mail, no faults and no webhooks."""
    sandbox.reset()
    receiver.requests.clear()
    receiver.replies.clear()


def point_at(client: Client, base_url: str) -> Client:
    """Send the unmodified twilio client's Messages API calls to `base_url` instead of api.twilio.com."""
    client.edge = client.region = None
    client.api.base_url = base_url
    return client


@pytest.fixture
def twilio_sync(sandbox: SandboxHandle) -> Client:
    """The sync twilio client pointed at the sandbox (call it through asyncio.to_thread)."""
    client = Client(sandbox.account_sid, sandbox.auth_token, http_client=TwilioHttpClient(timeout=5))
    return point_at(client, sandbox.http_url)


@pytest.fixture
async def twilio_async(sandbox: SandboxHandle) -> AsyncIterator[Client]:
    """The async twilio client pointed at the sandbox."""
    http = AsyncTwilioHttpClient()
    yield point_at(Client(sandbox.account_sid, sandbox.auth_token, http_client=http), sandbox.http_url)
    await http.close()
