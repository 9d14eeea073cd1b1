"""Entry point of the ``certrotor`` command: mounts every sub-command and turns errors into one line."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Annotated

import click
import typer

from certrotor import __version__
from certrotor.cli import keys
from certrotor.cli.output import error_console
from certrotor.errors import CertrotorError

app = typer.Typer(
    name="certrotor",
    help="Keep NetSuite OAuth 2.0 M2M certificates valid with no human in the loop.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ERROR_EXIT_CODE = 1


def _version(value: bool) -> None:
    if value:
        typer.echo(f"certrotor {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """certrotor: NetSuite M2M certificate rotation."""


app.command("keygen")(keys.keygen)
app.add_typer(keys.cert_app, name="cert")


def _mount_optional() -> None:
    """Mount the sub-apps; imported here so ``keygen`` stays fast and import cycles stay out."""
    from certrotor.cli import commands  # noqa: F401  (registers commands on ``app``)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the CLI; a CertrotorError becomes one readable line (traceback only with --debug)."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    _mount_optional()
    command = typer.main.get_command(app)
    try:
        result = command.main(args=args, prog_name="certrotor", standalone_mode=False)
    except click.exceptions.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        error_console.print("Aborted.")
        sys.exit(ERROR_EXIT_CODE)
    except CertrotorError as exc:
        if debug:
            raise
        error_console.print(f"error: {exc}", markup=False)
        sys.exit(getattr(exc, "exit_code", ERROR_EXIT_CODE))
    except KeyboardInterrupt:
        error_console.print("Interrupted.")
        sys.exit(130)
    if isinstance(result, int) and result:
        sys.exit(result)
