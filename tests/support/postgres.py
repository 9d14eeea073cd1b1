"""A throw-away real PostgreSQL server for tests, listening on 127.0.0.1 only.

Uses Debian's binaries (``/usr/lib/postgresql/<version>/bin``) or ones on ``PATH``. ``initdb`` and
``pg_ctl`` refuse to run as root, so as root they run as the ``postgres`` user through ``runuser``.
Authentication is ``trust`` on loopback: the server lives in a private temporary directory and
dies with the test session.

Usage::

    with running_postgres() as server:
        url = server.create_database("certrotor_test")   # postgresql+psycopg://...
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

SUPERUSER = "postgres"
_START_ATTEMPTS = 3
_START_TIMEOUT_SECONDS = 60
_DATABASE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class PostgresUnavailableError(RuntimeError):
    """No PostgreSQL binaries on this machine (the Makefile's ``system-deps`` installs them)."""


def find_bin_dir() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl``, newest Debian version first, else PATH."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda path: _version_key(path.parent.name),
        reverse=True,
    )
    for directory in candidates:
        if (directory / "initdb").is_file() and (directory / "pg_ctl").is_file():
            return directory
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(initdb).parent
    return None


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", name)) or (0,)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class PostgresServer:
    """A running server; ``stop()`` shuts it down and deletes its files."""

    bin_dir: Path
    root: Path
    port: int
    run_as: str | None
    _stopped: bool = field(default=False, repr=False)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"

    def url(self, database: str = "postgres") -> str:
        """A SQLAlchemy URL for ``database`` using psycopg 3."""
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres") -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(
            host="127.0.0.1", port=self.port, user=SUPERUSER, dbname=database, autocommit=True
        )

    def create_database(self, name: str) -> str:
        """Create an empty database and return its SQLAlchemy URL."""
        if not _DATABASE_NAME.match(name):
            raise ValueError(f"unsafe database name {name!r}")
        with self.connect() as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def drop_database(self, name: str) -> None:
        with self.connect() as connection:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            _run(
                [str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "-w", "stop"],
                run_as=self.run_as,
                timeout=_START_TIMEOUT_SECONDS,
                check=False,
            )
        shutil.rmtree(self.root, ignore_errors=True)


def _run(
    command: list[str], *, run_as: str | None, timeout: float, check: bool = True
) -> subprocess.CompletedProcess[str]:
    if run_as is not None:
        command = ["runuser", "-u", run_as, "--", *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=check)


def start_postgres(*, max_connections: int = 300) -> PostgresServer:
    """Initialise a cluster in a new temporary directory and start it on a free loopback port."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise PostgresUnavailableError(
            "no PostgreSQL binaries (initdb, pg_ctl) found in /usr/lib/postgresql/*/bin or on PATH; "
            "install them with `make system-deps` (apt-get install postgresql)"
        )
    run_as = SUPERUSER if os.geteuid() == 0 else None
    # Not under pytest's tmp_path: that tree is 0700 root, which the postgres user cannot enter.
    root = Path(tempfile.mkdtemp(prefix="certrotor-pg-"))
    if run_as is not None:
        account = pwd.getpwnam(run_as)
        os.chown(root, account.pw_uid, account.pw_gid)
    try:
        _run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(root / "data"),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
            ],
            run_as=run_as,
            timeout=_START_TIMEOUT_SECONDS,
        )
        last_error = ""
        for _attempt in range(_START_ATTEMPTS):
            server = PostgresServer(bin_dir=bin_dir, root=root, port=_free_port(), run_as=run_as)
            options = (
                f"-c listen_addresses=127.0.0.1 -p {server.port} -c unix_socket_directories={root} "
                f"-c max_connections={max_connections} -c fsync=off -c synchronous_commit=off "
                "-c full_page_writes=off"
            )
            result = _run(
                [
                    str(bin_dir / "pg_ctl"),
                    "-D",
                    str(server.data_dir),
                    "-l",
                    str(server.log_file),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    str(_START_TIMEOUT_SECONDS),
                    "start",
                ],
                run_as=run_as,
                timeout=_START_TIMEOUT_SECONDS + 10,
                check=False,
            )
            if result.returncode == 0:
                return server
            # Most likely another process took the free port between probe and bind: try another.
            last_error = _tail(server.log_file) or result.stderr
        raise RuntimeError(f"PostgreSQL did not start: {last_error}")
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@contextlib.contextmanager
def running_postgres(*, max_connections: int = 300) -> Iterator[PostgresServer]:
    """A server for the duration of the ``with`` block, stopped and deleted afterwards."""
    server = start_postgres(max_connections=max_connections)
    try:
        yield server
    finally:
        server.stop()
