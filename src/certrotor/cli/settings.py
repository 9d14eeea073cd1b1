"""``certrotor config show``: the effective settings, where each came from, secrets masked."""

from __future__ import annotations

import typer

from certrotor.cli.context import load_cli_settings
from certrotor.cli.options import JsonOption
from certrotor.cli.output import add_row, console, print_json, print_table, table
from certrotor.config import config_file_path, describe_settings

config_app = typer.Typer(help="Settings: what is in effect and where it came from.", no_args_is_help=True)


@config_app.command("show")
def show(as_json: JsonOption = False) -> None:
    """Print every setting's effective value and its source (default, file or env), secrets masked."""
    settings = load_cli_settings()
    views = describe_settings(settings)
    path = config_file_path()
    if as_json:
        print_json(
            {
                "config_file": str(path),
                "config_file_exists": path.is_file(),
                "settings": [
                    {"name": v.name, "env": v.env_name, "value": v.value, "source": v.source} for v in views
                ],
            }
        )
        return
    console.print(f"Config file: {path}{'' if path.is_file() else ' (not found)'}", markup=False)
    rows = table("setting", "value", "source", ids={"setting"})
    for view in views:
        add_row(rows, view.name, view.value, view.source)
    print_table(rows)
