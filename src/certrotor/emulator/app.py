"""The emulator's FastAPI application: one router per area, NetSuite-shaped errors, body limit, faults.

Add an area (e.g. certificate records) as a module in ``routes/`` with its own ``APIRouter`` and
list it in ``ROUTERS``; nothing else changes.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from certrotor.emulator.config import EmulatorConfig
from certrotor.emulator.middleware import (
    AnswerStyleMiddleware,
    BodyLimitMiddleware,
    FaultInjectionMiddleware,
)
from certrotor.emulator.problems import (
    INVALID_CONTENT,
    METHOD_NOT_ALLOWED,
    NONEXISTENT_ID,
    UNEXPECTED_ERROR,
    NetSuiteRefusalError,
    OAuthRefusalError,
    netsuite_error_body,
)
from certrotor.emulator.routes import (
    admin,
    authorize,
    certificate_records,
    certificates,
    protected_resource,
    suiteql,
    token,
)
from certrotor.emulator.runtime import EmulatorRuntime
from certrotor.emulator.state import EmulatorState
from certrotor.errors import AlreadyExistsError, CertrotorError, NotFoundError
from certrotor.protocol.urls import TOKEN_PATH

ROUTERS = (
    token.router,
    authorize.router,
    certificates.router,
    protected_resource.router,
    suiteql.router,
    certificate_records.router,
    admin.router,
)
EMULATOR_VERSION = "1.0.0"
OPENAPI_DESCRIPTION = (
    "NetSuite's OAuth 2.0 token, authorization and certificate endpoints, the certificate records "
    "RESTlet and a small REST web services surface (record/v1 for customer, employee and salesOrder, "
    "its metadata catalog, query/v1/suiteql), emulated.\n\n"
    "Scopes are checked per resource: rest_webservices for record/v1, query/v1 and the certificate "
    "endpoints, restlets for RESTlet URLs. The integration record's settings (client credentials grant, "
    "ticked scopes) refuse token requests with unauthorized_client or invalid_scope.\n\n"
    "Emulator rules that NetSuite does not document (settings under /_emulator/config): an assertion "
    "without jti may not be sent twice, the same bytes are refused as a replay (replay_without_jti, on by "
    "default); the assertion's aud is compared strictly with the token endpoint URL (audience_rule "
    "'strict', the default) or accepted when it contains that URL ('lenient')."
)

_log = logging.getLogger(__name__)


def _netsuite_error(status: int, code: str, detail: str) -> JSONResponse:
    return JSONResponse(netsuite_error_body(status, code, detail), status_code=status)


async def _on_netsuite_refusal(request: Request, error: Exception) -> Response:
    assert isinstance(error, NetSuiteRefusalError)
    return error.response()


async def _on_oauth_refusal(request: Request, error: Exception) -> Response:
    assert isinstance(error, OAuthRefusalError)
    return error.response()


async def _on_certrotor_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, CertrotorError)
    if isinstance(error, NotFoundError):
        return _netsuite_error(404, NONEXISTENT_ID, error.message)
    status = 409 if isinstance(error, AlreadyExistsError) else 400
    return _netsuite_error(status, INVALID_CONTENT, error.message)


async def _on_validation_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    problems = "; ".join(
        f"{'.'.join(str(part) for part in problem['loc'][1:]) or 'body'}: {problem['msg']}"
        for problem in error.errors()
    )
    return _netsuite_error(400, INVALID_CONTENT, f"Invalid request: {problems}.")


async def _on_http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, StarletteHTTPException)
    if error.status_code == 404:
        return _netsuite_error(404, NONEXISTENT_ID, f"Nothing is found at {request.url.path}.")
    if error.status_code == 405:
        return _netsuite_error(405, METHOD_NOT_ALLOWED, f"{request.method} is not allowed here.")
    return _netsuite_error(error.status_code, INVALID_CONTENT, str(error.detail))


async def _on_unexpected(request: Request, error: Exception) -> Response:
    _log.error("emulator failure on %s %s", request.method, request.url.path, exc_info=error)
    return _netsuite_error(500, UNEXPECTED_ERROR, "An unexpected error occurred in the emulator.")


class EmulatorApp(FastAPI):
    """FastAPI with token requests (``POST`` to the token endpoint) answered before it routes: through
    the same middleware and error handler, by :class:`~certrotor.emulator.routes.token.TokenRequestApp`,
    with the same answers. Every other request, and the OpenAPI document, is FastAPI's."""

    token_requests: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self.token_requests is not None
            and scope["type"] == "http"
            and scope["path"] == TOKEN_PATH
            and scope["method"] == "POST"
        ):
            scope["app"] = self
            await self.token_requests(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(state: EmulatorState, config: EmulatorConfig | None = None) -> FastAPI:
    """A NetSuite-compatible ASGI app over ``state``; ``config`` may later change at runtime."""
    runtime = EmulatorRuntime(state, config or EmulatorConfig())
    app = EmulatorApp(
        title="certrotor NetSuite emulator",
        version=EMULATOR_VERSION,
        description=OPENAPI_DESCRIPTION,
        docs_url="/_emulator/docs",
        redoc_url=None,
    )
    app.state.runtime = runtime
    certificate_records.install_demo_bundle(state)
    for router in ROUTERS:
        app.include_router(router)
    app.add_exception_handler(NetSuiteRefusalError, _on_netsuite_refusal)
    app.add_exception_handler(OAuthRefusalError, _on_oauth_refusal)
    app.add_exception_handler(CertrotorError, _on_certrotor_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)
    # Added last is outermost: the answer style sees every answer, then the body limit runs, then
    # the faults.
    app.add_middleware(FaultInjectionMiddleware, runtime=runtime)
    app.add_middleware(BodyLimitMiddleware, runtime=runtime)
    app.add_middleware(AnswerStyleMiddleware, runtime=runtime)
    # The same layers, in the same order, with the same exception handlers, around the token
    # requests' own app as Starlette builds around the router.
    handlers = {
        kind: handler for kind, handler in app.exception_handlers.items() if kind not in (500, Exception)
    }
    answered: ASGIApp = ExceptionMiddleware(token.TokenRequestApp(runtime), handlers=handlers)
    answered = FaultInjectionMiddleware(answered, runtime=runtime)
    answered = BodyLimitMiddleware(answered, runtime=runtime)
    answered = AnswerStyleMiddleware(answered, runtime=runtime)
    app.token_requests = ServerErrorMiddleware(answered, handler=_on_unexpected)
    return app


def runtime_of(app: FastAPI) -> EmulatorRuntime:
    """The runtime behind an app made by :func:`create_app` (for in-process tools)."""
    runtime: EmulatorRuntime = app.state.runtime
    return runtime
