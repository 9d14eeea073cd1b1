"""Entry point of the ``certrotor`` command: mounts every sub-command and turns errors into one line."""

from __future__ import annotations

import gc
import sys
from collections.abc import Sequence
from typing import Annotated

import typer

# Typer vendors its own Click; this one error means "no arguments: show the help", not a mistake.
from typer._click.exceptions import NoArgsIsHelpError

from certrotor import __version__
from certrotor.cli.commands import LazyGroup
from certrotor.cli.helpformat import install as install_help_format
from certrotor.errors import CertrotorError

app = typer.Typer(
    cls=LazyGroup,
    name="certrotor",
    help="Keep NetSuite OAuth 2.0 M2M certificates valid with no human in the loop.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ERROR_EXIT_CODE = 1
USAGE_EXIT_CODE = 2


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


def root_command() -> LazyGroup:
    """The Click group of ``app`` with every sub-command listed (each imported only when it runs)."""
    command = typer.main.get_command(app)
    assert isinstance(command, LazyGroup)
    command.add_lazy()
    install_help_format()
    return command


def _debug_requested(args: Sequence[str]) -> bool:
    """``--debug`` counts only among the root options, so a value such as a certificate ID never does."""
    for arg in args:
        if arg == "--debug":
            return True
        if not arg.startswith("-"):
            return False
    return False


def _usage_error_line(exc: typer.TyperException) -> str:
    """Click's usage errors (missing option, bad value, unknown command) as one line with the fix."""
    message = exc.format_message().rstrip()
    if not message.endswith((".", "?", "!")):
        message += "."
    context = getattr(exc, "ctx", None)
    command_path = getattr(context, "command_path", None) or "certrotor"
    return f"error: {message} Fix: see `{command_path} --help`."


def main(argv: Sequence[str] | None = None) -> None:
    """Run the CLI; every error becomes one readable line with its fix (traceback only with --debug).

    Exit codes: 0 success, 1 a certrotor error (bad input, refused by NetSuite, ...), 2 a usage error
    (unknown option or command, missing or malformed value), 130 interrupted; ``health`` uses 0, 1
    and 2 for OK, WARN and CRIT as monitoring plugins do.
    """
    if argv is None:
        # The whole process is this one command: at exit, Python's final collection would walk
        # every object the imports made (about 0.1 s for ``certrotor health``); frozen, it does not.
        try:
            _run(sys.argv[1:], whole_process=True)
        finally:
            gc.freeze()
    else:
        _run(argv, whole_process=False)


def _run(argv: Sequence[str], *, whole_process: bool) -> None:
    args = list(argv)
    debug = _debug_requested(args)
    command = root_command()
    command.freeze_imports = whole_process
    try:
        # Typer vendors its own Click: usage errors are typer.TyperException, not click's classes.
        result = command.main(args=args, prog_name="certrotor", standalone_mode=False)
    except NoArgsIsHelpError as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except typer.TyperException as exc:
        if debug:
            raise
        _print_error(_usage_error_line(exc))
        sys.exit(getattr(exc, "exit_code", USAGE_EXIT_CODE))
    except typer.Abort:
        _print_error("Aborted.")
        sys.exit(ERROR_EXIT_CODE)
    except CertrotorError as exc:
        if debug:
            raise
        _print_error(f"error: {exc}")
        sys.exit(getattr(exc, "exit_code", ERROR_EXIT_CODE))
    except KeyboardInterrupt:
        _print_error("Interrupted.")
        sys.exit(130)
    except OSError as exc:
        # A path that is missing, not a directory, or not writable (data directory, key files, ...).
        if debug:
            raise
        where = f": {exc.filename}" if exc.filename else ""
        _print_error(
            f"error: {exc.strerror or type(exc).__name__}{where}. Fix: check that the path exists, is "
            "a directory where one is expected, and that you may write to it (see CERTROTOR_DATA_DIR)."
        )
        sys.exit(ERROR_EXIT_CODE)
    except Exception as exc:
        # A bug or an unforeseen failure: still one line (scrubbed of secrets), the traceback on --debug.
        if debug:
            raise
        from certrotor.logging import scrub_text

        detail = " ".join(scrub_text(str(exc)).split()) or "no detail"
        _print_error(
            f"error: unexpected {type(exc).__name__}: {detail} Fix: run again with "
            "`certrotor --debug ...` for the traceback and report it."
        )
        sys.exit(ERROR_EXIT_CODE)
    if isinstance(result, int) and result:
        sys.exit(result)


def _print_error(line: str) -> None:
    """One line on stderr (Rich, imported only when there is something to say)."""
    from certrotor.cli.output import error_console

    error_console.print(line, markup=False)
