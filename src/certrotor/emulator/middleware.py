"""ASGI middleware of the emulator: a bounded request body, injected faults for resilience tests, and
answers styled as clients in production see NetSuite's (plain-text errors, Oracle's content type)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.responses import JSONResponse

from certrotor.emulator.config import ORACLE_CONTENT_TYPE
from certrotor.emulator.problems import (
    RATE_LIMIT_EXCEEDED,
    REQUEST_TOO_LARGE,
    SERVICE_UNAVAILABLE,
    netsuite_error_body,
)
from certrotor.emulator.runtime import EmulatorRuntime, Fault
from certrotor.protocol.records import RESTLET_PATH
from certrotor.protocol.urls import TOKEN_PATH

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

TRANSPORT_EXTENSION = "certrotor.emulator.transport"
"""Scope extension holding the connection's asyncio transport (set by the emulator's protocol)."""

_CERTIFICATE_PATHS = re.compile(r"^/services/rest/auth/oauth2/v1/clients/[^/]+/certificates(/.*)?$")
# An oversized body is read and discarded up to this many times the limit, so the client (still
# writing) gets the 413 instead of a reset connection; beyond that the connection is closed.
_DRAIN_FACTOR = 16


class ConnectionDroppedError(Exception):
    """Raised when a connection must be dropped but the server gave no transport to close."""


async def drop_connection(scope: Scope) -> None:
    """Close the connection without any answer, as a crashed proxy or server would."""
    transport = scope.get("extensions", {}).get(TRANSPORT_EXTENSION)
    if transport is None:
        raise ConnectionDroppedError("fault injection dropped the connection")
    transport.close()
    # Let the event loop run connection_lost, so the server knows no answer is expected.
    for _ in range(3):
        await asyncio.sleep(0)


async def _send_error(
    send: Send, status: int, code: str, detail: str, headers: dict[str, str] | None = None
) -> None:
    response = JSONResponse(netsuite_error_body(status, code, detail), status_code=status, headers=headers)
    await response({"type": "http"}, _no_receive, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


class BodyLimitMiddleware:
    """Refuse bodies above ``max_body_bytes`` with 413 before any route sees them."""

    def __init__(self, app: ASGIApp, runtime: EmulatorRuntime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.runtime.config.max_body_bytes
        declared = _content_length(scope)
        chunks: list[bytes] = []
        size = 0
        too_large = declared is not None and declared > limit
        if too_large and declared is not None and declared > limit * _DRAIN_FACTOR:
            await self._refuse(send, limit, close=True)
            return
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            body = message.get("body", b"")
            size += len(body)
            if size > limit:
                too_large = True
                if size > limit * _DRAIN_FACTOR:
                    await self._refuse(send, limit, close=True)
                    return
            elif body:
                chunks.append(body)
            if not message.get("more_body", False):
                break
        if too_large:
            await self._refuse(send, limit, close=False)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    async def _refuse(send: Send, limit: int, *, close: bool) -> None:
        headers = {"Connection": "close"} if close else None
        await _send_error(
            send,
            413,
            REQUEST_TOO_LARGE,
            f"The request body exceeds the limit of {limit} bytes.",
            headers,
        )


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def faultable(path: str) -> bool:
    """Faults strike the token endpoint and the certificate endpoints only."""
    return path == TOKEN_PATH or bool(_CERTIFICATE_PATHS.match(path))


class FaultInjectionMiddleware:
    """Delays, 5xx, 429 and dropped connections, before handling or after a stored change."""

    def __init__(self, app: ASGIApp, runtime: EmulatorRuntime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not faultable(scope["path"]):
            await self.app(scope, receive, send)
            return
        runtime = self.runtime
        if not runtime.config.faults_enabled:
            await self.app(scope, receive, send)
            return
        delay = runtime.roll_slow()
        if delay:
            await asyncio.sleep(delay)
        fault = runtime.roll_before()
        if fault is Fault.ERROR:
            await self._server_error(send)
            return
        if fault is Fault.RATE_LIMIT:
            seconds = runtime.config.retry_after_seconds
            await _send_error(
                send,
                429,
                RATE_LIMIT_EXCEEDED,
                f"Too many requests; retry after {seconds} seconds.",
                {"Retry-After": str(seconds)},
            )
            return
        if fault is Fault.DROP:
            await drop_connection(scope)
            return
        changes_state = scope["method"] == "POST" and scope["path"] != TOKEN_PATH
        if not changes_state:
            await self.app(scope, receive, send)
            return
        # Hold the answer back until the change is stored; then maybe lose it.
        held: list[Message] = []

        async def hold(message: Message) -> None:
            held.append(message)

        await self.app(scope, receive, hold)
        status = next((m["status"] for m in held if m["type"] == "http.response.start"), 500)
        after = runtime.roll_after_commit() if 200 <= status < 300 else None
        if after is Fault.AFTER_COMMIT_ERROR:
            await self._server_error(send)
        elif after is Fault.AFTER_COMMIT_DROP:
            await drop_connection(scope)
        else:
            for message in held:
                await send(message)

    async def _server_error(self, send: Send) -> None:
        status = self.runtime.config.error_status
        await _send_error(
            send,
            status,
            SERVICE_UNAVAILABLE,
            "The service is temporarily unavailable (injected fault); retry later.",
        )


def styled(path: str) -> bool:
    """Answer styles apply to the certificate endpoints and the records RESTlet (not the token endpoint)."""
    return path == RESTLET_PATH or bool(_CERTIFICATE_PATHS.match(path))


def error_text(body: bytes) -> str | None:
    """NetSuite's own words in a JSON error body (REST or RESTlet shape); ``None`` if it has none."""
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(parsed, dict):
        return None
    details = parsed.get("o:errorDetails")
    if isinstance(details, list):
        words = [str(d.get("detail")) for d in details if isinstance(d, dict) and d.get("detail")]
        return " ".join(words) or None
    error = parsed.get("error")
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    return None


class AnswerStyleMiddleware:
    """With ``plain_text_errors`` errors become plain text; with ``oracle_content_type`` JSON successes
    carry ``application/vnd.oracle.resource+json``: NetSuite as clients in production report it."""

    def __init__(self, app: ASGIApp, runtime: EmulatorRuntime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        config = self.runtime.config
        if (
            scope["type"] != "http"
            or not (config.plain_text_errors or config.oracle_content_type)
            or not styled(scope["path"])
        ):
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def restyle(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            status, body, headers = start["status"], b"".join(chunks), list(start.get("headers", []))
            content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
            is_json = content_type.startswith(b"application/json")
            if status >= 400 and config.plain_text_errors and is_json:
                text = error_text(body)
                if text is not None:
                    body, content_type = text.encode("utf-8"), b"text/plain;charset=UTF-8"
            elif status < 400 and config.oracle_content_type and is_json:
                content_type = ORACLE_CONTENT_TYPE.encode("ascii")
            kept = [(k, v) for k, v in headers if k.lower() not in (b"content-type", b"content-length")]
            kept += [(b"content-type", content_type), (b"content-length", str(len(body)).encode("ascii"))]
            await send({**start, "headers": kept})
            await send({"type": "http.response.body", "body": body, "more_body": False})

        await self.app(scope, receive, restyle)
