"""Command-line options that several commands share, spelled and explained once."""

from __future__ import annotations

from typing import Annotated

import typer

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
NameArgument = Annotated[str, typer.Argument(metavar="NAME", help="The credential's name.")]
KeyOption = Annotated[str, typer.Option("--key", help="ec-p256, ec-p384, ec-p521, rsa-3072, rsa-4096.")]
ValidityDaysOption = Annotated[
    int | None, typer.Option("--validity-days", help="Certificate validity in days (<= 730).")
]
ValidityOption = Annotated[str | None, typer.Option("--validity", help="Validity as a duration (e.g. 10m).")]
BaseUrlOption = Annotated[str | None, typer.Option("--base-url", help="Override NetSuite's hosts.")]
InsecureOption = Annotated[
    bool,
    typer.Option(
        "--insecure",
        help="Test servers only: turn TLS verification off for this account and allow plain http://.",
    ),
]
RenewMinOption = Annotated[
    str, typer.Option("--renew-min", help="Renew at the latest this long before expiry.")
]
RenewMaxOption = Annotated[
    str, typer.Option("--renew-max", help="Renew at the earliest this long before expiry.")
]
HookOption = Annotated[str | None, typer.Option("--hook", help="Command run after each delivery.")]
