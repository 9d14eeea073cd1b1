"""The authorization code grant with PKCE (RFC 6749 4.1, RFC 7636, RFC 8252 loopback redirect).

Everything ``certrotor login`` needs except the command line: PKCE and state, the authorize URL,
a one-shot HTTP receiver on 127.0.0.1 for the redirect, and the code exchange.
"""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx2

from certrotor.client.netsuite import NetSuiteClient
from certrotor.errors import LoginError
from certrotor.logging import get_logger
from certrotor.protocol.assertion import check_scopes
from certrotor.protocol.models import TokenResponse
from certrotor.protocol.urls import NetSuiteEndpoints

log = get_logger(__name__)

LOOPBACK_HOST = "127.0.0.1"
DEFAULT_REDIRECT_PATH = "/callback"
DEFAULT_LOGIN_TIMEOUT_SECONDS = 300.0


@dataclass(frozen=True, slots=True)
class PkcePair:
    """A PKCE code verifier (kept secret until the exchange) and its S256 challenge."""

    verifier: str = field(repr=False)
    challenge: str
    method: str = "S256"


def s256_challenge(verifier: str) -> str:
    """``BASE64URL(SHA256(verifier))`` without padding (RFC 7636 4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def make_pkce_pair() -> PkcePair:
    # 64 random bytes give an 86-character verifier, inside RFC 7636's 43..128.
    verifier = secrets.token_urlsafe(64)
    return PkcePair(verifier=verifier, challenge=s256_challenge(verifier))


def make_state() -> str:
    return secrets.token_urlsafe(24)


def build_authorize_url(
    endpoints: NetSuiteEndpoints,
    *,
    client_id: str,
    redirect_uri: str,
    scopes: Sequence[str],
    state: str,
    code_challenge: str,
) -> str:
    """The URL to open in a browser: NetSuite's consent page for this integration."""
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "scope": " ".join(check_scopes(scopes)),
            "state": state,
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
        }
    )
    return f"{endpoints.authorize_url}?{query}"


_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>certrotor login</title></head>
<body style="font-family: sans-serif; margin: 3em;">
<h1>{title}</h1><p>{text}</p></body></html>
"""


@dataclass
class _Outcome:
    code: str | None = field(default=None, repr=False)
    error: LoginError | None = None


class LoopbackReceiver:
    """A one-shot HTTP server on 127.0.0.1 that receives the authorization redirect.

    Use as a context manager; ``redirect_uri`` is known once it is entered (a free port unless
    ``port`` is given). The first request to ``path`` settles the outcome; it is checked against
    ``state`` and the browser gets a short page saying what happened.
    """

    def __init__(self, state: str, *, port: int = 0, path: str = DEFAULT_REDIRECT_PATH) -> None:
        self._state = state
        self._port = port
        self._path = path if path.startswith("/") else "/" + path
        self._outcome = _Outcome()
        self._settled = threading.Event()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"LoopbackReceiver(redirect_uri={self.redirect_uri if self._server else None!r})"

    @property
    def redirect_uri(self) -> str:
        if self._server is None:
            raise RuntimeError("enter the LoopbackReceiver before asking for its redirect URI")
        return f"http://{LOOPBACK_HOST}:{self._server.server_address[1]}{self._path}"

    def __enter__(self) -> LoopbackReceiver:
        try:
            self._server = ThreadingHTTPServer((LOOPBACK_HOST, self._port), self._handler_class())
        except OSError as exc:
            raise LoginError(
                f"Cannot listen on {LOOPBACK_HOST}:{self._port} for the login redirect: "
                f"{exc.strerror or exc}.",
                reason="listen_failed",
                hint="choose another --port, or 0 for any free port.",
            ) from None
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="certrotor-login-receiver",
            daemon=True,
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def wait_for_code(self, timeout: float) -> str:
        """The authorization code, or ``LoginError`` (denied, state mismatch, timeout)."""
        if not self._settled.wait(timeout):
            raise LoginError(
                f"No login redirect arrived within {timeout:g} seconds.",
                reason="timeout",
                hint="finish the login in the browser sooner, or give a longer --timeout.",
            )
        if self._outcome.error is not None:
            raise self._outcome.error
        assert self._outcome.code is not None
        return self._outcome.code

    def _settle(self, query: dict[str, list[str]]) -> tuple[int, str, str]:
        """Record the redirect's outcome once; return (status, title, text) for the browser."""
        with self._lock:
            if self._settled.is_set():
                return 409, "Already done", "This login already finished; close this tab."
            outcome = _judge_redirect(query, expected_state=self._state)
            self._outcome = outcome
            self._settled.set()
        if outcome.error is None:
            return 200, "Login complete", "certrotor received the authorization; close this tab."
        return 400, "Login failed", outcome.error.message

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class RedirectHandler(BaseHTTPRequestHandler):
            server_version = "certrotor-login"
            sys_version = ""

            def do_GET(self) -> None:
                target = urlsplit(self.path)
                if target.path != receiver._path:
                    self._answer(404, "Not found", "This is certrotor's login receiver.")
                    return
                self._answer(*receiver._settle(parse_qs(target.query)))

            def _answer(self, status: int, title: str, text: str) -> None:
                page = _PAGE.format(title=html.escape(title), text=html.escape(text)).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(page)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, format: str, *args: Any) -> None:
                # The default writes the request line, code included, to stderr: never do that.
                log.debug("login.redirect_received", status=args[1] if len(args) > 1 else None)

        return RedirectHandler


