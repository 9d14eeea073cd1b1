"""Command channel: run the user's program (an argv list, no shell) with the alert JSON on stdin."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from certrotor.alerts.channels import AlertDeliveryError
from certrotor.alerts.message import Alert
from certrotor.alerts.settings import CommandAlertSettings
from certrotor.logging import scrub_text

_STRIPPED_ENV_PREFIX = "CERTROTOR_"
_STDERR_TAIL_CHARS = 300


class CommandChannel:
    """Exit code 0 is a delivery; anything else (or a timeout) is a failure, retried with backoff."""

    def __init__(self, name: str, settings: CommandAlertSettings) -> None:
        self._name = name
        self._settings = settings

    @property
    def name(self) -> str:
        return self._name

    @property
    def target(self) -> str:
        # Only the program: its arguments may carry tokens.
        return f"command {Path(self._settings.command[0]).name}"

    def __repr__(self) -> str:
        return f"CommandChannel(name={self._name!r}, target={self.target!r})"

    def send(self, alert: Alert) -> None:
        argv = self._settings.command
        where = f"Alert channel {self._name} (command {argv[0]})"
        # The program inherits PATH, HOME, ... but none of certrotor's settings (master key, tokens).
        env = {key: value for key, value in os.environ.items() if not key.startswith(_STRIPPED_ENV_PREFIX)}
        env["CERTROTOR_ALERT_EVENT"] = alert.kind.value
        env["CERTROTOR_ALERT_STATUS"] = alert.status.value
        env["CERTROTOR_ALERT_CREDENTIAL"] = alert.credential
        try:
            completed = subprocess.run(
                argv,
                input=alert.to_json_bytes(),
                capture_output=True,
                env=env,
                timeout=self._settings.timeout_seconds,
                check=False,
                start_new_session=True,
            )
        except FileNotFoundError:
            raise AlertDeliveryError(
                f"{where} was not found.",
                hint="give the program's full path as the first word of 'command'.",
                retryable=False,
            ) from None
        except PermissionError:
            raise AlertDeliveryError(
                f"{where} is not executable.", hint="chmod +x the program.", retryable=False
            ) from None
        except subprocess.TimeoutExpired:
            raise AlertDeliveryError(
                f"{where} did not finish within {self._settings.timeout_seconds:g} s and was stopped.",
                hint="make the command return sooner, or raise timeout_seconds.",
            ) from None
        except OSError as error:
            raise AlertDeliveryError(
                f"{where} could not start ({error.strerror or type(error).__name__}).",
                hint="check the program and its interpreter line.",
                retryable=False,
            ) from None
        if completed.returncode != 0:
            tail = scrub_text(completed.stderr.decode("utf-8", "replace")[-_STDERR_TAIL_CHARS:]).strip()
            last = tail.splitlines()[-1] if tail else ""
            detail = f": {last}" if last else ""
            raise AlertDeliveryError(
                f"{where} exited with code {completed.returncode}{detail}.",
                hint="run it by hand with an alert on its standard input (`certrotor alerts test`).",
            )
