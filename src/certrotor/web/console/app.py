"""Assembly of the web console: its shared state, the session and header middleware, the error pages.

Every page needs a logged-in session; every POST needs the session's ``csrf_token`` form field;
viewers see, operators also act. The routes themselves live in :mod:`certrotor.web.console.routes`.
"""

from __future__ import annotations

import datetime as dt
import shlex
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape

from certrotor.durations import format_duration
from certrotor.errors import CertrotorError
from certrotor.logging import get_logger
from certrotor.services.runtime import Runtime
from certrotor.store.web_users import WebStore, WebUser
from certrotor.web.console.board import DEFAULT_INTERVAL_SECONDS, HealthBoard, describe_observer
from certrotor.web.console.jobs import RotationJobs
from certrotor.web.console.security import SECURITY_HEADERS, LoginThrottle
from certrotor.web.console.sessions import (
    COOKIE_NAME,
    DEFAULT_IDLE_TIMEOUT_SECONDS,
    ConsoleSession,
    SessionCodec,
    load_session_key,
)

log = get_logger(__name__)

PACKAGE_DIR = Path(__file__).parent
REFRESH_HEADER = "X-Console-Refresh"
"""Sent by the pages' own background refreshes: they do not count as activity for the idle timeout."""
MAX_FORM_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class ConsoleOptions:
    """How one console behaves; the defaults suit ``certrotor web serve`` on loopback."""

    secure_cookies: bool = False
    """Set the cookie's ``Secure`` flag (the console is served over TLS)."""
    idle_timeout_seconds: float = DEFAULT_IDLE_TIMEOUT_SECONDS
    observe_interval_seconds: float = DEFAULT_INTERVAL_SECONDS
    """Observe (into the store) every credential nobody observed for this long; 0: leave it to the daemon."""
    stale_after: dt.timedelta | None = None
    """A credential nobody observed for this long is WARN; ``None``: two observe intervals (health's
    default when this console does not observe)."""
    fleet_refresh_seconds: int = 15
    share_link_lifetime: dt.timedelta = dt.timedelta(hours=24)


