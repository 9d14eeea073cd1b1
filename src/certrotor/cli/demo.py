"""``certrotor demo``, what ``make run`` starts: the emulator plus the daemon, rotating every minute."""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Annotated

import typer

from certrotor.cli.context import load_cli_settings, setup_logging
from certrotor.cli.output import console
from certrotor.daemon import Daemon
from certrotor.services import operations
from certrotor.services.rotation import Rotator, default_owner
from certrotor.services.runtime import Runtime
from certrotor.store import AuthMode, CredentialSpec, RotationTrigger

DEMO_VALIDITY_SECONDS = 120
DEMO_RENEW_MIN_SECONDS = 30
DEMO_RENEW_MAX_SECONDS = 60
DEMO_GRACE_SECONDS = 20
DEMO_WEB_USER = "demo"


@contextmanager
def _demo_console(runtime: Runtime, port: int) -> Iterator[tuple[str, str]]:
    """The web console beside the demo daemon, with an operator whose password lives as long as this run."""
    from certrotor.errors import ConfigError
    from certrotor.store.sealed import master_key_for
    from certrotor.store.web_users import WebRole, WebStore
    from certrotor.web.console import ConsoleOptions, serve_beside

    password = secrets.token_urlsafe(12)
    settings = runtime.settings
    with WebStore.open(settings.resolved_database_url, master_key_for(settings)) as users:
        users.add_user(DEMO_WEB_USER, WebRole.OPERATOR, password)
    options = ConsoleOptions(observe_interval_seconds=10.0, fleet_refresh_seconds=5)
    with ExitStack() as stack:
        try:
            url = stack.enter_context(serve_beside(runtime, port, options=options))
        except ConfigError:  # the port is taken: any free one will do for a demo
            url = stack.enter_context(serve_beside(runtime, 0, options=options))
        yield url, password


def demo(
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Demo store, wiped at start (default <data dir>/demo).")
    ] = None,
    credentials: Annotated[int, typer.Option("--credentials", min=1, max=50, help="Demo credentials.")] = 2,
    interval: Annotated[float, typer.Option("--interval", min=0.1)] = 2.0,
    web_port: Annotated[
        int, typer.Option("--web-port", min=0, max=65535, help="Console port (taken: any free one).")
    ] = 8400,
) -> None:
    """Start a local NetSuite emulator and the rotation daemon on short-lived demo certificates."""
    from certrotor.emulator.testing import serve_emulator

    settings = load_cli_settings()
    # Never the user's own data directory: the demo wipes its directory at every start.
    root = (data_dir or settings.data_dir / "demo").resolve()
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True, mode=0o700)
    settings = load_cli_settings(
        data_dir=root,
        database_url=f"sqlite:///{root / 'certrotor.db'}",
        # The demo shows what a service logs: JSON lines, unless CERTROTOR_LOG_FORMAT says otherwise.
        log_format="json" if settings.log_format == "auto" else None,
    )
    setup_logging(settings, service=True)
    with serve_emulator(root / "emulator.db") as emulator, ExitStack() as stack:
        tenant = emulator.tenant
        runtime = Runtime(settings)
        try:
            for index in range(credentials):
                entity_id, role_id = (
                    (tenant.entity_id, tenant.role_id) if index == 0 else emulator.add_m2m_combination()
                )
                operations.add_credential(
                    runtime,
                    CredentialSpec(
                        name=f"demo{index + 1}",
                        account_id=tenant.account_id,
                        client_id=tenant.client_id,
                        entity_id=entity_id,
                        role_id=role_id,
                        base_url=emulator.base_url,
                        validity_seconds=DEMO_VALIDITY_SECONDS,
                        renew_before_min_seconds=DEMO_RENEW_MIN_SECONDS,
                        renew_before_max_seconds=DEMO_RENEW_MAX_SECONDS,
                        grace_seconds=DEMO_GRACE_SECONDS,
                        # demo1 manages its own certificates; the others are managed by demo1's.
                        auth_mode=AuthMode.SELF if index == 0 else AuthMode.CREDENTIAL,
                        auth_credential=None if index == 0 else "demo1",
                        management_token=tenant.admin_token if index == 0 else None,
                    ),
                )
            web_url, web_password = stack.enter_context(_demo_console(runtime, web_port))
            # Handlers first: a SIGTERM right after the announcement below still stops the demo cleanly.
            service = Daemon(runtime, interval=interval, lease_seconds=60.0)
            service.install_signal_handlers()
            console.print(
                f"[bold]certrotor demo[/]: emulator at {emulator.base_url}, store in {root}.\n"
                f"{credentials} credential(s) with {DEMO_VALIDITY_SECONDS}s certificates: each is rotated "
                f"{DEMO_RENEW_MAX_SECONDS}-{DEMO_RENEW_MIN_SECONDS}s before it expires.\n"
                "In another terminal:\n"
                f"  CERTROTOR_DATA_DIR={root} .venv/bin/certrotor health\n"
                f"  CERTROTOR_DATA_DIR={root} .venv/bin/certrotor events demo1\n"
                f"Web console: {web_url} (log in as {DEMO_WEB_USER} with the one-time password "
                f"{web_password}).\n"
                "Stop with Ctrl-C.",
                highlight=False,
            )
            # demo1 manages the others' certificates: enrol it first so their first pass succeeds.
            Rotator(runtime, owner=default_owner(), actor="demo").rotate("demo1", RotationTrigger.MANUAL)
            service.run()
        finally:
            stack.close()  # the console first: it uses the runtime
            runtime.close()
