"""``certrotor record add|show|recreate|verify`` and ``certrotor receiver serve`` (seed 004).

``certrotor rotate NAME`` and ``certrotor health NAME`` work for record credentials as for M2M ones.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from certrotor.cli.context import open_runtime
from certrotor.cli.credentials import validity_seconds
from certrotor.cli.options import (
    BaseUrlOption,
    HookOption,
    InsecureOption,
    JsonOption,
    KeyOption,
    RenewMaxOption,
    RenewMinOption,
    ValidityDaysOption,
    ValidityOption,
)
from certrotor.cli.output import console, format_time, print_json
from certrotor.crypto import KeySpec
from certrotor.durations import parse_duration
from certrotor.errors import InputError
from certrotor.protocol.records import (
    DEFAULT_RECORD_ID,
    DEFAULT_RECORD_NAME,
    OPENAIR_RECORD_SCRIPT_ID,
    RECORDS_RESTLET_DEPLOYMENT_ID,
    RECORDS_RESTLET_SCRIPT,
    record_script_id,
)
from certrotor.receiver import DEFAULT_MAX_AGE, Verifier, verify_import_request
from certrotor.services import operations
from certrotor.services import records as record_service
from certrotor.store import AuthMode, CredentialKind, CredentialSpec, RecordMode

record_app = typer.Typer(
    help="Certificate records (Setup > Company > Certificates) whose key NetSuite signs with.",
    no_args_is_help=True,
)
receiver_app = typer.Typer(help="Receive NetSuite's signed real-time import requests.", no_args_is_help=True)

TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="CERTROTOR_BOOTSTRAP_TOKEN",
        help="Access token for the records RESTlet (restlets scope, Certificate Management).",
        show_envvar=True,
    ),
]
RecordIdOption = Annotated[
    str, typer.Option("--record-id", help="The record's ID as typed in NetSuite (or its full script ID).")
]
RecordNameOption = Annotated[str, typer.Option("--record-name", help="The record's name.")]


@record_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="A name of your choice for this credential.")],
    account: Annotated[
        str | None, typer.Option("--account", help="NetSuite account ID (default: the auth credential's).")
    ] = None,
    record_id: RecordIdOption = DEFAULT_RECORD_ID,
    record_name: RecordNameOption = DEFAULT_RECORD_NAME,
    auth_credential: Annotated[
        str | None,
        typer.Option("--auth-credential", help="An M2M credential whose tokens call the records RESTlet."),
    ] = None,
    token: Annotated[
        str | None, typer.Option("--token", help="A management token for the RESTlet (stored sealed).")
    ] = None,
    client_id: Annotated[
        str | None, typer.Option("--client-id", help="Integration whose token is used (informational).")
    ] = None,
    key: KeyOption = "ec-p256",
    validity_days: ValidityDaysOption = None,
    validity: ValidityOption = None,
    base_url: BaseUrlOption = None,
    insecure: InsecureOption = False,
    renew_min: RenewMinOption = "7d",
    renew_max: RenewMaxOption = "14d",
    grace: Annotated[
        str, typer.Option("--grace", help="Keep accepting the previous certificate this long.")
    ] = "1d",
    hook: HookOption = None,
    mode: Annotated[
        str | None,
        typer.Option(
            "--mode",
            help="rotate: certrotor writes the record; monitor: it only watches it (default for "
            f"{OPENAIR_RECORD_SCRIPT_ID}, which OpenAir's connector rotates; rotate for any other).",
        ),
    ] = None,
    script_id_option: Annotated[
        str, typer.Option("--script-id", help="The records RESTlet's script ID.")
    ] = RECORDS_RESTLET_SCRIPT,
    deploy_id: Annotated[
        str, typer.Option("--deploy-id", help="The RESTlet's deployment: its script ID or number.")
    ] = RECORDS_RESTLET_DEPLOYMENT_ID,
    as_json: JsonOption = False,
) -> None:
    """Register a certificate record credential: in rotate mode its first rotation replaces the record's
    placeholder; in monitor mode certrotor only watches the record."""
    script_id = record_script_id(record_id)
    record_mode = None if mode is None else _record_mode(mode)
    with open_runtime() as runtime:
        manager = runtime.store.get_credential(auth_credential) if auth_credential else None
        account_id = account or (manager.account_id if manager else None)
        if account_id is None:
            raise InputError(
                "Give the NetSuite account.", hint="add --account 1234567 (or --auth-credential NAME)."
            )
        spec = CredentialSpec(
            name=name,
            account_id=account_id,
            client_id=client_id or (manager.client_id if manager else "-"),
            entity_id=manager.entity_id if manager else 0,
            role_id=manager.role_id if manager else 0,
            kind=CredentialKind.RECORD,
            base_url=base_url or (manager.base_url if manager and not account else None),
            verify_tls=False if insecure else None,
            key_spec=KeySpec.parse(key),
            validity_seconds=validity_seconds(validity_days, validity),
            renew_before_min_seconds=int(parse_duration(renew_min).total_seconds()),
            renew_before_max_seconds=int(parse_duration(renew_max).total_seconds()),
            grace_seconds=int(parse_duration(grace, allow_zero=True).total_seconds()),
            auth_mode=AuthMode.CREDENTIAL if manager else AuthMode.TOKEN,
            auth_credential=manager.name if manager else None,
            management_token=token,
            hook_command=hook,
            record_script_id=script_id,
            record_name=record_name,
            record_mode=record_mode,
            restlet_script_id=script_id_option,
            restlet_deploy_id=deploy_id,
        )
        credential, version = operations.add_record_credential(runtime, spec)
    mode_name = credential.record_mode.value if credential.record_mode else None
    if as_json:
        print_json(
            {
                "name": credential.name,
                "record_script_id": script_id,
                "mode": mode_name,
                "restlet_script_id": credential.restlet_script_id,
                "restlet_deploy_id": credential.restlet_deploy_id,
                "version": version.id if version else None,
                "fingerprint_sha256": version.fingerprint_sha256 if version else None,
            }
        )
        return
    console.print(
        f"Added record credential [bold]{credential.name}[/] for certificate record {script_id} "
        f"(mode {mode_name})."
    )
    if credential.watches_only:
        name = credential.name
        console.print(f"certrotor only watches it (OpenAir rotates it): `certrotor health {name}`.")
        console.print(f"If this system plays OpenAir's part: `certrotor credential set {name} --mode rotate`")
        return
    console.print(f"Next: `certrotor health {credential.name}`, then `certrotor rotate {credential.name}`.")


def _record_mode(value: str) -> RecordMode:
    try:
        return RecordMode(value)
    except ValueError:
        raise InputError(f"Unknown record mode {value!r}.", hint="choose rotate or monitor.") from None


def _verifier_row(verifier: Verifier) -> dict[str, object]:
    certificate = verifier.certificate
    return {
        "role": verifier.role,
        "fingerprint_sha256": verifier.fingerprint,
        "not_before": certificate.not_valid_before_utc,
        "not_after": certificate.not_valid_after_utc,
        "accept_until": verifier.accept_until,
    }


@record_app.command("show")
def show(
    name: str,
    offline: Annotated[bool, typer.Option("--offline", help="Do not read the record from NetSuite.")] = False,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """The record as NetSuite holds it next to the local verifiers (current, previous, ...)."""
    with open_runtime(token) as runtime:
        view = record_service.show_record(runtime, name, remote=not offline)
    credential, state, info = view.credential, view.state, view.state.info
    if as_json:
        print_json(
            {
                "name": credential.name,
                "record_script_id": credential.record_script_id,
                "record_name": credential.record_name,
                "mode": credential.record_mode.value if credential.record_mode else None,
                "restlet_script_id": credential.restlet_script_id,
                "restlet_deploy_id": credential.restlet_deploy_id,
                "remote_state": state.remote_state,
                "placeholder": state.placeholder,
                "error": state.error.message if state.error else None,
                "record": info.model_dump(mode="json", exclude={"certificate"}) if info else None,
                "verifiers": [_verifier_row(v) for v in view.verifiers],
            }
        )
        return
    mode_name = credential.record_mode.value if credential.record_mode else "rotate"
    console.print(
        f"[bold]{credential.name}[/]: certificate record {credential.record_script_id} (mode {mode_name}"
        f"{': certrotor only watches it' if credential.watches_only else ''})",
        markup=True,
    )
    if info is not None:
        console.print(f"  NetSuite holds {info.file_name}: {info.subject}", markup=False)
        console.print(f"  fingerprint {info.fingerprint_sha256}, valid until {format_time(info.not_after)}")
        if state.placeholder and credential.watches_only:
            console.print("  [bold red]the bundled placeholder (not valid)[/]: OpenAir must replace it")
        elif state.placeholder:
            console.print(
                "  [bold red]the bundled placeholder (not valid)[/]: run `certrotor rotate " + name + "`"
            )
        elif not credential.watches_only:
            agrees = "yes" if state.remote_state == "active" else "no"
            console.print(f"  matches the local verifier: {agrees}")
    elif state.error is not None:
        console.print(f"  {state.error}", style="red", markup=False)
    table = Table("role", "fingerprint", "valid until", "accepted until")
    for verifier in view.verifiers:
        table.add_row(
            verifier.role,
            verifier.fingerprint[:32] + "...",
            format_time(verifier.certificate.not_valid_after_utc),
            format_time(verifier.accept_until),
        )
    console.print(table)


@record_app.command("recreate")
def recreate(
    name: str,
    record_name: Annotated[
        str | None,
        typer.Option("--record-name", help=f'Default: the credential\'s, else "{DEFAULT_RECORD_NAME}".'),
    ] = None,
    record_id: Annotated[
        str | None, typer.Option("--record-id", help=f"Default: the credential's, else {DEFAULT_RECORD_ID}.")
    ] = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Recreate a deleted certificate record with the bundled placeholder; the next rotation replaces it."""
    with open_runtime(token) as runtime:
        credential, info = record_service.recreate_record(
            runtime, name, record_name=record_name, record_id=record_id
        )
    if as_json:
        print_json(info.model_dump(mode="json", exclude={"certificate"}))
        return
    console.print(f'Recreated certificate record "{info.script_id}" ({info.name}) with {info.file_name}.')
    console.print(
        f"Next: `certrotor rotate {credential.name}` replaces the placeholder (the daemon does it too)."
    )


