"""CLI start-up benchmark: wall and CPU time of whole ``certrotor`` processes, beside ``python -c pass``.

Prints figures only (nothing asserts on them). Each command runs ``--repeat`` times as a fresh
process (the console script, as a user types it); the median and the best run are shown. The store
holds 10 credentials with a current certificate each (made here, no server needed: ``health
--offline`` looks at local facts only). Targets of issue 8: ``--version`` within 0.15 s and
``health --offline`` within 0.4 s.

    .venv/bin/python bench/cli_startup.py [--repeat 10]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from certrotor import crypto
from certrotor.config import Settings
from certrotor.crypto import KeySpec
from certrotor.keyvault import MasterKey
from certrotor.store import CredentialSpec, Store, VersionState

CREDENTIALS = 10


def _make_store(data_dir: Path, master_key: str) -> None:
    """10 credentials of an (unreachable) account, each with a current certificate valid 90 days."""
    settings = Settings(data_dir=data_dir, master_key=master_key)  # type: ignore[arg-type]
    with Store.from_settings(settings) as store:
        for index in range(CREDENTIALS):
            name = f"app{index}"
            store.add_credential(
                CredentialSpec(
                    name=name,
                    account_id="1234567",
                    client_id=f"client-{index}",
                    entity_id=7,
                    role_id=3,
                    base_url="http://127.0.0.1:9",
                    key_spec=KeySpec.EC_P256,
                )
            )
            key = crypto.generate_private_key(KeySpec.EC_P256)
            certificate = crypto.build_self_signed_certificate(
                key, common_name=f"certrotor {name}", validity_days=0, validity=dt.timedelta(days=90)
            )
            version = store.add_version(name, key, certificate, VersionState.PENDING)
            version = store.set_remote_certificate_id(version, f"cert-{index}", state=VersionState.UPLOADED)
            store.activate(name, version)


def _run(command: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (user + system of the child) and exit code of one process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    completed = subprocess.run(command, env=env, capture_output=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, completed.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    certrotor = str(Path(sys.executable).with_name("certrotor"))
    with tempfile.TemporaryDirectory(prefix="certrotor-bench-cli-") as tmp:
        root = Path(tmp)
        master_key = MasterKey.generate().to_base64url()
        _make_store(root / "data", master_key)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CERTROTOR_")}
        env.update(
            CERTROTOR_DATA_DIR=str(root / "data"),
            CERTROTOR_CONFIG=str(root / "no-config.toml"),
            CERTROTOR_MASTER_KEY=master_key,
        )
        cases = [
            ("python -c pass", [sys.executable, "-c", "pass"]),
            ("certrotor --version", [certrotor, "--version"]),
            ("certrotor --help", [certrotor, "--help"]),
            ("certrotor credential list", [certrotor, "credential", "list"]),
            ("certrotor health --offline", [certrotor, "health", "--offline"]),
        ]
        print(f"CLI start-up, {args.repeat} fresh processes each, store of {CREDENTIALS} credentials")
        print(f"  {'command':<28} {'wall p50':>9} {'wall min':>9} {'CPU p50':>9}  exit")
        for label, command in cases:
            _run(command, env)  # warm the file cache (and .pyc files) once
            runs = [_run(command, env) for _ in range(args.repeat)]
            walls = [wall for wall, _, _ in runs]
            cpus = [cpu for _, cpu, _ in runs]
            codes = sorted({code for _, _, code in runs})
            print(
                f"  {label:<28} {statistics.median(walls):8.3f}s {min(walls):8.3f}s "
                f"{statistics.median(cpus):8.3f}s  {','.join(map(str, codes))}"
            )


if __name__ == "__main__":
    main()
