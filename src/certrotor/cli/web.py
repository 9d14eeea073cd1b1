"""``certrotor web serve`` and ``certrotor web user add|list|remove``: the web console and its users."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from certrotor.cli.context import load_cli_settings, open_runtime, setup_logging
from certrotor.cli.options import JsonOption
from certrotor.cli.output import console, format_time, print_json
from certrotor.errors import InputError
from certrotor.store.sealed import master_key_for
from certrotor.store.web_users import WebRole, WebStore

web_app = typer.Typer(help="The web console: serve it, manage who may log in.", no_args_is_help=True)
user_app = typer.Typer(
    help="Console users (viewers see; operators also rotate, check and onboard).", no_args_is_help=True
)
web_app.add_typer(user_app, name="user")


@contextmanager
def _web_store() -> Iterator[WebStore]:
    settings = load_cli_settings()
    setup_logging(settings, service=False)
    store = WebStore.open(settings.resolved_database_url, master_key_for(settings))
    try:
        yield store
    finally:
        store.close()


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
        if not password:
            raise InputError(
                "No password on standard input.",
                hint="e.g. `printf '%s\\n' \"$PW\" | certrotor "
                "web user add NAME --role viewer --password-stdin`.",
            )
        return password
    prompted: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return prompted


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The login name.")],
    role: Annotated[str, typer.Option("--role", help="viewer or operator.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input (one line).")
    ] = False,
) -> None:
    """Create a console user; the password is stored only as an Argon2id hash."""
    try:
        checked_role = WebRole(role)
    except ValueError:
        raise InputError(f"Unknown role {role!r}.", hint="use --role viewer or --role operator.") from None
    password = _read_password(password_stdin)
    with _web_store() as store:
        user = store.add_user(name, checked_role, password)
    console.print(f"Console user {user.name} added ({user.role.value}).", markup=False)


@user_app.command("list")
def user_list(as_json: JsonOption = False) -> None:
    """Console users and their roles (never their password hashes)."""
    with _web_store() as store:
        users = store.list_users()
    if as_json:
        print_json([{"name": u.name, "role": u.role.value, "created_at": u.created_at} for u in users])
        return
    if not users:
        console.print("No console users. Add one with `certrotor web user add NAME --role operator`.")
    for user in users:
        console.print(f"{user.name}  {user.role.value}  since {format_time(user.created_at)}", markup=False)


@user_app.command("remove")
def user_remove(name: Annotated[str, typer.Argument(metavar="NAME", help="The login name.")]) -> None:
    """Remove a console user; their open sessions stop working at their next request."""
    with _web_store() as store:
        user = store.remove_user(name)
    console.print(f"Console user {user.name} removed.", markup=False)


@web_app.command("serve")
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port (0: any free one).")] = 8400,
    tls_cert: Annotated[Path | None, typer.Option("--tls-cert", help="PEM certificate for HTTPS.")] = None,
    tls_key: Annotated[Path | None, typer.Option("--tls-key", help="PEM private key for HTTPS.")] = None,
    insecure_http: Annotated[
        bool,
        typer.Option(
            "--insecure-http", help="Allow plain HTTP on a non-loopback address (behind a TLS proxy)."
        ),
    ] = False,
    observe_interval: Annotated[
        str,
        typer.Option(
            "--observe-interval",
            help="Observe on NetSuite every credential nobody (e.g. the daemon) observed for this long "
            "(0: never, leave it to the daemon), e.g. 15m.",
        ),
    ] = "15m",
) -> None:
    """Serve the web console on the same store as the CLI (127.0.0.1:8400 by default)."""
    from certrotor.durations import parse_duration
    from certrotor.web.console import ConsoleOptions, open_console, plan_listening, serve_forever

    every = parse_duration(observe_interval, allow_zero=True).total_seconds()
    plan = plan_listening(host, port, tls_cert=tls_cert, tls_key=tls_key, insecure_http=insecure_http)
    with open_runtime(service=True) as runtime:
        web_console = open_console(
            runtime,
            ConsoleOptions(secure_cookies=plan.tls_cert is not None, observe_interval_seconds=every),
        )
        try:
            if not web_console.web_store.list_users():
                console.print(
                    "No console users yet: add one with `certrotor web user add NAME --role operator`."
                )
            serve_forever(
                web_console,
                plan,
                on_ready=lambda url: console.print(f"certrotor console on {url}", highlight=False),
            )
        finally:
            web_console.web_store.close()
