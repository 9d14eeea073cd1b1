"""E-mail channel: one plain-text message over SMTP with STARTTLS or implicit TLS, and login."""

from __future__ import annotations

import email.utils
import smtplib
import ssl
from email.message import EmailMessage

from certrotor.alerts.channels import AlertDeliveryError
from certrotor.alerts.message import Alert
from certrotor.alerts.settings import EmailAlertSettings


class EmailChannel:
    """Sends :meth:`Alert.to_email_body` to every ``to`` address in one SMTP session."""

    def __init__(self, name: str, settings: EmailAlertSettings) -> None:
        self._name = name
        self._settings = settings

    @property
    def name(self) -> str:
        return self._name

    @property
    def target(self) -> str:
        scheme = "smtps" if self._settings.security == "tls" else "smtp"
        return f"{scheme}://{self._settings.host}:{self._settings.resolved_port}"

    def __repr__(self) -> str:
        return f"EmailChannel(name={self._name!r}, target={self.target!r})"

    def _message(self, alert: Alert) -> EmailMessage:
        message = EmailMessage()
        message["Subject"] = alert.subject
        message["From"] = self._settings.from_address
        message["To"] = ", ".join(self._settings.to)
        message["Date"] = email.utils.format_datetime(alert.at)
        message["Message-ID"] = email.utils.make_msgid(domain=self._settings.from_address.rsplit("@", 1)[1])
        message["X-Certrotor-Event"] = alert.kind.value
        message.set_content(alert.to_email_body())
        return message

    def _tls_context(self) -> ssl.SSLContext:
        if self._settings.ca_file is not None:
            return ssl.create_default_context(cafile=str(self._settings.ca_file))
        return ssl.create_default_context()

    def _connect(self) -> smtplib.SMTP:
        settings = self._settings
        if settings.security == "tls":
            return smtplib.SMTP_SSL(
                settings.host,
                settings.resolved_port,
                timeout=settings.timeout_seconds,
                context=self._tls_context(),
            )
        return smtplib.SMTP(settings.host, settings.resolved_port, timeout=settings.timeout_seconds)

    def send(self, alert: Alert) -> None:
        settings = self._settings
        where = f"Alert channel {self._name} ({self.target})"
        try:
            with self._connect() as session:
                if settings.security == "starttls":
                    session.starttls(context=self._tls_context())
                if settings.username is not None and settings.password is not None:
                    session.login(settings.username, settings.password.get_secret_value())
                session.send_message(self._message(alert))
        except smtplib.SMTPAuthenticationError as error:
            raise AlertDeliveryError(
                f"{where} refused the login (SMTP {error.smtp_code}).",
                hint="check username and password of this [[alerts]] table.",
                retryable=False,
            ) from None
        except smtplib.SMTPNotSupportedError:
            raise AlertDeliveryError(
                f"{where} does not offer STARTTLS or login.",
                hint='use security = "tls" with the server\'s TLS port (465), or drop the login.',
                retryable=False,
            ) from None
        except smtplib.SMTPRecipientsRefused:
            raise AlertDeliveryError(
                f"{where} refused every recipient.",
                hint="check the 'to' addresses and that the server relays for the 'from' address.",
                retryable=False,
            ) from None
        except smtplib.SMTPResponseException as error:
            # 4xx are "try later"; 5xx are permanent refusals.
            raise AlertDeliveryError(
                f"{where} refused the message (SMTP {error.smtp_code}).",
                hint="check 'from' and 'to', and that the server relays mail for this sender.",
                retryable=400 <= error.smtp_code < 500,
            ) from None
        except ssl.SSLCertVerificationError as error:
            raise AlertDeliveryError(
                f"{where}: the server's TLS certificate is not trusted ({error.verify_message}).",
                hint="use the host name the certificate names, or set ca_file to the CA that signed it.",
                retryable=False,
            ) from None
        except ssl.SSLError as error:
            raise AlertDeliveryError(
                f"{where}: TLS failed ({error.reason or type(error).__name__}).",
                hint='match security to the port: "starttls" on 587, "tls" on 465.',
            ) from None
        except (TimeoutError, smtplib.SMTPException, OSError) as error:
            detail = getattr(error, "strerror", None) or type(error).__name__
            raise AlertDeliveryError(
                f"{where} cannot be reached ({detail}).",
                hint="check host, port and security of this [[alerts]] table, and the network.",
            ) from None
