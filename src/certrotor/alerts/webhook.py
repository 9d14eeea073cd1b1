"""Webhook channel: the alert as a JSON POST (Slack and Teams show its ``text``), optionally HMAC-signed."""

from __future__ import annotations

import ssl

import httpx2

from certrotor import __version__
from certrotor.alerts.channels import AlertDeliveryError
from certrotor.alerts.message import EVENT_HEADER, SIGNATURE_HEADER, Alert, sign_body
from certrotor.alerts.settings import WebhookAlertSettings, safe_origin

_RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class WebhookChannel:
    """POSTs :meth:`Alert.to_json_bytes`; any 2xx answer is a delivery."""

    def __init__(self, name: str, settings: WebhookAlertSettings) -> None:
        self._name = name
        self._settings = settings

    @property
    def name(self) -> str:
        return self._name

    @property
    def target(self) -> str:
        return safe_origin(self._settings.url.get_secret_value())

    def __repr__(self) -> str:
        return f"WebhookChannel(name={self._name!r}, target={self.target!r})"

    def _verify(self) -> ssl.SSLContext | bool:
        if not self._settings.verify_tls:
            return False
        if self._settings.ca_file is not None:
            return ssl.create_default_context(cafile=str(self._settings.ca_file))
        return True

    def _reason(self, error: Exception) -> str:
        """The last line of a transport error; a URL some library put there is cut to its origin."""
        url = self._settings.url.get_secret_value()
        text = str(error).strip().replace(url, self.target)
        return text.splitlines()[-1][:200] if text else "no detail"

    def send(self, alert: Alert) -> None:
        body = alert.to_json_bytes()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"certrotor/{__version__}",
            EVENT_HEADER: alert.kind.value,
        }
        if self._settings.secret is not None:
            headers[SIGNATURE_HEADER] = sign_body(self._settings.secret.get_secret_value(), body)
        where = f"Alert channel {self._name} ({self.target})"
        try:
            verify = self._verify()
        except OSError as error:
            raise AlertDeliveryError(
                f"{where}: its ca_file cannot be read ({error.strerror or type(error).__name__}).",
                hint="point ca_file at a readable PEM bundle.",
                retryable=False,
            ) from None
        try:
            with httpx2.Client(timeout=self._settings.timeout_seconds, verify=verify) as client:
                response = client.post(self._settings.url.get_secret_value(), content=body, headers=headers)
        except httpx2.TimeoutException:
            raise AlertDeliveryError(
                f"{where} did not answer within {self._settings.timeout_seconds:g} s.",
                hint="check that the receiver is up, or raise timeout_seconds.",
            ) from None
        except httpx2.TransportError as error:
            # The error text of a transport failure names no URL; its type says what failed.
            raise AlertDeliveryError(
                f"{where} cannot be reached ({type(error).__name__}: {self._reason(error)}).",
                hint="check the URL's host and port, the network, and TLS (verify_tls, ca_file).",
            ) from None
        if response.is_success:
            return
        raise AlertDeliveryError(
            f"{where} answered HTTP {response.status_code}.",
            hint=_status_hint(response.status_code),
            retryable=response.status_code in _RETRYABLE_STATUSES,
        )


def _status_hint(status: int) -> str:
    if status in (401, 403):
        return "check the webhook's secret and that the URL is still valid."
    if status in (404, 410):
        return "the webhook URL is unknown to the receiver: copy it again from the receiving service."
    if status in _RETRYABLE_STATUSES:
        return "the receiver is busy or failing; certrotor retries with backoff."
    return "check the webhook URL and that the receiver accepts a JSON POST."
