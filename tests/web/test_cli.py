"""``certrotor web user ...``, ``web serve``, ``daemon --web-port`` and the demo's console, as processes."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest

from certrotor.keyvault import MasterKey
from certrotor.store.web_users import WebStore

START_TIMEOUT_SECONDS = 60.0


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A certrotor environment of this test only: data directory and master key in tmp_path."""
    clean = {key: value for key, value in os.environ.items() if not key.startswith("CERTROTOR_")}
    clean.update(
        CERTROTOR_DATA_DIR=str(tmp_path / "data"),
        CERTROTOR_CONFIG=str(tmp_path / "no-config.toml"),
        CERTROTOR_MASTER_KEY=MasterKey.generate().to_base64url(),
        COLUMNS="200",
        PYTHONUNBUFFERED="1",
    )
    return clean


def certrotor(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "certrotor", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _web_store(env: dict[str, str]) -> WebStore:
    url = f"sqlite:///{env['CERTROTOR_DATA_DIR']}/certrotor.db"
    return WebStore.open(url, MasterKey.from_base64url(env["CERTROTOR_MASTER_KEY"]))


def _wait_for_line(process: subprocess.Popen[str], pattern: str) -> re.Match[str]:
    assert process.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    seen = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        found = re.search(pattern, line)
        if found:
            return found
    process.kill()
    raise AssertionError(
        f"no line matching {pattern!r}: {''.join(seen)} {process.stderr.read() if process.stderr else ''}"
    )


def _stop(process: subprocess.Popen[str]) -> tuple[str, str]:
    process.send_signal(signal.SIGTERM)
    try:
        stdout, stderr = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
    return stdout, stderr


class TestWebUser:
    def test_add_with_password_stdin_stores_only_a_hash(self, env: dict[str, str]) -> None:
        """``web user add --password-stdin`` creates the user; the database holds an Argon2id hash only."""
        password = "a long enough passphrase"
        result = certrotor(
            env,
            "web",
            "user",
            "add",
            "alice",
            "--role",
            "operator",
            "--password-stdin",
            stdin=password + "\n",
        )
        assert result.returncode == 0, result.stderr
        assert "Console user alice added (operator)." in result.stdout
        with _web_store(env) as store:
            assert store.authenticate("alice", password) is not None
            assert store.authenticate("alice", "another password!") is None
        database = (Path(env["CERTROTOR_DATA_DIR"]) / "certrotor.db").read_bytes()
        assert password.encode() not in database
        assert b"$argon2id$" in database
        listed = certrotor(env, "web", "user", "list")
        assert "alice  operator" in listed.stdout

    @pytest.mark.parametrize(
        ("args", "stdin", "message"),
        [
            (["--role", "admin", "--password-stdin"], "a long enough passphrase\n", "Unknown role 'admin'."),
            (
                ["--role", "viewer", "--password-stdin"],
                "short\n",
                "The password is shorter than 12 characters.",
            ),
            (["--role", "viewer", "--password-stdin"], "", "No password on standard input."),
        ],
    )
    def test_bad_input_is_one_line_and_changes_nothing(
        self, env: dict[str, str], args: list[str], stdin: str, message: str
    ) -> None:
        """A bad role or password: one line with the fix, exit 1, no user created."""
        result = certrotor(env, "web", "user", "add", "bob", *args, stdin=stdin)
        assert result.returncode == 1
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1
        assert message in lines[0]
        assert "Fix:" in lines[0]
        with _web_store(env) as store:
            assert store.find_user("bob") is None

    def test_a_taken_name_is_refused(self, env: dict[str, str]) -> None:
        """Adding the same user twice fails the second time with the fix."""
        for expected in (0, 1):
            result = certrotor(
                env,
                "web",
                "user",
                "add",
                "carol",
                "--role",
                "viewer",
                "--password-stdin",
                stdin="passphrase 1234\n",
            )
            assert result.returncode == expected
        assert "already exists" in result.stderr


class TestServe:
    def test_non_loopback_without_tls_is_refused(self, env: dict[str, str]) -> None:
        """``web serve --host 0.0.0.0`` without TLS settings refuses to start, saying what to do."""
        result = certrotor(env, "web", "serve", "--host", "0.0.0.0", "--port", "0")
        assert result.returncode == 1
        assert "without TLS" in result.stderr
        assert "--tls-cert" in result.stderr

    def test_half_tls_settings_are_refused(self, env: dict[str, str], tmp_path: Path) -> None:
        """A certificate without its key is refused."""
        cert = tmp_path / "cert.pem"
        cert.write_text("x")
        result = certrotor(env, "web", "serve", "--tls-cert", str(cert))
        assert result.returncode == 1
        assert "Give both --tls-cert and --tls-key" in result.stderr

    def test_a_bad_observe_interval_is_refused(self, env: dict[str, str]) -> None:
        """``web serve --observe-interval soon`` refuses to start with one line saying what a duration is."""
        result = certrotor(env, "web", "serve", "--port", "0", "--observe-interval", "soon")
        assert result.returncode == 1
        assert "Invalid duration 'soon'" in result.stderr
        assert "Traceback" not in result.stderr

    def test_serve_answers_on_loopback(self, env: dict[str, str]) -> None:
        """``web serve --port 0`` prints its URL; the console asks for a login; SIGTERM stops it."""
        process = subprocess.Popen(
            [sys.executable, "-m", "certrotor", "web", "serve", "--port", "0"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            url = _wait_for_line(process, r"certrotor console on (http://127\.0\.0\.1:\d+)").group(1)
            with httpx2.Client(timeout=10) as client:
                answer = client.get(url + "/")
            assert (answer.status_code, answer.headers["location"]) == (303, "/login?next=/")
            key_file = Path(env["CERTROTOR_DATA_DIR"]) / "web-session.key"
            assert key_file.stat().st_mode & 0o777 == 0o600
        finally:
            _, stderr = _stop(process)
        # uvicorn shuts down gracefully, then re-raises SIGTERM as servers conventionally do.
        assert process.returncode in (0, -signal.SIGTERM)
        assert "Traceback" not in stderr


class TestDaemon:
    def test_daemon_serves_the_console_with_web_port(self, env: dict[str, str]) -> None:
        """``daemon --web-port 0`` serves the console beside the rotation loop; SIGTERM stops both."""
        process = subprocess.Popen(
            [sys.executable, "-m", "certrotor", "daemon", "--web-port", "0", "--interval", "0.5"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            url = _wait_for_line(process, r"certrotor console on (http://127\.0\.0\.1:\d+)").group(1)
            with httpx2.Client(timeout=10) as client:
                answer = client.get(url + "/events")
            assert (answer.status_code, answer.headers["location"]) == (303, "/login?next=/events")
        finally:
            _, stderr = _stop(process)
        assert process.returncode == 0, stderr


class TestDemo:
    def test_demo_serves_the_console_with_a_one_time_login(self, env: dict[str, str], tmp_path: Path) -> None:
        """``certrotor demo`` prints the console's URL and a demo login that works there."""
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "certrotor",
                "demo",
                "--data-dir",
                str(tmp_path / "demo"),
                "--web-port",
                "0",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            found = _wait_for_line(
                process,
                r"Web console: (http://127\.0\.0\.1:\d+) "
                r"\(log in as (\w+) with the one-time password (\S+)\)",
            )
            url, user, password = found.groups()
            with httpx2.Client(base_url=url, timeout=30) as client:
                page = client.get("/login")
                token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
                assert token is not None
                answer = client.post(
                    "/login", data={"username": user, "password": password, "csrf_token": token.group(1)}
                )
                assert answer.status_code == 303
                fleet = client.get("/")
                assert fleet.status_code == 200
                assert 'data-credential="demo1"' in fleet.text
        finally:
            _stop(process)
        assert process.returncode == 0