def _first(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def _judge_redirect(query: dict[str, list[str]], *, expected_state: str) -> _Outcome:
    state = _first(query, "state")
    if state is None or not secrets.compare_digest(state, expected_state):
        return _Outcome(
            error=LoginError(
                "The login redirect carries a state this login did not send.",
                reason="state_mismatch",
                hint="start `certrotor login` again and finish it in the browser tab it opens; "
                "a redirect from another tab or site was refused.",
            )
        )
    error = _first(query, "error")
    if error is not None:
        description = _first(query, "error_description")
        return _Outcome(
            error=LoginError(
                f"NetSuite did not authorize the login: {error}"
                + (f" ({description})" if description else "")
                + ".",
                reason=error,
                hint=(
                    "approve the request on the consent page, with a role that may use this integration."
                    if error == "access_denied"
                    else "check the integration record: authorization code grant enabled, "
                    "redirect URI and scopes allowed."
                ),
            )
        )
    code = _first(query, "code")
    if not code:
        return _Outcome(
            error=LoginError(
                "The login redirect carries neither a code nor an error.",
                reason="missing_code",
                hint="start `certrotor login` again.",
            )
        )
    return _Outcome(code=code)


def run_login_flow(
    endpoints: NetSuiteEndpoints,
    client_id: str,
    scopes: Sequence[str],
    open_browser: Callable[[str], None],
    timeout: float = DEFAULT_LOGIN_TIMEOUT_SECONDS,
    *,
    port: int = 0,
    redirect_path: str = DEFAULT_REDIRECT_PATH,
    client_secret: str | None = None,
    verify_tls: bool = True,
    http_timeout: float = 30.0,
    transport: httpx2.BaseTransport | None = None,
) -> TokenResponse:
    """Open the consent page, wait for the redirect on 127.0.0.1, exchange the code for a token."""
    chosen_scopes = check_scopes(scopes)
    pkce = make_pkce_pair()
    state = make_state()
    with LoopbackReceiver(state, port=port, path=redirect_path) as receiver:
        url = build_authorize_url(
            endpoints,
            client_id=client_id,
            redirect_uri=receiver.redirect_uri,
            scopes=chosen_scopes,
            state=state,
            code_challenge=pkce.challenge,
        )
        log.info("login.started", client_id=client_id, redirect_uri=receiver.redirect_uri)
        open_browser(url)
        code = receiver.wait_for_code(timeout)
        redirect_uri = receiver.redirect_uri
    with NetSuiteClient(
        endpoints,
        client_id=client_id,
        auth=None,
        verify_tls=verify_tls,
        timeout=http_timeout,
        transport=transport,
    ) as client:
        token = client.exchange_authorization_code(
            code,
            redirect_uri=redirect_uri,
            code_verifier=pkce.verifier,
            client_secret=client_secret,
        )
    log.info("login.completed", client_id=client_id, expires_in=token.expires_in)
    return token
