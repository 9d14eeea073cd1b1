"""certrotor as real processes: the console script as a user types it, or forked from a server that
imported the CLI once (for tests that need many processes, such as the crash matrix)."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROCESS_TIMEOUT_SECONDS = 180.0
"""Upper bound for one certrotor process; start-up imports are slow on a busy machine."""


@dataclass(frozen=True)
class ProcessResult:
    """Exit status (negative: killed by that signal) and both output streams of one certrotor run."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    def ok(self) -> ProcessResult:
        assert self.returncode == 0, f"certrotor {' '.join(self.args)} -> {self.returncode}\n{self.stderr}"
        return self


def certrotor_command() -> list[str]:
    """The console script installed next to this interpreter."""
    return [str(Path(sys.executable).with_name("certrotor"))]


def run_certrotor(args: Sequence[str], env: Mapping[str, str], cwd: Path) -> ProcessResult:
    """``certrotor ARGS`` exactly as a user types it: a new interpreter running the console script."""
    completed = subprocess.run(
        [*certrotor_command(), *args],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT_SECONDS,
        check=False,
    )
    return ProcessResult(tuple(args), completed.returncode, completed.stdout, completed.stderr)


class ForkServer:
    """certrotor processes forked from a server that imported the CLI once (see ``forkserver_main.py``).

    Each run is a real process of its own that SIGKILL kills alone; forking skips the second or two of
    imports per run, which matters for the crash matrix's many runs.
    """

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("forkserver_main.py"))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self._buffer = b""
        self._runs = 0

    def close(self) -> None:
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        self._process.stdin.close()
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process.stdout.close()

    def _read(self, timeout: float) -> dict[str, Any] | None:
        assert self._process.stdout is not None
        descriptor = self._process.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([descriptor], [], [], remaining)
            if ready:
                chunk = os.read(descriptor, 65536)
                if not chunk:
                    raise AssertionError("the fork server exited")
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def run(self, args: Sequence[str], env: Mapping[str, str], scratch: Path) -> ProcessResult:
        """``certrotor ARGS`` in a forked child with ``env``; output kept in files under ``scratch``."""
        scratch.mkdir(parents=True, exist_ok=True)
        self._runs += 1
        stdout_path, stderr_path = scratch / f"{self._runs}.out", scratch / f"{self._runs}.err"
        request = {
            "args": list(args),
            "env": dict(env),
            "stdout": str(stdout_path),
            "stderr": str(stderr_path),
        }
        assert self._process.stdin is not None
        self._process.stdin.write((json.dumps(request) + "\n").encode())
        self._process.stdin.flush()
        started = self._read(PROCESS_TIMEOUT_SECONDS)
        assert started is not None
        ended = self._read(PROCESS_TIMEOUT_SECONDS)
        if ended is None:
            os.kill(started["pid"], signal.SIGKILL)
            self._read(30)
            raise AssertionError(f"certrotor {' '.join(args)} did not end in {PROCESS_TIMEOUT_SECONDS}s")
        return ProcessResult(
            tuple(args),
            int(ended["status"]),
            stdout_path.read_text(errors="replace"),
            stderr_path.read_text(errors="replace"),
        )
