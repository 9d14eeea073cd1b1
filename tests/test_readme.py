"""The README's examples run as written against the emulator (blocks marked ``<!-- readme-test: NAME -->``).

Placeholders a reader replaces are replaced here with the emulator's values; ``certrotor daemon``
runs one pass (``--once``) instead of forever.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from certrotor import BearerTokenAuth, NetSuiteClient
from certrotor.crypto import KeySpec, build_self_signed_certificate, certificate_to_pem, generate_private_key
from certrotor.emulator.testing import RunningEmulator

README = Path(__file__).resolve().parents[1] / "README.md"
_BLOCK = re.compile(r"<!-- readme-test: (?P<name>[\w-]+) -->\n```(?P<lang>\w+)\n(?P<body>.*?)```", re.DOTALL)
TIMEOUT_SECONDS = 300


def readme_blocks() -> dict[str, tuple[str, str]]:
    """Every marked block of the README: name -> (language, text)."""
    return {m["name"]: (m["lang"], m["body"]) for m in _BLOCK.finditer(README.read_text())}


def _extra_certificate(emulator: RunningEmulator) -> str:
    """A second certificate on the integration, for the block's `revoke app1 <CERT_ID>`."""
    tenant = emulator.tenant
    key = generate_private_key(KeySpec.parse("ec-p256"))
    pem = certificate_to_pem(build_self_signed_certificate(key, common_name="spare", validity_days=30))
    entity, role = emulator.add_m2m_combination()
    with NetSuiteClient(
        emulator.endpoints, client_id=tenant.client_id, auth=BearerTokenAuth(tenant.admin_token)
    ) as admin:
        return admin.upload_certificate(pem, entity=entity, role=role).certificate_id


@pytest.fixture
def shell_env(tmp_path: Path) -> dict[str, str]:
    """A user's shell: certrotor on PATH, a fresh data directory, no config file."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CERTROTOR_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env |= {
        "CERTROTOR_DATA_DIR": str(tmp_path / "data"),
        "CERTROTOR_CONFIG": str(tmp_path / "no-config.toml"),
        "COLUMNS": "200",
    }
    return env


def _run_shell(text: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", text],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )


class TestReadmeExamples:
    def test_the_marked_blocks_are_found(self) -> None:
        """The README still carries the examples this module runs."""
        assert set(readme_blocks()) == {"manual-steps", "python-api"}

    def test_the_manual_steps_then_an_application_using_the_delivered_credential(
        self, emulator: RunningEmulator, shell_env: dict[str, str], tmp_path: Path
    ) -> None:
        """keygen, add, upload, list, token, revoke, daemon as written; then the Python API example
        calls NetSuite with what the next rotation delivered."""
        tenant = emulator.tenant
        assert (tenant.entity_id, tenant.role_id) == (7, 3)  # the README's --entity 7 --role 3
        spare = _extra_certificate(emulator)
        _, shell = readme_blocks()["manual-steps"]
        script = (
            shell.replace(
                "--account 1234567_SB1", f"--account {tenant.account_id} --base-url {emulator.base_url}"
            )
            .replace("<CLIENT_ID>", tenant.client_id)
            .replace("<BOOTSTRAP_TOKEN>", tenant.admin_token)
            .replace("<CERT_ID>", spare)
        )
        script = re.sub(r"certrotor daemon(?= )", "certrotor daemon --once --no-reconcile", script)

        ran = _run_shell(script, shell_env, tmp_path)

        assert ran.returncode == 0, ran.stdout + ran.stderr
        lines = ran.stdout.splitlines()
        assert lines[0].startswith("Wrote private key auth-key.pem (mode 0600) and certificate")
        assert f"Successfully revoked {spare}." in lines
        assert any(line.count(".") == 2 and line.startswith("eyJ") for line in lines)  # the token
        listed = {c["certificate_id"]: c["revoked"] for c in emulator.certificates()}
        assert listed[spare] is True

        rotated = _run_shell("certrotor rotate app1", shell_env, tmp_path)
        assert rotated.returncode == 0, rotated.stdout + rotated.stderr
        _, program = readme_blocks()["python-api"]
        delivered = tmp_path / "data" / "deliver" / "app1"
        application = program.replace("/var/lib/certrotor/deliver/app1", str(delivered))
        answer = subprocess.run(
            [sys.executable, "-c", application],
            env=shell_env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
            check=False,
        )
        assert (answer.returncode, answer.stdout, answer.stderr) == (0, "Acme Corporation\n", "")
