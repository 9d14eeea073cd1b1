"""Every sub-command, registered lazily: a command's module is imported only when that command runs.

``certrotor --version`` and ``certrotor --help`` import no command module (so none of SQLAlchemy,
Alembic, httpx2, FastAPI or uvicorn): the help lists each command from the one line kept here,
which a test compares with the command's own help.
"""

from __future__ import annotations

import gc
import importlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import typer
from typer._click import Command, Context
from typer.core import TyperCommand, TyperGroup

_ACCEPTS_DASH_IDS = {"ignore_unknown_options": True}
"""NetSuite certificate IDs may begin with '-': let such a value through as an argument."""


@contextmanager
def imports_without_collection(*, freeze: bool) -> Iterator[None]:
    """Pause the cyclic garbage collector while a command's modules load, then resume it.

    An import makes hundreds of thousands of objects that live as long as the process; the collector
    would walk them again at every threshold (about a tenth of ``certrotor health``'s start-up).
    With ``freeze`` (only when the process is this one command) they leave the collector's view for
    good, so the command's own first full collection does not walk them either.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if freeze:
            gc.freeze()
        if was_enabled:
            gc.enable()


@dataclass(frozen=True)
class LazyCommand:
    """Where a command lives (``module:attribute``: a function, or a group's Typer app), and its help."""

    name: str
    target: str
    help: str
    group: bool = False
    context_settings: Mapping[str, Any] = field(default_factory=dict)

    def load(self) -> Command:
        """The real Click command, built by Typer exactly as an eager registration would build it."""
        module_name, _, attribute = self.target.partition(":")
        target = getattr(importlib.import_module(module_name), attribute)
        holder = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
        if self.group:
            holder.add_typer(target, name=self.name)
        else:
            holder.command(self.name, context_settings=dict(self.context_settings))(target)
        holder.callback()(lambda: None)  # a group even with one command, so that names are kept
        built = typer.main.get_command(holder)
        assert isinstance(built, TyperGroup)
        return built.commands[self.name]


COMMANDS: tuple[LazyCommand, ...] = (
    LazyCommand(
        "keygen",
        "certrotor.cli.keys:keygen",
        "Generate a key pair and a self-signed certificate, like the seed's `openssl req -x509`.",
    ),
    LazyCommand(
        "upload",
        "certrotor.cli.remote:upload",
        "Upload the credential's pending certificate (POST .../certificates).",
    ),
    LazyCommand(
        "list",
        "certrotor.cli.remote:list_certificates",
        "List the integration's certificates, revoked ones included (GET .../certificates).",
    ),
    LazyCommand(
        "revoke",
        "certrotor.cli.remote:revoke",
        "Revoke a certificate (POST .../certificates/{id}/revoke).",
        context_settings=_ACCEPTS_DASH_IDS,
    ),
    LazyCommand(
        "token",
        "certrotor.cli.remote:token",
        "Obtain an access token with the current certificate (client credentials flow).",
    ),
    LazyCommand(
        "login",
        "certrotor.cli.remote:login",
        "Authorization code grant with PKCE; the token is stored (sealed) as NAME's management token.",
    ),
    LazyCommand(
        "rotate",
        "certrotor.cli.rotation:rotate",
        "Generate, upload, verify and activate a new certificate now (the seed's manual trigger).",
    ),
    LazyCommand(
        "health",
        "certrotor.cli.rotation:health",
        "OK, WARN or CRIT per credential with the reason and the fix; exit code 0, 1 or 2 (3: unknown).",
    ),
    LazyCommand(
        "events", "certrotor.cli.rotation:events", "The audit trail: who did what, when, with which outcome."
    ),
    LazyCommand(
        "daemon",
        "certrotor.cli.rotation:daemon",
        "Rotate every credential before it expires, forever; SIGTERM finishes the step and exits.",
    ),
    LazyCommand(
        "demo",
        "certrotor.cli.demo:demo",
        "Start a local NetSuite emulator and the rotation daemon on short-lived demo certificates.",
    ),
    LazyCommand("cert", "certrotor.cli.keys:cert_app", "Look at certificates.", group=True),
    LazyCommand(
        "credential",
        "certrotor.cli.credentials:credential_app",
        "Register and look at credentials.",
        group=True,
    ),
    LazyCommand(
        "master-key",
        "certrotor.cli.master_key:master_key_app",
        "The master key: show its id, export it for a backup, rotate it.",
        group=True,
    ),
    LazyCommand(
        "record",
        "certrotor.cli.records:record_app",
        "Certificate records (Setup > Company > Certificates) whose key NetSuite signs with.",
        group=True,
    ),
    LazyCommand(
        "receiver",
        "certrotor.cli.records:receiver_app",
        "Receive NetSuite's signed real-time import requests.",
        group=True,
    ),
    LazyCommand(
        "emulator",
        "certrotor.emulator.cli:emulator_app",
        "A NetSuite-compatible emulator (token, authorization and certificate endpoints).",
        group=True,
    ),
    LazyCommand(
        "broker",
        "certrotor.cli.broker:broker_app",
        "The token broker: applications get NetSuite tokens without holding a key.",
        group=True,
    ),
    LazyCommand(
        "alerts",
        "certrotor.cli.alerts:alerts_app",
        "Alerts: webhook, e-mail and command channels.",
        group=True,
    ),
    LazyCommand(
        "web", "certrotor.cli.web:web_app", "The web console: serve it, manage who may log in.", group=True
    ),
    LazyCommand(
        "config",
        "certrotor.cli.settings:config_app",
        "Settings: what is in effect and where it came from.",
        group=True,
    ),
)


class _Placeholder(TyperCommand):
    """Stands in the help listing for a command not imported yet."""

    def __init__(self, lazy: LazyCommand) -> None:
        super().__init__(lazy.name, help=lazy.help, short_help=lazy.help)
        self.lazy = lazy


class LazyGroup(TyperGroup):
    """The root group: lists every command from its help line, imports a command only to run it."""

    freeze_imports = False
    """Set when the process runs this one command (see :func:`imports_without_collection`)."""

    def add_lazy(self, commands: tuple[LazyCommand, ...] = COMMANDS) -> None:
        for lazy in commands:
            self.commands.setdefault(lazy.name, _Placeholder(lazy))

    def resolve_command(self, ctx: Context, args: list[str]) -> tuple[str | None, Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if name is not None and isinstance(command, _Placeholder):
            with imports_without_collection(freeze=self.freeze_imports):
                command = self.commands[name] = command.lazy.load()
        return name, command, rest

    def load_all(self) -> None:
        """Import every command now (a process that forks a child per command does this once)."""
        for name, command in list(self.commands.items()):
            if isinstance(command, _Placeholder):
                self.commands[name] = command.lazy.load()
