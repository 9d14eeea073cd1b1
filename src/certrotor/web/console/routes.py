"""The console's pages and actions: login, fleet, credential, rotation progress, events, onboarding."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from certrotor.delivery import CERT_FILE, KEY_FILE, METADATA_FILE
from certrotor.errors import CertrotorError, CredentialBusyError, LoginError, NotFoundError
from certrotor.health_rules import HealthReport, HealthStatus
from certrotor.logging import scrub_text
from certrotor.store import (
    Credential,
    CredentialKind,
    EventOutcome,
    Rotation,
    VersionState,
)
from certrotor.store.web_users import ShareLinkRefused
from certrotor.web.console import onboarding as onboarding_service
from certrotor.web.console.app import (
    Console,
    Refused,
    current_user,
    read_form,
    require_operator,
)
from certrotor.web.console.board import Standing
from certrotor.web.console.jobs import RotationJob
from certrotor.web.console.sessions import ConsoleSession

router = APIRouter()

_STATUSES = tuple(status.value for status in HealthStatus)
_SORTS = {"expiry": "expiry (soonest first)", "-expiry": "expiry (latest first)", "name": "name"}
_VERSION_STATES_SHOWN = (
    VersionState.CURRENT,
    VersionState.PREVIOUS,
    VersionState.UPLOADED,
    VersionState.PENDING,
)
_DONE_NOTICES = {
    "check": "Observed just now (NetSuite's list and a token with the current certificate).",
    "rotate": "Rotation started: its steps appear below as they happen.",
    "busy": "A rotation of this credential is already running.",
}
VERIFIERS_FILE = "verifiers.pem"


def _console(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


def _client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _safe_next(target: str | None) -> str:
    """Only a path of this console: never another site (no scheme, no ``//host``, no backslash)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


# ----------------------------------------------------------------- login


@router.get("/login")
async def login_page(request: Request, next: str = "/") -> Response:
    console = _console(request)
    if getattr(request.state, "user", None) is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return console.render(request, "login.html", next=_safe_next(next), error=None, username="")


@router.post("/login")
async def login(request: Request) -> Response:
    console = _console(request)
    form = await read_form(request)
    username = form.get("username", "").strip()[:64]
    password = form.get("password", "")
    target = _safe_next(form.get("next"))
    client = _client_address(request)
    wait = console.throttle.retry_after(username, client)
    if wait > 0:
        await _audit(
            console,
            None,
            f"web:{username or '-'}",
            "web-login",
            EventOutcome.ERROR,
            {"reason": "rate_limited", "client": client},
        )
        minutes = max(1, round(wait / 60))
        return console.render(
            request,
            "login.html",
            429,
            next=target,
            username=username,
            error=f"Too many failed logins. Try again in about {minutes} min.",
        )
    user = await run_in_threadpool(console.web_store.authenticate, username, password)
    if user is None:
        console.throttle.failed(username, client)
        await _audit(
            console,
            None,
            f"web:{username or '-'}",
            "web-login",
            EventOutcome.ERROR,
            {"reason": "wrong_credentials", "client": client},
        )
        return console.render(
            request,
            "login.html",
            401,
            next=target,
            username=username,
            error="Wrong user name or password.",
        )
    console.throttle.succeeded(username)
    session: ConsoleSession = request.state.session
    request.state.session = session.logged_in_as(user.name, time.time())
    await _audit(console, None, user.actor, "web-login", EventOutcome.OK, {"client": client})
    return RedirectResponse(target, status_code=303)


@router.post("/logout")
async def logout(request: Request) -> Response:
    console = _console(request)
    user = current_user(request)
    await read_form(request)
    request.state.session = ConsoleSession.anonymous(time.time())
    await _audit(console, None, user.actor, "web-logout", EventOutcome.OK, {})
    return RedirectResponse("/login", status_code=303)


async def _audit(
    console: Console,
    credential: Credential | str | None,
    actor: str,
    action: str,
    outcome: EventOutcome,
    detail: dict[str, Any],
) -> None:
    await run_in_threadpool(
        console.runtime.store.append_event, credential, actor[:128], action, outcome, detail
    )


# ----------------------------------------------------------------- fleet


@dataclass(frozen=True, slots=True)
class FleetRow:
    standing: Standing

    @property
    def credential(self) -> Credential:
        return self.standing.credential

    @property
    def status(self) -> str:
        return self.standing.report.status.value

    @property
    def reason(self) -> str:
        reasons = self.standing.report.reasons
        return reasons[0].message if reasons else self.standing.report.summary

    @property
    def expires_at(self) -> dt.datetime | None:
        return self.standing.report.expires_at

    @property
    def observed_at(self) -> dt.datetime | None:
        return self.standing.observed_at


def _fleet(console: Console, status: str, account: str, sort: str) -> dict[str, Any]:
    rows = [FleetRow(standing) for standing in console.board.standings()]
    counts = {value: sum(1 for row in rows if row.status == value) for value in _STATUSES}
    accounts = sorted({row.credential.account_id for row in rows})
    shown = [
        row
        for row in rows
        if (not status or row.status == status) and (not account or row.credential.account_id == account)
    ]
    far = dt.datetime.max.replace(tzinfo=dt.UTC)
    if sort == "name":
        shown.sort(key=lambda row: row.credential.name)
    else:
        shown.sort(key=lambda row: (row.expires_at or far, row.credential.name), reverse=sort == "-expiry")
    return {"rows": shown, "counts": counts, "total": len(rows), "accounts": accounts}


@router.get("/")
async def fleet(request: Request, status: str = "", account: str = "", sort: str = "expiry") -> Response:
    console = _console(request)
    current_user(request)
    status = status.upper() if status.upper() in _STATUSES else ""
    sort = sort if sort in _SORTS else "expiry"
    data = await run_in_threadpool(_fleet, console, status, account, sort)
    return console.render(
        request,
        "fleet.html",
        **data,
        status=status,
        account=account,
        sort=sort,
        sorts=_SORTS,
        statuses=_STATUSES,
        refresh_seconds=console.options.fleet_refresh_seconds,
        stale_after=console.board.stale_after,
    )


# ----------------------------------------------------------------- one credential


def _credential_or_404(console: Console, name: str) -> Credential:
    credential = console.runtime.store.find_credential(name)
    if credential is None:
        raise Refused(404, "No such credential", f"There is no credential named {name!r}.")
    return credential


def _delivery(console: Console, credential: Credential) -> dict[str, Any]:
    settings = console.runtime.settings
    directory = credential.delivery_dir or str(settings.resolved_delivery_dir / credential.name)
    files = (
        [VERIFIERS_FILE] if credential.kind is CredentialKind.RECORD else [KEY_FILE, CERT_FILE, METADATA_FILE]
    )
    return {"directory": directory, "files": files, "hook": credential.hook_command}


def _credential_page_data(console: Console, name: str) -> dict[str, Any]:
    store = console.runtime.store
    credential = _credential_or_404(console, name)
    versions = [v for v in store.versions(credential) if v.state in _VERSION_STATES_SHOWN]
    versions.sort(key=lambda v: _VERSION_STATES_SHOWN.index(v.state))
    revoked = [
        v for v in store.versions(credential) if v.state in (VersionState.REVOKED, VersionState.FAILED)
    ]
    revoked.sort(key=lambda v: v.created_at, reverse=True)
    return {
        "credential": credential,
        "versions": versions,
        "retired": revoked[:5],
        "standing": console.board.standing(credential),
        "delivery": _delivery(console, credential),
        "events": store.events(credential, limit=25),
        "rotations": store.rotations(credential, limit=5),
        "job": console.jobs.latest(credential.name),
        "is_record": credential.kind is CredentialKind.RECORD,
    }


@router.get("/credentials/{name}")
async def credential_page(request: Request, name: str, done: str = "") -> Response:
    console = _console(request)
    current_user(request)
    data = await run_in_threadpool(_credential_page_data, console, name)
    return console.render(request, "credential.html", **data, notice=_DONE_NOTICES.get(done))


@router.post("/credentials/{name}/rotate")
async def rotate_now(request: Request, name: str) -> Response:
    console = _console(request)
    current_user(request)
    await read_form(request)
    user = require_operator(request)
    credential = await run_in_threadpool(_credential_or_404, console, name)
    try:
        job = console.jobs.start(credential.name, user.actor)
    except CredentialBusyError:
        return RedirectResponse(f"/credentials/{credential.name}?done=busy", status_code=303)
    await _audit(console, credential, user.actor, "web-rotate", EventOutcome.INFO, {"job": job.id})
    return RedirectResponse(f"/credentials/{credential.name}?done=rotate", status_code=303)


def _check(console: Console, name: str, actor: str) -> HealthReport:
    credential = _credential_or_404(console, name)
    report = console.board.check(credential, actor)
    console.runtime.store.append_event(
        credential,
        actor,
        "web-check",
        EventOutcome.OK if report.status is HealthStatus.OK else EventOutcome.ERROR,
        {"status": report.status.value, "reasons": [reason.code for reason in report.reasons]},
    )
    return report


@router.post("/credentials/{name}/check")
async def check_now(request: Request, name: str) -> Response:
    console = _console(request)
    current_user(request)
    await read_form(request)
    user = require_operator(request)
    report = await run_in_threadpool(_check, console, name, user.actor)
    return RedirectResponse(f"/credentials/{report.name}?done=check", status_code=303)


def _rotation_json(rotation: Rotation) -> dict[str, Any]:
    return {
        "id": rotation.id,
        "step": rotation.step.value,
        "strategy": rotation.strategy.value,
        "started_at": rotation.started_at.isoformat(),
        "finished_at": rotation.finished_at.isoformat() if rotation.finished_at else None,
        "error": scrub_text(rotation.error) if rotation.error else None,
    }


def _job_json(job: RotationJob) -> dict[str, Any]:
    return {
        "id": job.id,
        "status": job.status,
        "running": job.running,
        "message": scrub_text(job.message),
        "started_at": job.started_at.isoformat(),
        "actor": job.actor,
    }


def _progress(console: Console, name: str) -> dict[str, Any]:
    """The journal of the credential's latest rotation, with the events of each step, oldest first."""
    store = console.runtime.store
    credential = _credential_or_404(console, name)
    job = console.jobs.latest(credential.name)
    latest = store.rotations(credential, limit=1)
    rotation = latest[0] if latest else None
    if (
        rotation is not None
        and job is not None
        and rotation.started_at < job.started_at - dt.timedelta(seconds=2)
    ):
        rotation = None  # the journal's newest rotation predates the console's: not started yet
    steps = []
    if rotation is not None:
        for event in reversed(store.events(credential, limit=200)):
            if event.detail.get("rotation") == rotation.id:
                steps.append(
                    {
                        "at": event.at.isoformat(),
                        "action": event.action,
                        "outcome": event.outcome.value,
                        "actor": event.actor,
                    }
                )
    current = store.current_version(credential)
    return {
        "credential": credential.name,
        "job": _job_json(job) if job is not None else None,
        "rotation": _rotation_json(rotation) if rotation is not None else None,
        "steps": steps,
        "current_certificate_id": current.certificate_id if current else None,
    }


@router.get("/credentials/{name}/rotation.json")
async def rotation_progress(request: Request, name: str) -> Response:
    console = _console(request)
    current_user(request)
    return JSONResponse(await run_in_threadpool(_progress, console, name))


# ----------------------------------------------------------------- events


@router.get("/events")
async def events_page(
    request: Request,
    credential: str = "",
    actor: str = "",
    action: str = "",
    outcome: str = "",
    limit: int = 200,
) -> Response:
    console = _console(request)
    current_user(request)
    limit = min(max(limit, 1), 1000)

    def load() -> dict[str, Any]:
        store = console.runtime.store
        names = sorted({c.name for c in store.list_credentials()})
        try:
            rows = store.events(credential or None, limit=5000 if (actor or action or outcome) else limit)
        except NotFoundError:
            rows = []
        shown = [
            e
            for e in rows
            if (not actor or actor.lower() in e.actor.lower())
            and (not action or e.action == action)
            and (not outcome or e.outcome.value == outcome)
        ][:limit]
        actions = sorted({e.action for e in rows})
        return {"events": shown, "names": names, "actions": actions}

    data = await run_in_threadpool(load)
    return console.render(
        request,
        "events.html",
        **data,
        credential=credential,
        actor=actor,
        action=action,
        outcome=outcome,
        outcomes=[o.value for o in EventOutcome],
        limit=limit,
    )


# ----------------------------------------------------------------- onboarding


def _connect_defaults(console: Console, template: str) -> dict[str, str]:
    defaults = {
        "name": "",
        "account_id": "",
        "client_id": "",
        "entity": "",
        "role": "",
        "base_url": "",
        "manager": "",
    }
    if template:
        credential = console.runtime.store.find_credential(template)
        if credential is not None:
            defaults.update(
                account_id=credential.account_id,
                client_id=credential.client_id,
                base_url=credential.base_url or "",
            )
    return defaults


def _connect_page_data(console: Console, template: str) -> dict[str, Any]:
    store = console.runtime.store
    return {
        "form": _connect_defaults(console, template),
        "templates": [c.name for c in store.list_credentials()],
        "chosen_template": template,
        "onboardings": console.web_store.recent_onboardings(10),
        "error": None,
    }


@router.get("/connect")
async def connect_page(request: Request, template: str = "") -> Response:
    console = _console(request)
    require_operator(request)
    data = await run_in_threadpool(_connect_page_data, console, template)
    return console.render(request, "connect.html", **data)


@router.post("/connect")
async def connect_start(request: Request) -> Response:
    console = _console(request)
    current_user(request)
    form = await read_form(request)
    user = require_operator(request)
    typed = onboarding_service.ConnectRequest(
        name=form.get("name", ""),
        account_id=form.get("account_id", ""),
        client_id=form.get("client_id", ""),
        entity=form.get("entity", ""),
        role=form.get("role", ""),
        base_url=form.get("base_url", ""),
        manager=form.get("manager", ""),
    )
    redirect_uri = str(request.url_for("connect_callback"))
    try:
        started = await run_in_threadpool(
            lambda: onboarding_service.start_onboarding(
                console.runtime,
                console.web_store,
                typed,
                actor=user.actor,
                redirect_uri=redirect_uri,
                lifetime=console.options.share_link_lifetime,
            )
        )
    except CertrotorError as exc:
        data = await run_in_threadpool(_connect_page_data, console, "")
        data["form"] = {field: form.get(field, "") for field in data["form"]}
        data["error"] = str(exc)
        return console.render(request, "connect.html", 400, **data)
    share_url = str(request.url_for("connect_share", token=started.share_token))
    return console.render(
        request,
        "connect_started.html",
        onboarding=started.onboarding,
        share_url=share_url,
    )


@router.get("/connect/{onboarding_id}/authorize")
async def connect_authorize(request: Request, onboarding_id: int) -> Response:
    """The operator goes to the consent page personally (the share link stays unused)."""
    console = _console(request)
    user = require_operator(request)

    def url() -> str:
        onboarding = console.web_store.get_onboarding(onboarding_id)
        if onboarding.finished_at is not None or onboarding.is_expired(console.runtime.now()):
            raise Refused(410, "Onboarding closed", f"Onboarding {onboarding_id} is finished or expired.")
        console.runtime.store.append_event(
            None, user.actor, "web-onboarding-consent", EventOutcome.INFO, {"onboarding": onboarding_id}
        )
        return onboarding_service.authorize_url(console.web_store, onboarding)

    try:
        target = await run_in_threadpool(url)
    except NotFoundError as exc:
        raise Refused(404, "No such onboarding", exc.message) from None
    return RedirectResponse(target, status_code=303)


@router.get("/connect/share/{token}", name="connect_share")
async def connect_share(request: Request, token: str) -> Response:
    """The customer's administrator's single-use link: no console login, straight to NetSuite's consent."""
    console = _console(request)

    def use() -> str:
        onboarding = console.web_store.use_share_link(token, console.runtime.now())
        console.runtime.store.append_event(
            None,
            onboarding.started_by,
            "web-share-link-used",
            EventOutcome.INFO,
            {"onboarding": onboarding.id, "client": _client_address(request)},
        )
        return onboarding_service.authorize_url(console.web_store, onboarding)

    try:
        target = await run_in_threadpool(use)
    except ShareLinkRefused as exc:
        return console.render(request, "shared.html", 410, title="Link not usable", message=str(exc))
    return RedirectResponse(target, status_code=303)


@router.get("/connect/callback", name="connect_callback")
async def connect_callback(
    request: Request, state: str = "", code: str = "", error: str = "", error_description: str = ""
) -> Response:
    """NetSuite's redirect after consent; reached by whoever approved, so it shows no console detail."""
    console = _console(request)
    reported = f"{error} ({error_description})" if error and error_description else (error or None)
    try:
        connected = await run_in_threadpool(
            lambda: onboarding_service.finish_onboarding(
                console.runtime, console.web_store, state=state, code=code or None, error=reported
            )
        )
    except LoginError as exc:
        return console.render(request, "shared.html", 400, title="Not connected", message=str(exc))
    except CertrotorError as exc:
        return console.render(request, "shared.html", 502, title="Connection failed", message=str(exc))
    return console.render(
        request,
        "shared.html",
        title="Account connected",
        message=f"NetSuite account {connected.credential.account_id} is connected as "
        f"{connected.credential.name}; its first certificate is active. You may close this page.",
        credential=connected.credential.name,
    )
