"""``certrotor login NAME --no-browser``: the test plays the user who opens the URL and approves."""

from __future__ import annotations

import queue
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
import pytest

from certrotor.emulator.testing import RunningEmulator

from ._support import PROCESS_TIMEOUT_SECONDS, CliResult, SecretWatch, certrotor_command
from .conftest import Cli


class LoginProcess:
    """A running ``certrotor login`` whose printed lines the test reads as a user reads a terminal."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.stdout: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def wait_for_line(self, prefix: str) -> str:
        """The first printed line starting with ``prefix`` (bounded wait)."""
        deadline = time.monotonic() + PROCESS_TIMEOUT_SECONDS
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                break
            if line is None:
                break
            self.stdout.append(line)
            if line.startswith(prefix):
                return line.strip()
        raise AssertionError(f"certrotor login never printed a line starting with {prefix!r}: {self.stdout}")

    def finish(self) -> CliResult:
        exit_code = self.process.wait(timeout=PROCESS_TIMEOUT_SECONDS)
        self._reader.join(timeout=PROCESS_TIMEOUT_SECONDS)
        while (line := self._lines.get_nowait() if not self._lines.empty() else None) is not None:
            self.stdout.append(line)
        assert self.process.stderr is not None
        stderr = self.process.stderr.read()
        return CliResult(tuple(self.process.args[1:]), exit_code, "".join(self.stdout), stderr)  # type: ignore[index]


@contextmanager
def start_login(name: str, env: dict[str, str], cwd: Path) -> Iterator[LoginProcess]:
    """``certrotor login NAME --no-browser --port 0`` as a real process; killed if the test fails early."""
    with subprocess.Popen(
        [*certrotor_command(), "login", name, "--no-browser", "--port", "0", "--timeout", "60"],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            yield LoginProcess(process)
        finally:
            if process.poll() is None:
                process.kill()


@pytest.fixture
def registered(cli: Cli, emulator: RunningEmulator, secret_watch: SecretWatch) -> str:
    """A credential with no certificate uploaded and no management token: only login can help."""
    tenant = emulator.tenant
    secret_watch.add(tenant.admin_token)
    cli(
        "credential", "add", "app1",
        "--account", tenant.account_id,
        "--client-id", tenant.client_id,
        "--entity", str(tenant.entity_id),
        "--role", str(tenant.role_id),
        "--base-url", emulator.base_url,
    ).assert_ok()  # fmt: skip
    return "app1"


class TestLogin:
    def test_approved_login_stores_a_working_management_token(
        self,
        cli: Cli,
        emulator: RunningEmulator,
        registered: str,
        cli_env: dict[str, str],
        tmp_path: Path,
        secret_watch: SecretWatch,
    ) -> None:
        """Approve on the consent page: the stored token then lets `list` and `upload` work."""
        before = cli("list", registered)
        assert before.exit_code == 1

        with start_login(registered, cli_env, tmp_path) as login:
            url = login.wait_for_line(emulator.base_url)
            redirect = emulator.approve_authorization(url)
            # The browser follows the redirect to certrotor's loopback receiver.
            landing = httpx2.get(redirect, timeout=30)
            result = login.finish()

        secret_watch.check(result)
        assert landing.status_code == 200
        assert "Login complete" in landing.text
        assert result.exit_code == 0, result.stderr
        assert result.stdout.splitlines() == [
            "Open this URL to approve access:",
            url,
            f"Logged in: a management token for {registered} is stored (valid 3600s).",
        ]
        assert cli("list", registered).assert_ok().stdout.count("\n") >= 3
        assert cli("upload", registered).assert_ok().stdout.startswith("Uploaded certificate ")

    def test_denied_login_is_one_line_and_stores_nothing(
        self,
        cli: Cli,
        emulator: RunningEmulator,
        registered: str,
        cli_env: dict[str, str],
        tmp_path: Path,
        secret_watch: SecretWatch,
    ) -> None:
        """Deny on the consent page: exit 1 with NetSuite's refusal and the fix; still no token."""
        with start_login(registered, cli_env, tmp_path) as login:
            url = login.wait_for_line(emulator.base_url)
            redirect = emulator.approve_authorization(url, approve=False)
            httpx2.get(redirect, timeout=30)
            result = login.finish()

        secret_watch.check(result)
        result.assert_one_line_error(
            "error: NetSuite did not authorize the login: access_denied (The user denied access.). "
            "Fix: approve the request on the consent page, with a role that may use this integration."
        )
        cli("list", registered).assert_one_line_error(
            f"error: No way to authenticate certificate management for '{registered}': it has no current "
            "certificate and no management token. Fix: pass --token TOKEN, set CERTROTOR_BOOTSTRAP_TOKEN, "
            f"or run `certrotor login {registered}`."
        )
