"""Run ``certrotor`` as a user types it (in-process or as a real process), and watch for leaked secrets."""

from __future__ import annotations

import contextlib
import io
import json
import os
import pty
import re
import select
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2

from certrotor.cli.main import main
from certrotor.emulator.routes.admin import ADMIN_PREFIX
from certrotor.logging import reset_logging

PROCESS_TIMEOUT_SECONDS = 120.0
"""Upper bound for one real ``certrotor`` process (start-up imports are slow on a busy machine)."""
EMULATOR_START_TIMEOUT_SECONDS = 60.0

_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{2,}\.eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]+")
_ERROR_LINE = re.compile(r"^error: .+ Fix: .+$")


@dataclass(frozen=True)
class CliResult:
    """What one ``certrotor`` run left behind: exit code and both output streams."""

    args: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    def assert_ok(self) -> CliResult:
        assert self.exit_code == 0, f"certrotor {' '.join(self.args)} failed:\n{self.stderr}"
        return self

    def assert_one_line_error(self, message: str | None = None) -> str:
        """Exit code 1, exactly one stderr line ``error: ... Fix: ...``, no traceback; the line."""
        assert self.exit_code == 1, (self.exit_code, self.stdout, self.stderr)
        assert "Traceback" not in self.stderr, self.stderr
        lines = self.stderr.splitlines()
        assert len(lines) == 1, self.stderr
        assert _ERROR_LINE.match(lines[0]), lines[0]
        if message is not None:
            assert lines[0] == message, f"got:      {lines[0]}\nexpected: {message}"
        return lines[0]


@dataclass
class SecretWatch:
    """Secrets that must never show up in diagnostics (stderr, logs); checks every run it sees."""

    secrets: set[str] = field(default_factory=set)
    checked_runs: int = 0

    def add(self, *secrets: str) -> None:
        self.secrets.update(s for s in secrets if s)

    def check_diagnostics(self, where: str, text: str) -> None:
        assert "PRIVATE KEY" not in text, f"a private key PEM leaked into {where}"
        assert not _JWT.search(text), f"a JWT (token or assertion) leaked into {where}"
        for secret in self.secrets:
            assert secret not in text, f"a known secret leaked into {where}"

    def check(self, result: CliResult) -> None:
        """stderr is diagnostics; stdout may carry a token only where one was asked for."""
        self.check_diagnostics(f"stderr of certrotor {' '.join(result.args)}", result.stderr)
        assert "PRIVATE KEY" not in result.stdout, "a private key PEM was printed"
        self.checked_runs += 1


def run_in_process(args: Sequence[str], watch: SecretWatch | None = None) -> CliResult:
    """``certrotor ARGS`` through ``main(argv)`` in this process, with both streams captured."""
    stdout, stderr = io.StringIO(), io.StringIO()
    exit_code = 0
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                main(list(args))
            except SystemExit as exit_:
                exit_code = _exit_status(exit_.code, stderr)
    finally:
        # Commands bind a log handler to the (captured) stderr of their run; drop it with the run.
        reset_logging()
    result = CliResult(tuple(args), exit_code, stdout.getvalue(), stderr.getvalue())
    if watch is not None:
        watch.check(result)
    return result


def _exit_status(code: object, stderr: io.StringIO) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    stderr.write(f"{code}\n")
    return 1


def certrotor_command() -> list[str]:
    """The installed console script next to this interpreter, else ``python -m certrotor``."""
    script = Path(sys.executable).with_name("certrotor")
    return [str(script)] if script.exists() else [sys.executable, "-m", "certrotor"]


def run_process(
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    watch: SecretWatch | None = None,
    command: Sequence[str] | None = None,
) -> CliResult:
    """``certrotor ARGS`` as a real process, as a user types it in a shell."""
    completed = subprocess.run(
        [*(command or certrotor_command()), *args],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT_SECONDS,
        check=False,
    )
    result = CliResult(tuple(args), completed.returncode, completed.stdout, completed.stderr)
    if watch is not None:
        watch.check(result)
    return result


@dataclass(frozen=True)
class EmulatorProcess:
    """``certrotor emulator serve`` running as its own process, and what ``init --json`` printed."""

    base_url: str
    tenant: Mapping[str, Any]
    log_path: Path
    process: subprocess.Popen[bytes]

    @property
    def admin_token(self) -> str:
        return str(self.tenant["admin_token"])

    def record_url(self, path: str) -> str:
        return f"{self.base_url}/services/rest/record/v1/{path}"


_LISTENING = re.compile(r"NetSuite emulator on (http://127\.0\.0\.1:\d+)")


@contextlib.contextmanager
def emulator_process(
    state: Path, *, env: Mapping[str, str], cwd: Path, extra: Sequence[str] = ()
) -> Iterator[EmulatorProcess]:
    """``emulator init --state F --json`` then ``emulator serve ... --port 0``, until it answers."""
    init = run_process(["emulator", "init", "--state", str(state), "--json"], env=env, cwd=cwd)
    init.assert_ok()
    tenant = init.json()
    log_path = state.with_suffix(".log")
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                *certrotor_command(),
                "emulator",
                "serve",
                "--state",
                str(state),
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                *extra,
            ],
            env=dict(env),
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        base_url = _wait_for_emulator(process, log_path)
        yield EmulatorProcess(base_url=base_url, tenant=tenant, log_path=log_path, process=process)
    finally:
        _stop(process)


