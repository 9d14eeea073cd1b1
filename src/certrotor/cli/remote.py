"""``certrotor upload|list|revoke|token|login``: the seed's manual steps against NetSuite."""

from __future__ import annotations

import webbrowser
from typing import Annotated

import typer

from certrotor.cli.context import open_runtime
from certrotor.cli.options import JsonOption, NameArgument
from certrotor.cli.output import add_row, console, print_json, print_table, table
from certrotor.services import operations

TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="CERTROTOR_BOOTSTRAP_TOKEN",
        help="Management access token to use.",
        show_envvar=True,
    ),
]


def upload(name: NameArgument, token: TokenOption = None, as_json: JsonOption = False) -> None:
    """Upload the credential's pending certificate (POST .../certificates)."""
    with open_runtime(token) as runtime:
        result = operations.upload(runtime, name)
    if as_json:
        print_json(result.answer.model_dump(mode="json", by_alias=True))
        return
    answer = result.answer
    console.print(f"Uploaded certificate [bold]{answer.certificate_id}[/], valid until {answer.valid_until}.")
    if result.activated:
        console.print("It is now the current certificate.")


def list_certificates(name: NameArgument, token: TokenOption = None, as_json: JsonOption = False) -> None:
    """List the integration's certificates, revoked ones included (GET .../certificates)."""
    with open_runtime(token) as runtime:
        items = operations.list_remote(runtime, name)
    if as_json:
        print_json([item.model_dump(mode="json", by_alias=True) for item in items])
        return
    rows = table(
        "certificate_id",
        "application",
        "entity",
        "role",
        "algorithm",
        "valid_from",
        "valid_until",
        "revoked",
        ids={"certificate_id"},
    )
    for item in items:
        add_row(
            rows,
            item.certificate_id,
            item.application.name,
            f"{item.entity.name} ({item.entity.id})",
            f"{item.role.name} ({item.role.id})",
            item.algorithm,
            item.valid_from.isoformat(),
            item.valid_until.isoformat(),
            "yes" if item.revoked else "no",
        )
    print_table(rows)


def revoke(
    name: NameArgument,
    certificate_id: Annotated[str, typer.Argument(metavar="CERT_ID", help="May begin with '-'.")],
    token: TokenOption = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Revoke even the current certificate, or one a rotation is putting in place."
        ),
    ] = False,
) -> None:
    """Revoke a certificate (POST .../certificates/{id}/revoke)."""
    with open_runtime(token) as runtime:
        operations.revoke(runtime, name, certificate_id, force=force)
    console.print(f"Successfully revoked {certificate_id}.", markup=False)


def token(name: NameArgument, as_json: JsonOption = False) -> None:
    """Obtain an access token with the current certificate (client credentials flow)."""
    with open_runtime() as runtime:
        answer = operations.request_token(runtime, name)
    if as_json:
        print_json(
            {
                "access_token": answer.access_token,
                "expires_in": answer.expires_in,
                "token_type": answer.token_type,
            }
        )
        return
    typer.echo(answer.access_token)


def login(
    name: NameArgument,
    no_browser: Annotated[bool, typer.Option("--no-browser", help="Only print the URL to open.")] = False,
    port: Annotated[int, typer.Option("--port", help="Loopback port for the redirect (0: any).")] = 0,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for the consent.")] = 300.0,
    scopes: Annotated[str, typer.Option("--scopes")] = "rest_webservices,restlets",
) -> None:
    """Authorization code grant with PKCE; the token is stored (sealed) as NAME's management token."""
    from certrotor.cli.credentials import parse_scopes_option
    from certrotor.client.login import run_login_flow
    from certrotor.services.runtime import endpoints_for

    def show(url: str) -> None:
        console.print("Open this URL to approve access:", style="bold")
        typer.echo(url)
        if not no_browser:
            webbrowser.open(url)

    with open_runtime() as runtime:
        credential = runtime.store.get_credential(name)
        answer = run_login_flow(
            endpoints_for(credential),
            credential.client_id,
            list(parse_scopes_option(scopes)),
            open_browser=show,
            timeout=timeout,
            port=port,
            verify_tls=credential.verify_tls,
        )
        runtime.store.set_management_token(credential, answer.access_token)
    console.print(f"Logged in: a management token for {name} is stored (valid {answer.expires_in}s).")
