"""Token broker benchmark: cached ``POST /v1/token`` answers per second and their latency.

Prints figures only (nothing asserts on them). A real ``certrotor broker serve`` process (one
credential, one application key, no rate limit) answers; the first call fetches the token from an
emulator served by this process, every later one comes from the cache. The load generator runs in
this process (a second process beside the broker): ``--connections`` keep-alive HTTP/1.1
connections send requests back to back for ``--seconds``. Reported: answers per second, p50/p90/p99
latency as the client sees it, and the CPU seconds the broker process used per 1,000 answers.
Target of issue 8: at least 5,000 answers a second on one core with p99 under 5 ms.

    .venv/bin/python bench/broker.py [--seconds 10] [--connections 8] [--warmup 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from certrotor.broker.keys import create_key
from certrotor.config import Settings
from certrotor.crypto import KeySpec
from certrotor.emulator.testing import serve_emulator
from certrotor.keyvault import MasterKey
from certrotor.services import operations
from certrotor.services.runtime import Runtime
from certrotor.store import CredentialSpec

_LISTENING = re.compile(r"Token broker on http://127\.0\.0\.1:(\d+)")


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


async def _connection(port: int, request: bytes, until: float, latencies: list[float]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < until:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
            body = await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"the broker answered {head.splitlines()[0]!r}: {body[:200]!r}")
    finally:
        writer.close()


async def _load(port: int, request: bytes, seconds: float, connections: int) -> list[float]:
    latencies: list[float] = []
    until = time.perf_counter() + seconds
    await asyncio.gather(*(_connection(port, request, until, latencies) for _ in range(connections)))
    return latencies


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--warmup", type=float, default=2.0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="certrotor-bench-broker-") as tmp:
        root = Path(tmp)
        master_key = MasterKey.generate().to_base64url()
        settings = Settings(data_dir=root / "data", master_key=master_key)  # type: ignore[arg-type]
        with serve_emulator(root / "emulator.db") as emulator:
            tenant = emulator.tenant
            runtime = Runtime(settings, token_override=tenant.admin_token)
            try:
                spec = CredentialSpec(
                    name="app1",
                    account_id=tenant.account_id,
                    client_id=tenant.client_id,
                    entity_id=tenant.entity_id,
                    role_id=tenant.role_id,
                    base_url=emulator.base_url,
                    key_spec=KeySpec.EC_P256,
                )
                operations.add_credential(runtime, spec)
                operations.upload(runtime, "app1")
                key = create_key(runtime.store, "bench", ["app1"]).key
            finally:
                runtime.close()

            env = {k: v for k, v in os.environ.items() if not k.startswith("CERTROTOR_")}
            env.update(
                CERTROTOR_DATA_DIR=str(root / "data"),
                CERTROTOR_CONFIG=str(root / "no-config.toml"),
                CERTROTOR_MASTER_KEY=master_key,
                CERTROTOR_LOG_LEVEL="WARNING",
            )
            command = [str(Path(sys.executable).with_name("certrotor")), "broker", "serve"]
            broker = subprocess.Popen(
                [*command, "--port", "0", "--rate-limit", "0"],
                env=env,
                stdout=subprocess.PIPE,
                text=True,
            )
            try:
                assert broker.stdout is not None
                found = _LISTENING.search(broker.stdout.readline())
                if found is None:
                    raise RuntimeError("the broker did not start")
                port = int(found.group(1))
                body = json.dumps({"credential": "app1"}).encode()
                request = (
                    b"POST /v1/token HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    + f"Authorization: Bearer {key}\r\n".encode()
                    + b"Content-Type: application/json\r\n"
                    + f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                first = time.perf_counter()
                asyncio.run(_load(port, request, 0.0, 1))  # fills the cache (one NetSuite token request)
                first_seconds = time.perf_counter() - first
                asyncio.run(_load(port, request, args.warmup, args.connections))
                cpu_before = _cpu_seconds(broker.pid)
                started = time.perf_counter()
                latencies = asyncio.run(_load(port, request, args.seconds, args.connections))
                wall = time.perf_counter() - started
                cpu = _cpu_seconds(broker.pid) - cpu_before
            finally:
                broker.send_signal(signal.SIGINT)
                broker.wait(timeout=60)
            grants = emulator.counters().get("token_grants", {}).get("client_credentials", 0)

    answers = len(latencies)
    print(f"token broker, cached POST /v1/token, {args.connections} keep-alive connections, {wall:.1f} s")
    print(f"  first answer (token fetched from the emulator): {first_seconds * 1000:8.1f} ms")
    print(f"  answers:                 {answers:8d}   ({answers / wall:,.0f} per second)")
    print(f"  latency p50:             {_percentile(latencies, 0.50) * 1000:8.2f} ms")
    print(f"  latency p90:             {_percentile(latencies, 0.90) * 1000:8.2f} ms")
    print(f"  latency p99:             {_percentile(latencies, 0.99) * 1000:8.2f} ms")
    print(f"  latency mean:            {statistics.fmean(latencies) * 1000:8.2f} ms")
    print(f"  broker CPU:              {cpu:8.2f} s   ({cpu / max(answers, 1) * 1e6:,.0f} us per answer)")
    per_cpu_second = answers / max(cpu, 1e-9)
    print(f"  broker core usage:       {cpu / wall:8.2f}   (answers per CPU second: {per_cpu_second:,.0f})")
    print(f"  NetSuite token requests: {grants:8d}")


if __name__ == "__main__":
    main()
