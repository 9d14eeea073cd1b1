"""The public names of certrotor.alerts."""

from __future__ import annotations

import certrotor.alerts


class TestPublicNames:
    def test_all_is_pinned_and_every_name_resolves(self) -> None:
        """The re-exported names are exactly these (constants first, as ruff sorts them), each real."""
        assert certrotor.alerts.__all__ == [
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
        for name in certrotor.alerts.__all__:
            assert getattr(certrotor.alerts, name) is not None
