"""``certrotor broker serve`` and ``certrotor broker key add|list|revoke``: the token broker and its keys.

Heavy modules (the store, FastAPI, uvicorn) are imported inside the commands, so that ``--help``
stays fast.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated

import typer

from certrotor.cli.options import JsonOption

broker_app = typer.Typer(
    help="The token broker: applications get NetSuite tokens without holding a key.",
    no_args_is_help=True,
)
key_app = typer.Typer(help="Application keys of the token broker.", no_args_is_help=True)
broker_app.add_typer(key_app, name="key")

DEFAULT_BROKER_PORT = 8401


@broker_app.command("serve")
def serve(
    host: Annotated[str, typer.Option("--host", help="Loopback address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="TCP port (0: any free one).")] = (
        DEFAULT_BROKER_PORT
    ),
    socket_path: Annotated[
        Path | None, typer.Option("--socket", help="Listen on this Unix socket (mode 0600) instead.")
    ] = None,
    rate_limit: Annotated[
        float, typer.Option("--rate-limit", min=0, help="Requests a second per key (0: no limit).")
    ] = 50.0,
    burst: Annotated[int, typer.Option("--burst", min=1, help="Requests a key may make at once.")] = 200,
    audit_interval: Annotated[
        float, typer.Option("--audit-interval", min=1, help="Seconds between token-count audit events.")
    ] = 60.0,
) -> None:
    """Hand out cached NetSuite access tokens (POST /v1/token) and proxy calls (/v1/proxy/NAME/...)."""
    from certrotor.broker.app import Broker, BrokerSettings, create_broker_app
    from certrotor.broker.server import listen, serve_broker
    from certrotor.cli.context import open_runtime
    from certrotor.cli.output import console

    settings = BrokerSettings(rate_limit=rate_limit, burst=burst, audit_interval=audit_interval)
    with open_runtime(service=True) as runtime:
        sock, url = listen(host, port, socket_path)
        try:
            app = create_broker_app(Broker(runtime, settings))
            console.print(f"Token broker on {url}", markup=False, highlight=False)
            # uvicorn shuts down gracefully (the last counts go to the audit), then re-raises Ctrl-C.
            with contextlib.suppress(KeyboardInterrupt):
                serve_broker(app, sock)
        finally:
            sock.close()
            if socket_path is not None:
                socket_path.unlink(missing_ok=True)


@key_app.command("add")
def add_key(
    app: Annotated[str, typer.Argument(metavar="APP", help="The application's name.")],
    credentials: Annotated[
        list[str],
        typer.Option("--credential", help="A credential the key may use (repeat for several)."),
    ],
    as_json: JsonOption = False,
) -> None:
    """Make a key for APP; it is printed once, only its SHA-256 is stored."""
    from certrotor.broker.keys import create_key
    from certrotor.cli.context import open_runtime
    from certrotor.cli.output import console, print_json

    with open_runtime() as runtime:
        made = create_key(runtime.store, app, credentials)
        record = made.record
        runtime.store.append_event(
            None,
            "cli",
            "broker.key.add",
            "ok",
            {"app": record.app, "credentials": list(record.credentials), "key_prefix": record.key_prefix},
        )
    if as_json:
        print_json({"app": record.app, "credentials": list(record.credentials), "key": made.key})
        return
    console.print(f"Key for {record.app} (credentials: {', '.join(record.credentials)}):", markup=False)
    console.print(made.key, markup=False, highlight=False)
    console.print("It is shown only this once: store it where the application reads it.", markup=False)


@key_app.command("list")
def list_keys(
    include_revoked: Annotated[bool, typer.Option("--all", help="Revoked keys too.")] = False,
    as_json: JsonOption = False,
) -> None:
    """The applications with broker keys and what each may reach (never the keys)."""
    from certrotor.cli.context import open_runtime
    from certrotor.cli.output import add_row, console, format_time, print_json, print_table, table

    with open_runtime() as runtime:
        keys = runtime.store.broker_keys(include_revoked=include_revoked)
    if as_json:
        print_json(
            [
                {
                    "app": key.app,
                    "key_prefix": key.key_prefix,
                    "credentials": list(key.credentials),
                    "created_at": key.created_at,
                    "revoked_at": key.revoked_at,
                }
                for key in keys
            ]
        )
        return
    if not keys:
        console.print("No broker keys. Make one with `certrotor broker key add APP --credential NAME`.")
        return
    rows = table("app", "key", "credentials", "created", "revoked", ids={"app", "key"})
    for key in keys:
        add_row(
            rows,
            key.app,
            key.key_prefix + "...",
            ", ".join(key.credentials),
            format_time(key.created_at),
            format_time(key.revoked_at),
        )
    print_table(rows)


@key_app.command("revoke")
def revoke_key(
    app: Annotated[str, typer.Argument(metavar="APP", help="The application whose key to revoke.")],
    as_json: JsonOption = False,
) -> None:
    """Revoke APP's key: the broker refuses it from its next request on."""
    from certrotor.cli.context import open_runtime
    from certrotor.cli.output import console, print_json

    with open_runtime() as runtime:
        key = runtime.store.revoke_broker_key(app)
        runtime.store.append_event(
            None, "cli", "broker.key.revoke", "ok", {"app": key.app, "key_prefix": key.key_prefix}
        )
    if as_json:
        print_json({"app": key.app, "revoked_at": key.revoked_at})
        return
    console.print(f"Revoked the broker key of {key.app}.", markup=False)