@record_app.command("verify")
def verify(
    name: str,
    query: Annotated[str, typer.Argument(help="The query string of a request to /netsuite.pl.")],
    max_age: Annotated[str, typer.Option("--max-age", help="Accepted timestamp skew.")] = "5m",
) -> None:
    """Check one signed import request against the record's verifiers (no replay check)."""
    with open_runtime() as runtime:
        credential = runtime.store.get_credential(name)
        record_service.require_record(credential)
        verifiers = record_service.record_verifiers(runtime.store, credential)
        accepted = verify_import_request(
            query.split("?", 1)[-1],
            verifiers,
            now=runtime.now(),
            replay_cache=None,
            max_age=parse_duration(max_age),
        )
    console.print(
        f"accepted: signed by the {accepted.verifier.role} certificate {accepted.verifier.fingerprint}"
    )


@receiver_app.command("serve")
def serve(
    name: Annotated[str, typer.Argument(help="The record credential whose certificates verify requests.")],
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port (0: any free one).")] = 8780,
    max_age: Annotated[
        str, typer.Option("--max-age", help="How far a request's timestamp may be from now.")
    ] = f"{int(DEFAULT_MAX_AGE.total_seconds())}s",
) -> None:
    """Serve GET /netsuite.pl: 200 for a request signed by the current (or, in the grace period, previous)
    certificate, 403 with the reason otherwise."""
    from certrotor.web.receiver import bind_socket, create_receiver_app, serve_receiver

    with open_runtime(service=True) as runtime:
        store = runtime.store
        record_service.require_record(store.get_credential(name))

        def verifiers() -> list[Verifier]:
            return record_service.record_verifiers(store, store.get_credential(name))

        app = create_receiver_app(verifiers, max_age=parse_duration(max_age), name=name)
        sock = bind_socket(host, port)
        bound_host, bound_port = sock.getsockname()[:2]
        console.print(
            f"Receiving signed import requests for {name} on http://{bound_host}:{bound_port}/netsuite.pl"
        )
        serve_receiver(app, sock)