def _wait_for_emulator(process: subprocess.Popen[bytes], log_path: Path) -> str:
    """The base URL once the emulator printed it and answers its health check."""
    deadline = time.monotonic() + EMULATOR_START_TIMEOUT_SECONDS
    base_url: str | None = None
    with httpx2.Client(timeout=5.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"the emulator exited during start-up:\n{log_path.read_text()}")
            if base_url is None and (found := _LISTENING.search(log_path.read_text(errors="replace"))):
                base_url = found.group(1)
            if base_url is not None:
                try:
                    if client.get(base_url + ADMIN_PREFIX + "/health").status_code == 200:
                        return base_url
                except httpx2.TransportError:
                    pass
            time.sleep(0.05)
    raise RuntimeError(f"the emulator did not answer within {EMULATOR_START_TIMEOUT_SECONDS} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Ctrl-C as a user would, then a hard stop if it does not finish in time."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def store_snapshot(data_dir: Path) -> dict[str, Any]:
    """Every row of every table of the SQLite store, and every other file under ``data_dir``."""
    database = data_dir / "certrotor.db"
    tables: dict[str, list[tuple[Any, ...]]] = {}
    if database.exists():
        with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as connection:
            names = [
                row[0]
                for row in connection.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
                )
            ]
            for name in names:
                rows = connection.execute(f'SELECT * FROM "{name}"').fetchall()
                tables[name] = sorted(rows, key=repr)
    files = {
        str(path.relative_to(data_dir)): path.read_bytes()
        for path in sorted(data_dir.rglob("*"))
        if path.is_file() and not path.name.startswith("certrotor.db")
    }
    return {"tables": tables, "files": files}


def files_in(directory: Path) -> dict[str, bytes]:
    """Name and content of every file under ``directory`` (to prove a command wrote nothing)."""
    return {
        str(path.relative_to(directory)): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def cli_environment(data_dir: Path, config_file: Path) -> dict[str, str]:
    """A clean environment for real ``certrotor`` processes: only this test's data directory."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CERTROTOR_")}
    env.update(
        CERTROTOR_DATA_DIR=str(data_dir),
        CERTROTOR_CONFIG=str(config_file),
        PYTHONUNBUFFERED="1",
        COLUMNS="200",
    )
    return env


ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


@dataclass(frozen=True)
class TerminalRun:
    """A real ``certrotor`` process on a pseudo-terminal: what the terminal received, and stdout when
    it went to a pipe instead."""

    exit_code: int
    terminal: str
    """Everything written to the terminal, control sequences included."""
    stdout: str

    @property
    def screen(self) -> list[str]:
        """The terminal's text lines: control sequences removed, split at every carriage return."""
        text = ANSI.sub("", self.terminal)
        return [line.rstrip() for line in re.split(r"\r\n|\r|\n", text) if line.strip()]


def run_in_terminal(
    args: Sequence[str], env: Mapping[str, str], cwd: Path, *, pipe_stdout: bool = False
) -> TerminalRun:
    """``certrotor ARGS`` on a pseudo-terminal of 100 columns (stdin, stderr, and stdout unless
    ``pipe_stdout``), read until the process closes it."""
    primary, secondary = pty.openpty()
    process = subprocess.Popen(
        [*certrotor_command(), *args],
        env={**env, "COLUMNS": "100", "TERM": "xterm", "NO_COLOR": "1"},
        cwd=cwd,
        stdin=secondary,
        stdout=subprocess.PIPE if pipe_stdout else secondary,
        stderr=secondary,
    )
    os.close(secondary)
    pipe = process.stdout.fileno() if process.stdout is not None else None
    received = {end: b"" for end in (primary, pipe) if end is not None}
    open_ends = set(received)
    deadline = time.monotonic() + PROCESS_TIMEOUT_SECONDS
    while open_ends and time.monotonic() < deadline:
        ready, _, _ = select.select(list(open_ends), [], [], 1.0)
        for end in ready:
            try:
                chunk = os.read(end, 65536)
            except OSError:  # the terminal closed with the process
                chunk = b""
            if chunk:
                received[end] += chunk
            else:
                open_ends.discard(end)
    os.close(primary)
    if process.stdout is not None:
        process.stdout.close()
    code = process.wait(timeout=PROCESS_TIMEOUT_SECONDS)
    piped = received[pipe] if pipe is not None else b""
    return TerminalRun(code, received[primary].decode(), piped.decode())


def enrol_uploaded(cli: Callable[..., CliResult], emulator: Any, names: Sequence[str]) -> None:
    """``names`` on the emulator's integration (the first on the demo entity and role, the others on
    new combinations), each added with the admin token and its certificate (valid 30 days) uploaded."""
    tenant = emulator.tenant
    for index, name in enumerate(names):
        entity, role = (tenant.entity_id, tenant.role_id) if index == 0 else emulator.add_m2m_combination()
        cli(
            "credential", "add", name,
            "--account", tenant.account_id,
            "--client-id", tenant.client_id,
            "--entity", str(entity),
            "--role", str(role),
            "--base-url", emulator.base_url,
            "--token", tenant.admin_token,
            "--validity-days", "30",
        ).assert_ok()  # fmt: skip
        cli("upload", name).assert_ok()
