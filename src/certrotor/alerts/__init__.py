"""Alerts: what a notification says (:class:`Alert`), where it goes (webhook, e-mail, command), and
the background dispatcher that delivers it with retries. Deciding *when* to alert is
:mod:`certrotor.services.alerting`'s job.
"""

from __future__ import annotations

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
