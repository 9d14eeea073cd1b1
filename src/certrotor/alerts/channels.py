"""What every alert channel is (a name, a safe description of its target, ``send``) and how one fails."""

from __future__ import annotations

from typing import Protocol

from certrotor.alerts.message import Alert
from certrotor.errors import CertrotorError


class AlertDeliveryError(CertrotorError):
    """A channel could not deliver an alert; ``retryable`` says whether trying again may help.

    Messages name the channel and its safe target only: never a password, a shared secret, or a
    webhook URL's path and query (which may embed a token).
    """

    code = "alert_failed"

    def __init__(self, message: str, *, hint: str | None = None, retryable: bool = True) -> None:
        super().__init__(message, hint=hint)
        self.retryable = retryable


class AlertChannel(Protocol):
    """A place alerts go: a webhook, an SMTP server, a command."""

    @property
    def name(self) -> str:
        """Label in logs, metrics and ``certrotor alerts test`` (``webhook``, ``ops-mail``)."""
        ...

    @property
    def target(self) -> str:
        """Where it sends, safe to print: ``https://hooks.example.com``, ``smtp://mail:587``."""
        ...

    def send(self, alert: Alert) -> None:
        """Deliver ``alert`` once or raise :class:`AlertDeliveryError`."""
        ...
