"""``certrotor alerts test``: send a test alert to every configured channel and say which worked."""

from __future__ import annotations

import typer

from certrotor.alerts import Alert, AlertDeliveryError, AlertDispatcher, configured_channels
from certrotor.cli.context import load_cli_settings, setup_logging
from certrotor.cli.options import JsonOption
from certrotor.cli.output import print_json
from certrotor.crypto import utcnow
from certrotor.errors import ConfigError

alerts_app = typer.Typer(help="Alerts: webhook, e-mail and command channels.", no_args_is_help=True)


@alerts_app.command("test")
def send_test(as_json: JsonOption = False) -> None:
    """Send a test alert to every channel at once (no retries); exit 1 if any failed."""
    settings = load_cli_settings()
    setup_logging(settings, service=False)
    channels = configured_channels(settings)
    if not channels:
        raise ConfigError(
            "No alert channel is configured.",
            hint="set CERTROTOR_ALERT_WEBHOOK_URL, or add [[alerts]] tables to the config file "
            "(CERTROTOR_CONFIG); see the README's Alerts section.",
        )
    results = AlertDispatcher(channels).send_now(Alert.for_channel_test(utcnow()))
    if as_json:
        print_json(
            [
                {"channel": r.channel, "target": r.target, "ok": r.ok, "error": r.error, "fix": r.hint}
                for r in results
            ]
        )
    else:
        width = max(len(result.channel) for result in results)
        for result in results:
            if result.ok:
                typer.echo(f"OK      {result.channel:<{width}}  {result.target}")
            else:
                typer.echo(f"FAILED  {result.channel:<{width}}  {result.error} Fix: {result.hint}")
    failed = [result.channel for result in results if not result.ok]
    if failed:
        raise AlertDeliveryError(
            f"{len(failed)} of {len(results)} alert channels failed: {', '.join(failed)}.",
            hint="correct each failed channel as its line says, then run `certrotor alerts test` again.",
            retryable=False,
        )
