"""Real receivers on 127.0.0.1 for the alert tests: an HTTP webhook, an SMTP server, a silent socket."""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class ReceivedRequest:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    """An HTTP server that records every POST and answers ``status`` (settable)."""

    url: str
    requests: list[ReceivedRequest] = field(default_factory=list)
    status: int = 200
    received: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, count: int, timeout: float = 30.0) -> list[ReceivedRequest]:
        """Block until ``count`` requests arrived (a safety bound, not a measured time)."""
        with self.received:
            self.received.wait_for(lambda: len(self.requests) >= count, timeout)
            return list(self.requests)


@contextlib.contextmanager
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with receiver.received:
                receiver.requests.append(ReceivedRequest(self.path, dict(self.headers.items()), body))
                receiver.received.notify_all()
            self.send_response(receiver.status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class SilentServer:
    """Accepts connections and never answers until released: a receiver that hangs."""

    port: int
    accepted: threading.Event
    connections: list[socket.socket]

    def answered(self) -> bool:
        """Whether any accepted connection was closed by the client (its send gave up)."""
        for connection in self.connections:
            connection.setblocking(False)
            try:
                if connection.recv(65536, socket.MSG_PEEK) == b"":
                    return True
            except BlockingIOError:
                continue
        return False


@contextlib.contextmanager
def silent_server() -> Iterator[SilentServer]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    server = SilentServer(listener.getsockname()[1], threading.Event(), [])

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                connection, _ = listener.accept()
                server.connections.append(connection)
                server.accepted.set()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        # shutdown, not just close: close() alone leaves a thread blocked in accept() holding the
        # socket open, and new connections would queue unanswered.
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        thread.join()
        for connection in server.connections:
            connection.close()


@dataclass(frozen=True)
class TlsFiles:
    certificate: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.certificate, self.key)
        return context


def self_signed_tls(directory: Path) -> TlsFiles:
    """A self-signed certificate for ``localhost`` and 127.0.0.1, made with ``cryptography``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    files = TlsFiles(directory / "smtp-cert.pem", directory / "smtp-key.pem")
    files.certificate.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return files


@dataclass
class MailSink:
    """What the SMTP server accepted, and the logins it saw."""

    messages: list[Envelope] = field(default_factory=list)
    logins: list[tuple[str, bool]] = field(default_factory=list)
    received: threading.Condition = field(default_factory=threading.Condition)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.received:
            self.messages.append(envelope)
            self.received.notify_all()
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Envelope]:
        with self.received:
            self.received.wait_for(lambda: len(self.messages) >= count, timeout)
            return list(self.messages)


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    sink: MailSink


def _free_port() -> int:
    return closed_port()


@contextlib.contextmanager
def smtp_server(
    tls: TlsFiles, *, implicit_tls: bool = False, username: str = "alerts", password: str = "s3cret-pw"
) -> Iterator[SmtpServer]:
    """aiosmtpd on 127.0.0.1: STARTTLS required (or implicit TLS), and LOGIN/PLAIN required."""
    sink = MailSink()

    def authenticate(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == username
            and auth_data.password.decode() == password
        )
        sink.logins.append((auth_data.login.decode() if isinstance(auth_data, LoginPassword) else "?", ok))
        return AuthResult(success=ok, handled=False)

    port = _free_port()
    options: dict[str, Any] = {"authenticator": authenticate, "auth_required": True}
    if implicit_tls:
        controller = Controller(
            sink,
            hostname="127.0.0.1",
            port=port,
            ssl_context=tls.server_context(),
            server_hostname="localhost",
            # aiosmtpd cannot tell an implicit TLS transport from plain text: TLS it is, from byte one.
            auth_require_tls=False,
            **options,
        )
    else:
        controller = Controller(
            sink,
            hostname="127.0.0.1",
            port=port,
            tls_context=tls.server_context(),
            require_starttls=True,
            **options,
        )
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", port, sink)
    finally:
        controller.stop()
