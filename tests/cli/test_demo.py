"""``certrotor demo`` (what ``make run`` runs): emulator and daemon rotate, health is OK, SIGTERM exits 0."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

from ._support import certrotor_command, cli_environment, run_process

DEMO_START_TIMEOUT_SECONDS = 60.0


class TestDemo:
    def test_demo_enrols_both_credentials_reports_ok_and_stops_cleanly(
        self, tmp_path: Path, cli_env: dict[str, str]
    ) -> None:
        """Both demo credentials get a current certificate; `health` beside it says OK; SIGTERM exits 0."""
        demo_dir = tmp_path / "demo"
        env = cli_environment(tmp_path / "data", tmp_path / "no-config.toml")
        process = subprocess.Popen(
            [*certrotor_command(), "demo", "--data-dir", str(demo_dir), "--interval", "0.5"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            beside = dict(env, CERTROTOR_DATA_DIR=str(demo_dir))
            deadline = time.monotonic() + DEMO_START_TIMEOUT_SECONDS
            while True:
                health = run_process(["health", "--json", "--offline"], env=beside, cwd=tmp_path)
                if health.exit_code == 0 and len(json.loads(health.stdout)["credentials"]) == 2:
                    break
                assert process.poll() is None, process.communicate()
                assert time.monotonic() < deadline, health.stdout + health.stderr
                time.sleep(0.5)
            names = {c["name"]: c["status"] for c in json.loads(health.stdout)["credentials"]}
            assert names == {"demo1": "OK", "demo2": "OK"}
        finally:
            process.send_signal(signal.SIGTERM)
            stdout, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stderr
        assert "certrotor demo: emulator at http://127.0.0.1:" in stdout
        # JSON lines, as the README promises; demo2's first certificate is logged as exactly that.
        events = [json.loads(line) for line in stderr.splitlines()]
        assert not [e for e in events if e.get("status") in {"failed", "deferred"}], stderr
        rotations = [(e["credential"], e["status"]) for e in events if e["event"] == "rotation"]
        assert rotations[0] == ("demo2", "uploaded-first"), rotations
        assert "PRIVATE KEY" not in stdout + stderr
