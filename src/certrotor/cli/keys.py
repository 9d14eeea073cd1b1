"""``certrotor keygen`` and ``certrotor cert inspect``: the seed's OpenSSL step, in-process."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from certrotor import crypto
from certrotor.cli.output import console, format_time, print_json
from certrotor.errors import InputError
from certrotor.userfiles import read_user_file

cert_app = typer.Typer(help="Look at certificates.", no_args_is_help=True)


def write_private_file(path: Path, data: bytes, *, overwrite: bool) -> None:
    """Create ``path`` with mode 0600 from the start, so the key is never readable by others."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise InputError(
            f"{path} already exists.", hint="choose another path or pass --force to overwrite."
        ) from None
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(data)


def _cannot_write(path: Path, error: OSError) -> InputError:
    return InputError(
        f"Cannot write {path}: {error.strerror or error}.",
        hint="choose a path in an existing directory you may write to.",
    )


def keygen(
    key_out: Annotated[
        Path, typer.Option("--key-out", "--keyout", help="Private key file (mode 0600).")
    ] = Path("auth-key.pem"),
    cert_out: Annotated[Path, typer.Option("--cert-out", "--out", help="Certificate file.")] = Path(
        "auth-cert.pem"
    ),
    key: Annotated[
        str, typer.Option("--key", help="ec-p256, ec-p384, ec-p521, rsa-3072 or rsa-4096.")
    ] = "ec-p256",
    validity_days: Annotated[int, typer.Option("--validity-days", help="At most 730 (two years).")] = 365,
    subject: Annotated[str, typer.Option("--subject", help="Certificate common name.")] = "certrotor",
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Generate a key pair and a self-signed certificate, like the seed's `openssl req -x509`."""
    spec = crypto.KeySpec.parse(key)
    if not force:
        for path in (key_out, cert_out):
            if path.exists():
                raise InputError(
                    f"{path} already exists.",
                    hint="choose another path or pass --force to overwrite.",
                )
    private_key = crypto.generate_private_key(spec)
    certificate = crypto.build_self_signed_certificate(
        private_key, common_name=subject, validity_days=validity_days
    )
    write_private_file(key_out, crypto.private_key_to_pem(private_key), overwrite=force)
    try:
        cert_out.write_text(crypto.certificate_to_pem(certificate))
    except OSError as exc:
        # A key without its certificate is of no use: leave nothing behind.
        key_out.unlink(missing_ok=True)
        raise _cannot_write(cert_out, exc) from None
    info = crypto.inspect_certificate(certificate)
    if as_json:
        print_json(
            {
                "key_file": str(key_out),
                "certificate_file": str(cert_out),
                "fingerprint_sha256": info.fingerprint_sha256,
                "algorithm": info.jws_algorithm,
                "not_after": info.not_after,
            }
        )
        return
    console.print(f"Wrote private key [bold]{key_out}[/] (mode 0600) and certificate [bold]{cert_out}[/].")
    console.print(
        f"{info.key_type} {info.curve or info.key_size}, {info.jws_algorithm}, "
        f"valid until {format_time(info.not_after)}"
    )
    console.print(f"SHA-256 {info.fingerprint_sha256}")


@cert_app.command("inspect")
def inspect(
    path: Annotated[Path, typer.Argument(help="A PEM certificate (.pem, .cer, .crt).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show a certificate's key type, subject, validity and SHA-256 fingerprint."""
    data = read_user_file(path, hint="give the path of a PEM file.")
    info = crypto.inspect_certificate(crypto.load_certificate_pem(data))
    fields = {
        "type": info.key_type,
        "key_size": info.key_size,
        "curve": info.curve,
        "algorithm": info.jws_algorithm,
        "subject": info.subject,
        "issuer": info.issuer,
        "serial_number": format(info.serial_number, "x"),
        "not_before": info.not_before,
        "not_after": info.not_after,
        "validity_days": round(info.validity_days, 2),
        "fingerprint_sha256": info.fingerprint_sha256,
        "expired": not info.is_valid_at(crypto.utcnow()),
    }
    if as_json:
        print_json(fields)
        return
    table = Table(show_header=False, box=None)
    for name, value in fields.items():
        shown = format_time(value) if isinstance(value, dt.datetime) else str(value)
        table.add_row(name, shown)
    console.print(table)
