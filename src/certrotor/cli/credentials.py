"""``certrotor credential add|list|show|set|remove``: the credentials certrotor keeps valid."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer

from certrotor.cli.context import load_cli_settings, open_runtime
from certrotor.cli.options import (
    BaseUrlOption,
    HookOption,
    InsecureOption,
    KeyOption,
    RenewMaxOption,
    RenewMinOption,
    ValidityDaysOption,
    ValidityOption,
)
from certrotor.cli.output import add_row, console, error_console, format_time, print_json, print_table, table
from certrotor.crypto import MAX_VALIDITY_DAYS, KeySpec
from certrotor.durations import format_duration, parse_duration
from certrotor.errors import InputError
from certrotor.protocol.models import SCOPES
from certrotor.protocol.records import DEFAULT_RECORD_ID, DEFAULT_RECORD_NAME, record_script_id
from certrotor.protocol.urls import NetSuiteEndpoints, check_transport
from certrotor.store import (
    AuthMode,
    Credential,
    CredentialChanges,
    CredentialKind,
    CredentialSpec,
    EventOutcome,
    RecordMode,
    Strategy,
)
from certrotor.store.accounts import UNSET
from certrotor.store.sealed import master_key_for

_INTERNAL_ID = re.compile(r"-?[0-9]+")
"""A NetSuite internal id; negative ones exist (Oracle's own example uses entity -5)."""

credential_app = typer.Typer(help="Register and look at credentials.", no_args_is_help=True)


def _enum(kind: type[Strategy] | type[AuthMode] | type[RecordMode], value: str, option: str) -> str:
    choices = [m.value for m in kind]
    if value not in choices:
        raise InputError(f"Unknown {option} {value!r}.", hint=f"choose one of: {', '.join(choices)}.")
    return value


def _kind(value: str) -> str:
    if value not in {k.value for k in CredentialKind}:
        raise InputError(
            f"Unknown kind {value!r}.", hint="choose m2m or record (or use `certrotor record add`)."
        )
    return value


def parse_scopes_option(value: str) -> tuple[str, ...]:
    scopes = tuple(s for s in value.replace(" ", ",").split(",") if s)
    unknown = [s for s in scopes if s not in SCOPES]
    if not scopes or unknown:
        raise InputError(
            f"Unknown scope(s) {', '.join(unknown) or '(none)'}.", hint=f"use {', '.join(SCOPES)}."
        )
    return scopes


def validity_seconds(validity_days: int | None, validity: str | None) -> int:
    if validity is not None:
        seconds = int(parse_duration(validity).total_seconds())
    else:
        seconds = (validity_days if validity_days is not None else 365) * 86400
    if seconds <= 0 or seconds > MAX_VALIDITY_DAYS * 86400:
        raise InputError(
            f"Validity {format_duration_seconds(seconds)} is out of range.",
            hint=f"use 1 to {MAX_VALIDITY_DAYS} days (NetSuite's maximum is two years).",
        )
    return seconds


def format_duration_seconds(seconds: int) -> str:
    return format_duration(dt.timedelta(seconds=max(seconds, 0))) if seconds > 0 else f"{seconds}s"


@credential_app.command("add")
def add(
    name: Annotated[str, typer.Argument(metavar="NAME", help="A name of your choice for this credential.")],
    account: Annotated[str, typer.Option("--account", help="NetSuite account ID, e.g. 1234567_SB1.")],
    client_id: Annotated[str, typer.Option("--client-id", help="The integration record's client ID.")],
    entity: Annotated[str, typer.Option("--entity", help="Entity (user) internal ID.")],
    role: Annotated[str, typer.Option("--role", help="Role internal ID.")],
    key: KeyOption = "ec-p256",
    validity_days: ValidityDaysOption = None,
    validity: ValidityOption = None,
    base_url: BaseUrlOption = None,
    insecure: InsecureOption = False,
    scopes: Annotated[str, typer.Option("--scopes", help="Comma separated.")] = "restlets,rest_webservices",
    renew_min: RenewMinOption = "7d",
    renew_max: RenewMaxOption = "14d",
    grace: Annotated[str, typer.Option("--grace", help="Keep the old certificate this long.")] = "1d",
    strategy: Annotated[str, typer.Option("--strategy", help="auto, overlap or replace.")] = "auto",
    auth: Annotated[str, typer.Option("--auth", help="self, credential or token.")] = "self",
    auth_credential: Annotated[
        str | None, typer.Option("--auth-credential", help="For --auth credential.")
    ] = None,
    token: Annotated[
        str | None, typer.Option("--token", help="Bootstrap management token (stored sealed).")
    ] = None,
    hook: HookOption = None,
    deliver_to: Annotated[Path | None, typer.Option("--deliver-to", help="Delivery directory.")] = None,
    key_file: Annotated[Path | None, typer.Option("--key-file", help="Import this private key.")] = None,
    cert_file: Annotated[Path | None, typer.Option("--cert-file", help="Import this certificate.")] = None,
    kind: Annotated[str, typer.Option("--kind", help="m2m, or record for a certificate record.")] = "m2m",
    record_id: Annotated[
        str, typer.Option("--record-id", help="With --kind record: the record's ID.")
    ] = DEFAULT_RECORD_ID,
    record_name: Annotated[
        str, typer.Option("--record-name", help="With --kind record: the record's name.")
    ] = DEFAULT_RECORD_NAME,
    mode: Annotated[
        str | None,
        typer.Option("--mode", help="With --kind record: rotate or monitor (see `certrotor record add`)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Register a credential and its first key pair (generated, or imported from keygen's files)."""
    # ASCII digits only, as NetSuite's own ids: int() alone would take "٧", " 7" or "1_0".
    if not (_INTERNAL_ID.fullmatch(entity) and _INTERNAL_ID.fullmatch(role)):
        raise InputError(
            "--entity and --role must be numeric internal IDs.", hint="e.g. --entity 7 --role 3."
        )
    entity_id, role_id = int(entity), int(role)
    spec = CredentialSpec(
        name=name,
        account_id=account,
        client_id=client_id,
        entity_id=entity_id,
        role_id=role_id,
        kind=CredentialKind(_kind(kind)),
        base_url=base_url,
        verify_tls=False if insecure else None,
        scopes=parse_scopes_option(scopes),
        key_spec=KeySpec.parse(key),
        validity_seconds=validity_seconds(validity_days, validity),
        renew_before_min_seconds=int(parse_duration(renew_min).total_seconds()),
        renew_before_max_seconds=int(parse_duration(renew_max).total_seconds()),
        grace_seconds=int(parse_duration(grace, allow_zero=True).total_seconds()),
        strategy=Strategy(_enum(Strategy, strategy, "strategy")),
        auth_mode=AuthMode(_enum(AuthMode, auth, "auth mode")),
        auth_credential=auth_credential,
        management_token=token,
        hook_command=hook,
        delivery_dir=str(deliver_to) if deliver_to else None,
        record_script_id=record_script_id(record_id) if kind == CredentialKind.RECORD else None,
        record_name=record_name if kind == CredentialKind.RECORD else None,
        record_mode=None if mode is None else RecordMode(_enum(RecordMode, mode, "record mode")),
    )
    from certrotor.services import operations  # the services (and HTTP client) only where used

    with open_runtime() as runtime:
        if spec.kind is CredentialKind.RECORD and key_file is None and cert_file is None:
            credential, added = operations.add_record_credential(runtime, spec)
        else:
            credential, added = operations.add_credential(
                runtime, spec, key_file=key_file, cert_file=cert_file
            )
    hosts = NetSuiteEndpoints.for_account(credential.account_id, credential.base_url)
    if added is None:
        if as_json:
            print_json(
                {"name": credential.name, "mode": "monitor", "version": None, "base_url": hosts.api_base}
            )
            return
        console.print(f"Added credential [bold]{credential.name}[/]: it only watches its record (monitor).")
        _say_base_url(credential, given=base_url)
        return
    version = added
    if as_json:
        print_json(
            {
                "name": credential.name,
                "version": version.id,
                "fingerprint_sha256": version.fingerprint_sha256,
                "base_url": hosts.api_base,
                "token_url": hosts.token_url,
            }
        )
        return
    console.print(
        f"Added credential [bold]{credential.name}[/] with a pending {version.algorithm} certificate."
    )
    _say_base_url(credential, given=base_url)
    console.print(f"Next: `certrotor upload {credential.name}` (or `certrotor rotate {credential.name}`).")


_REAL_ACCOUNT = re.compile(r"^[0-9]{4,}(?:_(?:SB|RP)[0-9]+)?$", re.IGNORECASE)
"""A production, sandbox (``_SB1``) or release preview (``_RP1``) account ID, as NetSuite gives them."""


def _say_base_url(credential: Credential, *, given: str | None) -> None:
    """Which hosts the new credential talks to; a warning when a real-looking account points elsewhere."""
    name, account = credential.name, credential.account_id
    if credential.base_url is None:
        hosts = NetSuiteEndpoints.for_account(account)
        console.print(
            f"It uses NetSuite's hosts for account {account}: {hosts.token_base} (token) and "
            f"{hosts.api_base} (certificates).",
            markup=False,
        )
        return
    if given:
        console.print(f"It uses the base URL {credential.base_url} (--base-url).", markup=False)
    else:
        console.print(
            f"It uses the base URL {credential.base_url}, which account {account} already had "
            f"(`certrotor credential set {name} --base-url ''` returns to NetSuite's hosts).",
            markup=False,
        )
    host = (urlsplit(credential.base_url).hostname or "").lower()
    if not _REAL_ACCOUNT.match(account):
        return
    if _is_loopback(host):
        what = "a loopback address"
    elif not host.endswith(".netsuite.com"):
        what = "not a NetSuite host"
    else:
        return
    error_console.print(
        f"warning: account {account} looks like a real NetSuite account, but {credential.base_url} is "
        f"{what}. Fix: if {name} is for the real account, run `certrotor credential set {name} "
        "--base-url ''`.",
        markup=False,
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def credential_dict(credential: Credential) -> dict[str, object]:
    return {
        "name": credential.name,
        "kind": credential.kind.value,
        "account_id": credential.account_id,
        "client_id": credential.client_id,
        "entity_id": credential.entity_id,
        "role_id": credential.role_id,
        "base_url": credential.base_url,
        "scopes": list(credential.scopes),
        "key": credential.key_spec.value,
        "strategy": credential.effective_strategy.value if credential.effective_strategy else "auto",
        "auth": credential.auth_mode.value,
        "next_rotation_at": credential.next_rotation_at,
        "failed_attempts": credential.failed_attempts,
        "last_error": credential.last_error,
        "record_script_id": credential.record_script_id,
        "mode": credential.record_mode.value if credential.record_mode else None,
    }


@credential_app.command("list")
def list_credentials(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List registered credentials and their next planned rotation."""
    with open_runtime() as runtime:
        credentials = runtime.store.list_credentials()
        currents = {c.name: runtime.store.current_version(c) for c in credentials}
    if as_json:
        print_json(
            [
                credential_dict(c)
                | {"current_certificate_id": (v.certificate_id if (v := currents[c.name]) else None)}
                for c in credentials
            ]
        )
        return
    if not credentials:
        console.print("No credentials yet. Add one with `certrotor credential add NAME --account ...`.")
        return
    rows = table(
        "name",
        "kind",
        "account",
        "entity/role",
        "current certificate",
        "expires",
        "next rotation",
        ids={"name", "current certificate"},
    )
    for c in credentials:
        v = currents[c.name]
        add_row(
            rows,
            c.name,
            c.kind.value,
            c.account_id,
            f"{c.entity_id}/{c.role_id}",
            (v.certificate_id or "-") if v else "-",
            format_time(v.not_after) if v else "-",
            format_time(c.next_rotation_at),
        )
    print_table(rows)


@credential_app.command("remove")
def remove(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The credential's name.")],
    force: Annotated[bool, typer.Option("--force", help="Remove even with a current certificate.")] = False,
) -> None:
    """Forget a credential (its certificates on NetSuite are left as they are)."""
    with open_runtime() as runtime:
        runtime.store.remove_credential(name, force=force)
    console.print(f"Removed credential {name}.")


@credential_app.command("show")
def show(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The credential's name.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """A credential's settings and its certificate versions (no secrets)."""
    with open_runtime() as runtime:
        credential = runtime.store.get_credential(name)
        versions = runtime.store.versions(credential)
    data = credential_dict(credential) | {
        "renew_min": format_duration_seconds(credential.renew_before_min_seconds),
        "renew_max": format_duration_seconds(credential.renew_before_max_seconds),
        "grace": format_duration_seconds(credential.grace_seconds),
        "validity": format_duration_seconds(credential.validity_seconds),
        "auth_credential": credential.auth_credential_name,
        "has_management_token": credential.has_management_token,
        "hook": credential.hook_command is not None,
        "delivery_dir": credential.delivery_dir,
        "insecure": not credential.verify_tls,
        "versions": [
            {
                "id": v.id,
                "state": v.state.value,
                "certificate_id": v.certificate_id,
                "algorithm": v.algorithm,
                "not_after": v.not_after,
                "fingerprint_sha256": v.fingerprint_sha256,
            }
            for v in versions
        ],
    }
    if as_json:
        print_json(data)
        return
    fields = table("setting", "value", ids={"setting"}, show_header=False, box=None)
    for key, value in data.items():
        if key != "versions":
            add_row(fields, key, format_time(value) if isinstance(value, dt.datetime) else str(value))
    print_table(fields)
    versions_table = table(
        "state", "certificate_id", "algorithm", "expires", "fingerprint", ids={"certificate_id"}
    )
    for v in versions:
        add_row(
            versions_table,
            v.state.value,
            v.certificate_id or "-",
            v.algorithm,
            format_time(v.not_after),
            v.fingerprint_sha256[:16],
        )
    print_table(versions_table)


@credential_app.command("set")
def set_options(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The credential's name.")],
    strategy: Annotated[str | None, typer.Option("--strategy", help="auto, overlap or replace.")] = None,
    renew_min: Annotated[str | None, typer.Option("--renew-min", help="e.g. 7d.")] = None,
    renew_max: Annotated[str | None, typer.Option("--renew-max", help="e.g. 14d.")] = None,
    grace: Annotated[str | None, typer.Option("--grace", help="e.g. 1d.")] = None,
    validity_days: Annotated[
        int | None, typer.Option("--validity-days", help="Next certificates' validity.")
    ] = None,
    key: Annotated[str | None, typer.Option("--key", help="Key type of the next certificates.")] = None,
    scopes: Annotated[str | None, typer.Option("--scopes", help="Comma separated.")] = None,
    auth: Annotated[str | None, typer.Option("--auth", help="self, credential or token.")] = None,
    auth_credential: Annotated[str | None, typer.Option("--auth-credential")] = None,
    hook: Annotated[
        str | None, typer.Option("--hook", help="Command run after delivery ('' removes it).")
    ] = None,
    deliver_to: Annotated[Path | None, typer.Option("--deliver-to", help="Delivery directory.")] = None,
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="The account's base URL ('' derives it).")
    ] = None,
    token: Annotated[
        str | None, typer.Option("--token", help="Store a new management token (sealed).")
    ] = None,
    mode: Annotated[
        str | None,
        typer.Option("--mode", help="A certificate record's: rotate (certrotor writes it) or monitor."),
    ] = None,
    insecure: Annotated[
        bool | None,
        typer.Option(
            "--insecure/--secure",
            help="Test servers only: TLS verification off and plain http:// allowed for the account "
            "(--secure turns both back on).",
        ),
    ] = None,
) -> None:
    """Change a credential's settings; the next rotation uses them. Nothing changes on a bad value."""
    changes: CredentialChanges = {}
    if mode is not None:
        changes["record_mode"] = RecordMode(_enum(RecordMode, mode, "record mode"))
    if strategy is not None:
        changes["strategy"] = Strategy(_enum(Strategy, strategy, "strategy"))
        changes["resolved_strategy"] = None
    if renew_min is not None:
        changes["renew_before_min_seconds"] = int(parse_duration(renew_min).total_seconds())
    if renew_max is not None:
        changes["renew_before_max_seconds"] = int(parse_duration(renew_max).total_seconds())
    if grace is not None:
        changes["grace_seconds"] = int(parse_duration(grace, allow_zero=True).total_seconds())
    if validity_days is not None:
        changes["validity_seconds"] = validity_seconds(validity_days, None)
    if key is not None:
        changes["key_spec"] = KeySpec.parse(key)
    if scopes is not None:
        changes["scopes"] = parse_scopes_option(scopes)
    if auth is not None:
        changes["auth_mode"] = AuthMode(_enum(AuthMode, auth, "auth mode"))
    if auth_credential is not None:
        changes["auth_credential"] = auth_credential or None
    if hook is not None:
        changes["hook_command"] = hook or None
    if deliver_to is not None:
        changes["delivery_dir"] = str(deliver_to)
    if not changes and base_url is None and token is None and insecure is None:
        raise InputError(
            "Nothing to change.", hint="give at least one option; see `certrotor credential set --help`."
        )
    with open_runtime() as runtime:
        store = runtime.store
        credential = store.get_credential(name)
        if base_url is not None:
            NetSuiteEndpoints.for_account(credential.account_id, base_url or None)  # refuse a bad URL first
        if deliver_to is not None:
            from certrotor.services.rotation.delivery import check_delivery_target

            check_delivery_target(runtime, name, str(deliver_to))
        # The account as it will be, checked before anything is written.
        check_transport(
            (base_url or None) if base_url is not None else credential.base_url,
            insecure=insecure if insecure is not None else not credential.verify_tls,
        )
        if changes:
            credential = store.update_credential(name, **changes)
        if base_url is not None or insecure is not None:
            store.update_account(
                credential.account_id,
                base_url=(base_url or None) if base_url is not None else UNSET,
                verify_tls=None if insecure is None else not insecure,
            )
        if token is not None:
            store.set_management_token(credential, token)
        changed = sorted(
            [
                *changes,
                *(["base_url"] if base_url is not None else []),
                *(["token"] if token else []),
                *(["insecure"] if insecure is not None else []),
            ]
        )
        from certrotor.services import operations

        replanned = (
            operations.replan_rotation(runtime, credential)
            if operations.REPLANNING_SETTINGS.intersection(changes)
            else None
        )
        detail: dict[str, object] = {"changed": changed}
        if replanned is not None:
            detail["next_rotation_at"] = replanned.isoformat()
        store.append_event(credential, "cli", "credential-set", EventOutcome.OK, detail)
    console.print(f"Updated {name}: {', '.join(changed)}.", markup=False)
    if replanned is not None:
        console.print(f"Next rotation re-planned for {format_time(replanned)}.", markup=False)


@credential_app.command("recover")
def recover(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The credential's name.")],
    token: Annotated[
        str | None,
        typer.Option("--token", help="A bootstrap or management token (else CERTROTOR_BOOTSTRAP_TOKEN)."),
    ] = None,
) -> None:
    """After a lost master key: a new key pair uploaded with a token; the old certificates revoked."""
    # The explicit recovery may make a new master key file; no other command does for a sealed store.
    master_key_for(load_cli_settings(), recovering=True)
    from certrotor.services import recovery

    with open_runtime(token, check_master_key=False) as runtime:
        result = recovery.recover(runtime, name)
    version = result.version
    console.print(
        f"Recovered {name}: new certificate {version.certificate_id}, valid until "
        f"{format_time(version.not_after)}, is current and delivered.",
        markup=False,
    )
    if result.revoked:
        console.print(f"Revoked the old certificates: {', '.join(result.revoked)}.", markup=False)
    for certificate_id, reason in result.not_revoked:
        console.print(
            f"Could not revoke the old certificate {certificate_id}: {reason} "
            f"Revoke it with `certrotor revoke {name} -- {certificate_id}`.",
            markup=False,
        )
    if result.previous_key_id is not None:
        console.print(
            f"The master key in use now seals this store (it replaced {result.previous_key_id}): recover "
            "every other credential whose key cannot be decrypted (`certrotor health` names them).",
            markup=False,
        )
