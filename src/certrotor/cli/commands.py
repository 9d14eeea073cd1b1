"""Registers the sub-commands that need the store, the client or the services."""

from __future__ import annotations

from certrotor.cli import alerts, credentials, demo, remote, rotation
from certrotor.cli import records as record_commands
from certrotor.cli.broker import broker_app
from certrotor.cli.main import app
from certrotor.cli.web import web_app
from certrotor.emulator.cli import emulator_app

_ACCEPTS_DASH_IDS = {"ignore_unknown_options": True}
"""NetSuite certificate IDs may begin with '-': let such a value through as an argument."""

app.add_typer(credentials.credential_app, name="credential")
app.command("upload")(remote.upload)
app.command("list")(remote.list_certificates)
app.command("revoke", context_settings=_ACCEPTS_DASH_IDS)(remote.revoke)
app.command("token")(remote.token)
app.command("login")(remote.login)
app.command("rotate")(rotation.rotate)
app.command("health")(rotation.health)
app.command("events")(rotation.events)
app.command("daemon")(rotation.daemon)
app.add_typer(record_commands.record_app, name="record")
app.add_typer(record_commands.receiver_app, name="receiver")
app.add_typer(emulator_app, name="emulator")
app.add_typer(broker_app, name="broker")
app.command("demo")(demo.demo)
app.add_typer(alerts.alerts_app, name="alerts")
app.add_typer(web_app, name="web")
