"""The alert channels the settings describe: every ``[[alerts]]`` table, plus CERTROTOR_ALERT_WEBHOOK_URL."""

from __future__ import annotations

from typing import TYPE_CHECKING

from certrotor.alerts.channels import AlertChannel
from certrotor.alerts.command import CommandChannel
from certrotor.alerts.dispatcher import AlertDispatcher, DeliveryRecorder
from certrotor.alerts.settings import (
    AlertChannelSettings,
    CommandAlertSettings,
    EmailAlertSettings,
    WebhookAlertSettings,
    channel_name,
)
from certrotor.alerts.smtp import EmailChannel
from certrotor.alerts.webhook import WebhookChannel

if TYPE_CHECKING:
    from certrotor.config import Settings


def channel_settings(settings: Settings) -> list[AlertChannelSettings]:
    """The configured tables, then the environment's webhook (unless a table already has that URL)."""
    tables: list[AlertChannelSettings] = list(settings.alerts)
    url = settings.alert_webhook_url
    if url is not None:
        known = {table.url.get_secret_value() for table in tables if isinstance(table, WebhookAlertSettings)}
        if url.get_secret_value() not in known:
            tables.append(WebhookAlertSettings(type="webhook", url=url))
    return tables


def build_channel(table: AlertChannelSettings, tables: list[AlertChannelSettings]) -> AlertChannel:
    name = channel_name(table, tables)
    if isinstance(table, WebhookAlertSettings):
        return WebhookChannel(name, table)
    if isinstance(table, EmailAlertSettings):
        return EmailChannel(name, table)
    assert isinstance(table, CommandAlertSettings)
    return CommandChannel(name, table)


def configured_channels(settings: Settings) -> list[AlertChannel]:
    """One channel per table, named as :func:`~certrotor.alerts.settings.channel_name` says."""
    tables = channel_settings(settings)
    return [build_channel(table, tables) for table in tables]


def dispatcher_from_settings(
    settings: Settings, *, recorder: DeliveryRecorder | None = None
) -> AlertDispatcher:
    """A dispatcher over every configured channel (none configured: alerts go nowhere, silently)."""
    return AlertDispatcher(configured_channels(settings), recorder=recorder)
