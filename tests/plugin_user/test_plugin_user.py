"""An outside project uses only the `netsuite_emulator` fixture, loaded through pytest's plugin mechanism."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).parent / "project"


def run_project(*options: str, autoload: bool) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "PYTEST_DISABLE_PLUGIN_AUTOLOAD"}
    if not autoload:
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", *options],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


class TestPluginUser:
    def test_with_dash_p(self) -> None:
        """`pytest -p certrotor.emulator.pytest_plugin` (autoload off) gives the project its fixture."""
        done = run_project("-p", "certrotor.emulator.pytest_plugin", autoload=False)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "3 passed" in done.stdout

    def test_with_the_installed_entry_point(self) -> None:
        """Installed certrotor registers the plugin (pytest11): a plain `pytest` finds the fixture."""
        done = run_project(autoload=True)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "3 passed" in done.stdout

    def test_without_the_plugin_the_fixture_is_missing(self) -> None:
        """The fixture comes from the plugin alone: with autoload off and no -p the project errors."""
        done = run_project(autoload=False)
        assert done.returncode != 0
        assert "fixture 'netsuite_emulator' not found" in done.stdout
