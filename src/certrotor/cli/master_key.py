"""``certrotor master-key show-id|export|rotate``: the key that seals private keys and tokens at rest."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from certrotor.cli.context import open_runtime
from certrotor.cli.options import JsonOption
from certrotor.cli.output import console, print_json
from certrotor.services import master_key

master_key_app = typer.Typer(
    help="The master key: show its id, export it for a backup, rotate it.", no_args_is_help=True
)


@master_key_app.command("show-id")
def show_id(as_json: JsonOption = False) -> None:
    """The id of the master key in use (a hash, safe to share) and where it comes from; never the key."""
    with open_runtime() as runtime:
        info = master_key.show(runtime)
    if as_json:
        print_json(
            {
                "key_id": info.key_id,
                "recorded_key_id": info.recorded_key_id,
                "source": info.source,
                "sealed_secrets": info.sealed_secrets,
            }
        )
        return
    console.print(f"{info.key_id} ({info.source}; seals {info.sealed_secrets} secrets)", markup=False)


@master_key_app.command("export")
def export(
    destination: Annotated[
        Path, typer.Argument(metavar="FILE", help="A new file (mode 0600) for the backup.")
    ],
) -> None:
    """Write the master key to a new file (mode 0600) for a backup; whoever holds it can open every secret."""
    with open_runtime() as runtime:
        key_id = master_key.export(runtime, destination)
    print(
        f"warning: {destination} now holds master key {key_id} in clear: whoever reads it can decrypt every "
        "private key and token of this store. Keep it offline, apart from the store's backups.",
        file=sys.stderr,
    )
    console.print(f"Exported master key {key_id} to {destination} (mode 0600).", markup=False)


@master_key_app.command("rotate")
def rotate(as_json: JsonOption = False) -> None:
    """Re-seal every secret under a new master key in one transaction, then replace the key file."""
    with open_runtime() as runtime:
        result = master_key.rotate(runtime)
    if as_json:
        print_json(
            {
                "old_key_id": result.old_key_id,
                "new_key_id": result.new_key_id,
                "resealed": result.resealed,
                "key_file": str(result.key_file),
            }
        )
        return
    console.print(
        f"Rotated the master key {result.old_key_id} -> {result.new_key_id}: {result.resealed} secrets "
        f"re-sealed, {result.key_file} replaced. Export the new key for your backups "
        "(`certrotor master-key export FILE`).",
        markup=False,
    )
