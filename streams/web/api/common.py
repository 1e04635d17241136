"""Shared view helpers: JSON errors with field paths, body limits, token auth, never a 500."""

from __future__ import annotations

import functools
import json
import logging
from typing import Any, Awaitable, Callable

from aiohttp import web

from schemas.audit import TokenRecord
from schemas.base import FieldProblem
from schemas.vocab import TokenRole
from streams.ids import hash_token
from streams.runtime import Runtime
from streams.services.errors import ServiceError

log = logging.getLogger("solidarity.web")


class ApiError(ServiceError):
    """An error of the HTTP layer itself (auth, body size, JSON), answered like a use-case's ServiceError."""


def error_response(status: int, problems: list[FieldProblem], headers: dict | None = None) -> web.Response:
    """A JSON error body listing every problem with its field."""
    body = {"errors": [p.model_dump() for p in problems]}
    return web.json_response(body, status=status, headers=headers)


def json_response(data: Any, status: int = 200) -> web.Response:
    """A JSON response that also serialises datetimes and enums."""
    return web.Response(text=json.dumps(data, default=str), status=status, content_type="application/json")


def guarded(handler: Callable[..., Awaitable[web.StreamResponse]]) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Turn ApiError into its JSON answer, and any unexpected failure into a 503, never a 500."""

    @functools.wraps(handler)
    async def wrapper(self, request, *args, **kwargs):
        try:
            return await handler(self, request, *args, **kwargs)
        except ServiceError as exc:
            return error_response(exc.status, exc.problems)
        except web.HTTPException:
            raise
        except Exception as exc:  # noqa: BLE001 - the contract is "never a 500"
            # The type only: messages can echo personal data from the request.
            log.error("unexpected %s in %s %s", type(exc).__name__, request.method, request.path)
            return error_response(503, [FieldProblem(field="body", message="temporarily unavailable, try again")],
                                  headers={"Retry-After": "2"})

    return wrapper


async def read_body(request: web.Request, limit: int) -> bytes:
    """The raw request body, refusing bodies over `limit` bytes with 413 (declared or actual size)."""
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, f"request body is larger than {limit // 1024} KiB")
    chunks, size = [], 0
    try:
        # content.read(n) returns whatever has arrived, not n bytes: keep reading to the end or the limit.
        while size <= limit:
            chunk = await request.content.read(limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except Exception:  # noqa: BLE001 - a client that hangs up mid-body, or a malformed chunked body
        raise ApiError(400, "could not read the request body") from None
    if size > limit:
        raise ApiError(413, f"request body is larger than {limit // 1024} KiB")
    return b"".join(chunks)


async def read_json(request: web.Request, limit: int) -> Any:
    """The request body as JSON, refusing bodies over `limit` bytes with 413 and bad JSON with 422."""
    return parse_json(await read_body(request, limit))


def parse_json(raw: bytes) -> Any:
    """JSON from UTF-8 bytes, or ApiError 422 naming the body."""
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ApiError(422, "body is not valid JSON (UTF-8)") from None
    except RecursionError:
        raise ApiError(422, "body is nested too deeply") from None


async def authenticate(rt: Runtime, request: web.Request, *roles: TokenRole) -> TokenRecord:
    """Return the token record for a valid bearer token of one of `roles`; 401 or 403 otherwise.

    A token unknown here is looked up again once this worker has read every token acknowledged until now:
    one created (or revoked) through the command line moments ago is known to every worker.
    """
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "missing bearer token (Authorization: Bearer <token>)", field="authorization")
    try:
        digest = hash_token(token)
    except UnicodeError:  # a header that is not text cannot be one of our tokens
        raise ApiError(401, "unknown or revoked token", field="authorization") from None
    record = await find_token(rt, digest)
    if record is None or record.revoked:
        raise ApiError(401, "unknown or revoked token", field="authorization")
    if TokenRole(record.role) not in roles:
        raise ApiError(403, f"this needs a {' or '.join(r.value for r in roles)} token", field="authorization")
    return record


async def find_token(rt: Runtime, digest: str) -> TokenRecord | None:
    """The token record by hash; read up to date first when it is unknown (just created elsewhere)."""
    record = rt.views.tokens.find(digest)
    if record is None and await rt.views.sync():
        record = rt.views.tokens.find(digest)
    return record