@dataclass
class Console:
    """What every request of one console shares: store, web users, sessions, health, rotations."""

    runtime: Runtime
    web_store: WebStore
    options: ConsoleOptions = field(default_factory=ConsoleOptions)
    codec: SessionCodec = field(init=False)
    throttle: LoginThrottle = field(default_factory=LoginThrottle)
    board: HealthBoard = field(init=False)
    jobs: RotationJobs = field(init=False)
    templates: Environment = field(init=False)

    def __post_init__(self) -> None:
        key = load_session_key(self.runtime.settings.data_dir)
        self.codec = SessionCodec(key, idle_timeout=self.options.idle_timeout_seconds)
        self.board = HealthBoard(
            self.runtime,
            interval=self.options.observe_interval_seconds,
            stale_after=self.options.stale_after,
        )
        self.jobs = RotationJobs(self.runtime, after=self._after_rotation)
        self.templates = Environment(
            loader=FileSystemLoader(PACKAGE_DIR / "templates"),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.filters["when"] = format_when
        self.templates.filters["age"] = format_age
        self.templates.filters["duration"] = format_duration
        self.templates.filters["observer"] = describe_observer
        self.templates.filters["program"] = hook_program

    def _after_rotation(self, name: str) -> None:
        """A rotation ended: observe the credential's new certificate so that pages show its state."""
        try:
            self.board.check(self.runtime.store.get_credential(name))
        except CertrotorError as exc:
            log.warning("console observation failed", credential=name, error=exc.message)

    def start(self) -> None:
        self.board.start()

    def close(self) -> None:
        self.board.stop()
        self.jobs.wait_all()

    def render(self, request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        session: ConsoleSession = request.state.session
        user: WebUser | None = getattr(request.state, "user", None)
        page = self.templates.get_template(template).render(
            user=user,
            csrf_token=session.csrf_token,
            path=request.url.path,
            now=self.runtime.now(),
            **context,
        )
        return HTMLResponse(page, status_code=status_code)


# ----------------------------------------------------------------- formatting


def format_when(value: dt.datetime | None) -> str:
    if value is None:
        return "-"
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_age(value: dt.datetime | None, now: dt.datetime | None = None) -> str:
    """``12 s ago``, ``5 min ago``, ``in 3 h``: a moment relative to now, or ``never``."""
    if value is None:
        return "never"
    now = now or dt.datetime.now(dt.UTC)
    seconds = (now - value).total_seconds()
    ahead = seconds < 0
    seconds = abs(seconds)
    if seconds < 90:
        text = f"{int(seconds)} s"
    elif seconds < 90 * 60:
        text = f"{int(seconds // 60)} min"
    elif seconds < 36 * 3600:
        text = f"{int(seconds // 3600)} h"
    else:
        text = f"{int(seconds // 86400)} d"
    return f"in {text}" if ahead else f"{text} ago"


def hook_program(command: str | None) -> str:
    """The program a hook runs, without its arguments (which may carry secrets)."""
    if not command:
        return ""
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    return words[0] if words else ""


# ----------------------------------------------------------------- refusals


class LoginRequired(Exception):  # noqa: N818 - names the situation
    """No logged-in session: pages redirect to /login, JSON endpoints answer 401."""


class Refused(Exception):  # noqa: N818 - names the situation
    """A request that is understood but not allowed or not possible: an error page with a status."""

    def __init__(self, status_code: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.title = title
        self.message = message


def current_user(request: Request) -> WebUser:
    """The logged-in user (checked against the store on every request), or ``LoginRequired``."""
    user: WebUser | None = getattr(request.state, "user", None)
    if user is None:
        raise LoginRequired
    return user


def require_operator(request: Request) -> WebUser:
    user = current_user(request)
    if not user.may_act:
        raise Refused(403, "Not allowed", f"{user.name} is a viewer: only operators may do this.")
    return user


async def read_form(request: Request) -> dict[str, str]:
    """The URL-encoded form of a POST (at most 64 KiB), its ``csrf_token`` checked against the session."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise Refused(413, "Form too large", "The form is larger than the console accepts.")
    try:
        form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        raise Refused(400, "Bad form", "The form is not UTF-8 text.") from None
    session: ConsoleSession = request.state.session
    if not SessionCodec.csrf_matches(session, form.get("csrf_token")):
        raise Refused(
            403,
            "Form expired",
            "The form's security token is missing or does not match your session. "
            "Nothing was changed: reload the page and try again.",
        )
    return form


# ----------------------------------------------------------------- assembly


def create_console_app(console: Console) -> FastAPI:
    """The console as an ASGI app; the caller starts and closes ``console`` around serving it."""
    from certrotor.web.console.routes import router

    app = FastAPI(
        title="certrotor console", docs_url=None, redoc_url=None, openapi_url=None, redirect_slashes=False
    )
    app.state.console = console
    app.mount("/static", StaticFiles(directory=PACKAGE_DIR / "static"), name="static")
    app.include_router(router)

    @app.middleware("http")
    async def sessions_and_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        now = time.time()
        incoming = console.codec.decode(request.cookies.get(COOKIE_NAME), now)
        session = incoming or ConsoleSession.anonymous(now)
        request.state.session = session
        request.state.user = None
        if session.user is not None:
            user = await _lookup_user(console, session.user)
            if user is None:
                session = ConsoleSession.anonymous(now)  # removed meanwhile: log out
                request.state.session = session
            request.state.user = user
        response = await call_next(request)
        final: ConsoleSession = request.state.session
        cookie: ConsoleSession | None = None
        if final is not session or incoming is not session:
            cookie = final  # logged in or out, or a new anonymous session
        elif request.headers.get(REFRESH_HEADER) != "1":
            cookie = session.touched(now)  # activity: the idle timeout starts again
        if cookie is not None:
            response.set_cookie(
                COOKIE_NAME,
                console.codec.encode(cookie),
                httponly=True,
                samesite="strict",
                secure=console.options.secure_cookies,
                path="/",
            )
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, _exc: LoginRequired) -> Response:
        if request.url.path.endswith(".json"):
            return JSONResponse({"error": "login_required"}, status_code=401)
        target = request.url.path if request.method == "GET" else "/"
        return RedirectResponse(f"/login?next={quote(target, safe='/')}", status_code=303)

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> Response:
        if request.url.path.endswith(".json"):
            return JSONResponse({"error": exc.title, "message": exc.message}, status_code=exc.status_code)
        return console.render(request, "error.html", exc.status_code, title=exc.title, message=exc.message)

    @app.exception_handler(404)
    async def not_found(request: Request, _exc: Exception) -> Response:
        return console.render(request, "error.html", 404, title="Not found", message="There is no such page.")

    return app


async def _lookup_user(console: Console, name: str) -> WebUser | None:
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(console.web_store.find_user, name)
