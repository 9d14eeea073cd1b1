"""The deployment files: the systemd unit verifies and is hardened, the image runs the daemon as non-root."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "deploy" / "certrotor.service"
DOCKERFILE = ROOT / "Dockerfile"
INSTALLED_PROGRAM = "/opt/certrotor/bin/certrotor"


def _unit_settings() -> dict[str, list[str]]:
    """Every ``Key=value`` of the unit (a key may repeat, as systemd allows)."""
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    return settings


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined."""
    joined = DOCKERFILE.read_text().replace("\\\n", " ")
    return [
        (line.split(None, 1)[0], line.split(None, 1)[1].strip())
        for line in joined.splitlines()
        if line.strip() and not line.startswith("#")
    ]


class TestSystemdUnit:
    def test_systemd_analyze_verifies_it(self, tmp_path: Path) -> None:
        """`systemd-analyze verify` finds nothing wrong (with ExecStart pointed at this checkout)."""
        analyze = shutil.which("systemd-analyze")
        if analyze is None:
            pytest.skip("systemd-analyze is not installed")
        program = Path(sys.executable).with_name("certrotor")
        unit = tmp_path / "certrotor.service"
        unit.write_text(UNIT.read_text().replace(INSTALLED_PROGRAM, str(program)))

        result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, check=False)

        assert (result.returncode, result.stderr) == (0, "")

    def test_runs_the_daemon_unprivileged_and_hardened(self) -> None:
        """A user of its own, StateDirectory, ProtectSystem=strict, NoNewPrivileges, restart on failure."""
        settings = _unit_settings()

        assert shlex.split(settings["ExecStart"][0])[:2] == [INSTALLED_PROGRAM, "daemon"]
        assert settings["User"] == ["certrotor"]
        assert settings["DynamicUser"] == ["yes"]
        assert settings["StateDirectory"] == ["certrotor"]
        assert settings["ProtectSystem"] == ["strict"]
        assert settings["NoNewPrivileges"] == ["yes"]
        assert settings["Restart"] == ["on-failure"]
        assert settings["CapabilityBoundingSet"] == [""]
        assert "CERTROTOR_DATA_DIR=/var/lib/certrotor" in settings["Environment"]


class TestDockerfile:
    def test_slim_python_non_root_and_the_daemon_as_entry_point(self) -> None:
        """Both stages on python:3.11-slim; the final USER is not root; `certrotor daemon` runs."""
        instructions = _dockerfile_instructions()
        images = [args.split()[0] for name, args in instructions if name == "FROM"]
        users = [args for name, args in instructions if name == "USER"]
        entry = [args for name, args in instructions if name in {"ENTRYPOINT", "CMD"}]

        assert images == ["python:3.11-slim", "python:3.11-slim"]
        assert users[-1].split(":")[0] not in {"root", "0"}
        assert entry[-2:] == ['["certrotor"]', '["daemon"]']

    def test_the_health_check_is_a_command_certrotor_accepts(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """HEALTHCHECK calls `certrotor health --max-age ...`; run as written on an empty store: exit 0."""
        (check,) = [args for name, args in _dockerfile_instructions() if name == "HEALTHCHECK"]
        argv = shlex.split(check.split("CMD", 1)[1].strip().strip("[]").replace(",", " "))
        assert argv[:4] == ["certrotor", "health", "--max-age", "15m"]

        env = {"PATH": str(Path(sys.executable).parent), "HOME": str(tmp_path)}
        env |= {"CERTROTOR_DATA_DIR": str(tmp_path / "data"), "CERTROTOR_CONFIG": str(tmp_path / "none")}
        result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)

        assert result.returncode == 0, result.stdout + result.stderr
