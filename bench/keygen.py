"""Seconds per key pair and certificate: certrotor in-process versus the seed's openssl command.

The seed generates each certificate with ``openssl req -x509 -newkey rsa:4096 -keyout k -out c -nodes``
run as a new process. This benchmark times that command against certrotor.crypto making RSA 4096 and
EC P-256 certificates in-process (key, certificate, both written to disk, as openssl does), and
prints a table and the ratios. It only prints figures; nothing asserts on them. This is the one
place that runs the openssl binary, since it is what is measured against; without it, that column is
skipped.

    .venv/bin/python bench/keygen.py [--rsa N] [--ec N] [--openssl N]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from certrotor import crypto
from certrotor.crypto import KeySpec

OPENSSL_COMMAND = (
    "req",
    "-x509",
    "-newkey",
    "rsa:4096",
    "-keyout",
    "k",
    "-out",
    "c",
    "-nodes",
    "-subj",
    "/CN=bench",
)


@dataclass(frozen=True)
class Measurement:
    label: str
    samples: list[float]

    @property
    def mean(self) -> float:
        return statistics.fmean(self.samples)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


def time_runs(label: str, runs: int, make_one: Callable[[Path], None]) -> Measurement:
    samples = []
    with tempfile.TemporaryDirectory(prefix="certrotor-bench-") as scratch:
        for index in range(runs):
            target = Path(scratch) / str(index)
            target.mkdir()
            started = time.perf_counter()
            make_one(target)
            samples.append(time.perf_counter() - started)
    return Measurement(label, samples)


def certrotor_maker(spec: KeySpec) -> Callable[[Path], None]:
    def make_one(target: Path) -> None:
        key = crypto.generate_private_key(spec)
        certificate = crypto.build_self_signed_certificate(key, common_name="bench", validity_days=30)
        (target / "k").write_bytes(crypto.private_key_to_pem(key))
        (target / "c").write_text(crypto.certificate_to_pem(certificate))

    return make_one


def openssl_maker(openssl: str) -> Callable[[Path], None]:
    def make_one(target: Path) -> None:
        subprocess.run([openssl, *OPENSSL_COMMAND], cwd=target, check=True, capture_output=True)

    return make_one


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--rsa", type=int, default=5, help="RSA 4096 certificates made by certrotor (default 5)"
    )
    parser.add_argument(
        "--ec", type=int, default=50, help="EC P-256 certificates made by certrotor (default 50)"
    )
    parser.add_argument("--openssl", type=int, default=None, help="openssl runs (default: same as --rsa)")
    args = parser.parse_args(argv)
    openssl_runs = args.rsa if args.openssl is None else args.openssl
    if min(args.rsa, args.ec, openssl_runs) < 1:
        parser.error("every count must be at least 1")

    print(f"Making certificates: {args.rsa} RSA 4096 and {args.ec} EC P-256 in-process, ", end="")
    print(f"{openssl_runs} with openssl ...", flush=True)
    results = [
        time_runs("certrotor RSA 4096 (in-process)", args.rsa, certrotor_maker(KeySpec.RSA_4096)),
        time_runs("certrotor EC P-256 (in-process)", args.ec, certrotor_maker(KeySpec.EC_P256)),
    ]
    openssl = shutil.which("openssl")
    openssl_result: Measurement | None = None
    if openssl is None:
        print("openssl is not installed: skipping the seed's command column.")
    else:
        openssl_result = time_runs(
            "openssl req -x509 -newkey rsa:4096 -nodes", openssl_runs, openssl_maker(openssl)
        )
        results.append(openssl_result)

    width = max(len(result.label) for result in results)
    print()
    print(f"{'method':<{width}}  {'runs':>5}  {'mean s/cert':>12}  {'median s/cert':>14}  {'certs/s':>9}")
    for result in results:
        print(
            f"{result.label:<{width}}  {len(result.samples):>5}  {result.mean:>12.4f}  "
            f"{result.median:>14.4f}  {1 / result.mean:>9.1f}"
        )
    if openssl_result is not None:
        rsa_result, ec_result = results[0], results[1]
        print()
        print(f"openssl RSA 4096 / certrotor RSA 4096: {openssl_result.mean / rsa_result.mean:.2f}x")
        print(f"openssl RSA 4096 / certrotor EC P-256: {openssl_result.mean / ec_result.mean:.1f}x")
        print("(RSA key generation time varies widely from key to key; use more runs for steadier figures.)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
