"""``certrotor emulator init|serve``: create the demo tenant, and serve the emulator with uvicorn."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from pydantic import ValidationError

from certrotor.emulator.config import (
    ACTIVE_CERTIFICATES_PER_COMBINATION,
    ACTIVE_CERTIFICATES_PER_INTEGRATION,
    LIMIT_ERROR_CODE,
    ORACLE_CONTENT_TYPE,
    EmulatorConfig,
)
from certrotor.errors import CertrotorError, InputError

if TYPE_CHECKING:
    from certrotor.emulator.tenant import DemoTenant

# The server side (FastAPI, uvicorn, the state) is imported inside the commands: every other
# `certrotor` command mounts this Typer app and should not pay for loading a web framework.

emulator_app = typer.Typer(
    name="emulator",
    help="A NetSuite-compatible emulator (token, authorization and certificate endpoints).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

StateOption = Annotated[
    Path, typer.Option("--state", help="The emulator's SQLite state file.", dir_okay=False)
]
Rate = Annotated[float, typer.Option(min=0.0, max=1.0)]


def _fail(message: str) -> NoReturn:
    typer.echo(f"Error: {message}", err=True)
    raise typer.Exit(code=1)


def _config_error(error: ValidationError) -> str:
    problem = error.errors()[0]
    where = ".".join(str(part) for part in problem["loc"])
    return f"invalid emulator option {where}: {problem['msg']}." if where else f"{problem['msg']}."


def _describe(tenant: DemoTenant, state: Path) -> str:
    return "\n".join(
        [
            f"Emulator state: {state}",
            f"Account ID:     {tenant.account_id} (company {tenant.company_id})",
            f"Client ID:      {tenant.client_id}",
            f"Application ID: {tenant.application_id}",
            f"Entity ID:      {tenant.entity_id}",
            f"Role ID:        {tenant.role_id} (Administrator)",
            f"Admin token:    {tenant.admin_token}",
        ]
    )


@emulator_app.command("init")
def init_command(
    state: StateOption,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    scopes: Annotated[
        str | None,
        typer.Option(
            "--scopes",
            help="Scopes ticked on the demo integration record, comma separated "
            "(restlets, rest_webservices, suite_analytics); default: all, or kept.",
        ),
    ] = None,
    client_credentials: Annotated[
        bool | None,
        typer.Option(
            "--client-credentials/--no-client-credentials",
            help="The demo integration record's client credentials (M2M) grant box; default: on, or kept.",
        ),
    ] = None,
) -> None:
    """Create the demo account, integration, entity, role and management token (kept if present)."""
    from certrotor.emulator.tenant import init_demo

    chosen_scopes = None if scopes is None else [s for s in scopes.replace(" ", ",").split(",") if s]
    try:
        tenant = init_demo(state, scopes=chosen_scopes, client_credentials_enabled=client_credentials)
    except CertrotorError as error:
        _fail(str(error))
    if as_json:
        typer.echo(json.dumps({**tenant.to_json(), "state": str(state)}))
    else:
        typer.echo(_describe(tenant, state))


@emulator_app.command("serve")
def serve_command(
    state: StateOption,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0: any free one).")] = 8765,
    max_per_integration: Annotated[
        int, typer.Option(min=1, help="Active certificates per integration (NetSuite: 5).")
    ] = ACTIVE_CERTIFICATES_PER_INTEGRATION,
    max_per_combination: Annotated[
        int | None,
        typer.Option(min=1, help="Active certificates per (entity, role); 1 forces revoke-then-upload."),
    ] = ACTIVE_CERTIFICATES_PER_COMBINATION,
    clock_tolerance: Annotated[int, typer.Option(min=0, help="Seconds of clock skew accepted.")] = 60,
    public_base_url: Annotated[
        str | None, typer.Option(help="Extra base URL accepted as assertion audience.")
    ] = None,
    audience_rule: Annotated[
        str, typer.Option(help="strict: aud is the token URL; lenient: aud contains it.")
    ] = "strict",
    replay_without_jti: Annotated[
        bool, typer.Option(help="Refuse an assertion without jti sent twice (the emulator's own rule).")
    ] = True,
    error_rate: Rate = 0.0,
    rate_limit_rate: Rate = 0.0,
    retry_after: Annotated[int, typer.Option(min=0, help="Retry-After of injected 429s.")] = 1,
    slow_seconds: Annotated[float, typer.Option(min=0.0, help="Delay of slowed requests.")] = 0.0,
    drop_rate: Rate = 0.0,
    after_commit_error_rate: Rate = 0.0,
    after_commit_drop_rate: Rate = 0.0,
    max_faults: Annotated[int | None, typer.Option(min=0, help="Stop faults after this many.")] = None,
    fault_seed: Annotated[int | None, typer.Option(help="Seed of the fault dice.")] = None,
    dash_certificate_ids: Annotated[bool, typer.Option(help="Make certificate IDs begin with '-'.")] = False,
    limit_error_code: Annotated[
        str, typer.Option(help="Error code of an upload refused at a certificate cap.")
    ] = LIMIT_ERROR_CODE,
    plain_text_errors: Annotated[
        bool, typer.Option(help="Answer certificate and records RESTlet errors as plain text.")
    ] = False,
    oracle_content_type: Annotated[
        bool, typer.Option(help=f"Answer their JSON successes as {ORACLE_CONTENT_TYPE}.")
    ] = False,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Serve the emulator until interrupted (Ctrl-C)."""
    from certrotor.emulator.app import create_app
    from certrotor.emulator.server import bind_socket, build_server
    from certrotor.emulator.state import EmulatorState
    from certrotor.emulator.tenant import ensure_demo_tenant

    if not state.exists():
        _fail(
            str(
                InputError(
                    f"The emulator state file {state} does not exist.",
                    hint=f"run `certrotor emulator init --state {state}` first.",
                )
            )
        )
    try:
        config = EmulatorConfig(
            max_active_per_integration=max_per_integration,
            max_active_per_combination=max_per_combination,
            clock_tolerance_seconds=clock_tolerance,
            public_base_url=public_base_url,
            audience_rule=audience_rule,
            replay_without_jti=replay_without_jti,
            error_rate=error_rate,
            rate_limit_rate=rate_limit_rate,
            retry_after_seconds=retry_after,
            slow_seconds=slow_seconds,
            drop_rate=drop_rate,
            after_commit_error_rate=after_commit_error_rate,
            after_commit_drop_rate=after_commit_drop_rate,
            max_faults=max_faults,
            fault_seed=fault_seed,
            dash_certificate_ids=dash_certificate_ids,
            limit_error_code=limit_error_code,
            plain_text_errors=plain_text_errors,
            oracle_content_type=oracle_content_type,
        )
    except ValidationError as error:
        _fail(_config_error(error))
    try:
        emulator_state = EmulatorState.open(state)
        tenant = ensure_demo_tenant(emulator_state)
        sock = bind_socket(host, port)
    except CertrotorError as error:
        _fail(str(error))
    try:
        bound_port = sock.getsockname()[1]
        shown_host = f"[{host}]" if ":" in host else host
        typer.echo(
            f"NetSuite emulator on http://{shown_host}:{bound_port} "
            f"(account {tenant.account_id}, client ID {tenant.client_id}); Ctrl-C stops it.",
            err=True,
        )
        server = build_server(create_app(emulator_state, config), log_level=log_level.lower())
        # uvicorn stops gracefully on Ctrl-C, then re-raises the signal: a requested stop is success.
        with contextlib.suppress(KeyboardInterrupt):
            server.run(sockets=[sock])
    finally:
        sock.close()
        emulator_state.close()
