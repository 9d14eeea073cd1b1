"""Alerts: what a notification says (:class:`Alert`), where it goes (webhook, e-mail, command), and
the background dispatcher that delivers it with retries. Deciding *when* to alert is
:mod:`certrotor.services.alerting`'s job.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from certrotor.alerts.channels import AlertChannel, AlertDeliveryError
    from certrotor.alerts.command import CommandChannel
    from certrotor.alerts.dispatcher import (
        AlertDispatcher,
        ChannelCounts,
        DeliveryRecorder,
        DeliveryResult,
        RetrySchedule,
    )
    from certrotor.alerts.factory import configured_channels, dispatcher_from_settings
    from certrotor.alerts.message import (
        EVENT_HEADER,
        SIGNATURE_HEADER,
        Alert,
        AlertKind,
        sign_body,
        verify_signature,
    )
    from certrotor.alerts.settings import (
        AlertChannelSettings,
        CommandAlertSettings,
        EmailAlertSettings,
        WebhookAlertSettings,
    )
    from certrotor.alerts.smtp import EmailChannel
    from certrotor.alerts.webhook import WebhookChannel

_HOMES = {
    "AlertChannel": "channels",
    "AlertDeliveryError": "channels",
    "CommandChannel": "command",
    "AlertDispatcher": "dispatcher",
    "ChannelCounts": "dispatcher",
    "DeliveryRecorder": "dispatcher",
    "DeliveryResult": "dispatcher",
    "RetrySchedule": "dispatcher",
    "configured_channels": "factory",
    "dispatcher_from_settings": "factory",
    "EVENT_HEADER": "message",
    "SIGNATURE_HEADER": "message",
    "Alert": "message",
    "AlertKind": "message",
    "sign_body": "message",
    "verify_signature": "message",
    "AlertChannelSettings": "settings",
    "CommandAlertSettings": "settings",
    "EmailAlertSettings": "settings",
    "WebhookAlertSettings": "settings",
    "EmailChannel": "smtp",
    "WebhookChannel": "webhook",
}
"""Where each public name lives: imported on first use, so that the settings (which every command
reads) do not drag the channels and their HTTP client in."""


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


__all__ = [
    "EVENT_HEADER",
    "SIGNATURE_HEADER",
    "Alert",
    "AlertChannel",
    "AlertChannelSettings",
    "AlertDeliveryError",
    "AlertDispatcher",
    "AlertKind",
    "ChannelCounts",
    "CommandAlertSettings",
    "CommandChannel",
    "DeliveryRecorder",
    "DeliveryResult",
    "EmailAlertSettings",
    "EmailChannel",
    "RetrySchedule",
    "WebhookAlertSettings",
    "WebhookChannel",
    "configured_channels",
    "dispatcher_from_settings",
    "sign_body",
    "verify_signature",
]
