"""Health sweep benchmark: ``certrotor health`` over a fleet on a slow emulator, live and from observations.

Prints figures only (nothing asserts on them):

* N credentials (default 1,000, one integration each) on an emulator that answers every token and
  certificate request after a set latency (default 0.3 s: the slow-answer fault at rate 1): the wall
  time of a live ``certrotor health`` (a real process), then of ``certrotor health --max-age 30m``
  right after it (fresh observations), and the requests each made per credential (token grants,
  certificate lists, others), counted by a middleware in front of the emulator;
* ``certrotor health --max-age 1h`` over a store of 10,000 credentials (``--among``) whose
  observations are all fresh: the wall time of a monitoring check that asks NetSuite nothing.

Targets from issue 13: live over 1,000 at 0.3 s in at most 30 s; from observations over 10,000 in at
most 1 s. The emulator holds one account, so the live sweep is bound by the requests allowed in
flight per account (``--per-account``, passed as ``CERTROTOR_OBSERVE_PER_ACCOUNT``; certrotor's default
is 5, the limit of NetSuite's smallest tier): 24 stands for an account that allows 25 (Premium with one
SuiteCloud Plus license, say), printed with the figures.

    .venv/bin/python bench/health_sweep.py [--n 1000] [--latency 0.3] [--among 10000] [--per-account 24]
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import fleet  # bench/fleet.py: the same enrolment of credentials with uploaded certificates
import httpx2

from certrotor import crypto
from certrotor.crypto import KeySpec, utcnow
from certrotor.emulator.app import create_app
from certrotor.emulator.server import bind_socket, build_server
from certrotor.emulator.state import EmulatorState
from certrotor.emulator.tenant import ensure_demo_tenant
from certrotor.emulator.testing import RunningEmulator, admin_client
from certrotor.keyvault import MasterKey
from certrotor.protocol.urls import TOKEN_PATH
from certrotor.store import CredentialSpec, Store
from certrotor.store import observations as stored
from certrotor.store.observations import Observation

VALIDITY = dt.timedelta(days=90)


class RequestCounter:
    """ASGI middleware counting requests to NetSuite's endpoints by kind (the admin API is left out)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.counts: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.count_then(self.app, scope, receive, send)

    async def count_then(self, app: Any, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and not scope["path"].startswith("/_emulator"):
            path, method = scope["path"], scope["method"]
            if path == TOKEN_PATH:
                kind = "token grants"
            elif path.endswith("/certificates") and method == "GET":
                kind = "certificate lists"
            else:
                kind = "other"
            with self._lock:
                self.counts[kind] += 1
        await app(scope, receive, send)

    def snapshot(self) -> collections.Counter[str]:
        with self._lock:
            return collections.Counter(self.counts)


@contextmanager
def counted_emulator(state_path: Path) -> Iterator[tuple[RunningEmulator, RequestCounter]]:
    """The emulator on a free loopback port, every request counted (``serve_emulator`` plus a counter)."""
    state = EmulatorState.open(state_path)
    try:
        tenant = ensure_demo_tenant(state)
        app = create_app(state)
        counter = RequestCounter(None)

        def counting(inner: Any) -> RequestCounter:
            counter.app = inner
            return counter

        app.add_middleware(counting)  # type: ignore[arg-type]
        # Token requests bypass the FastAPI stack (the emulator's own fast path): count them too.
        token_requests = app.token_requests  # type: ignore[attr-defined]

        async def counted_token_requests(scope: Any, receive: Any, send: Any) -> None:
            await counter.count_then(token_requests, scope, receive, send)

        app.token_requests = counted_token_requests  # type: ignore[attr-defined]
        sock = bind_socket("127.0.0.1", 0)
        server = build_server(app, configure_logging=False)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        try:
            with admin_client() as admin:
                deadline = time.monotonic() + 15
                while time.monotonic() < deadline:
                    try:
                        if admin.get(base_url + "/_emulator/health").status_code == 200:
                            break
                    except httpx2.TransportError:
                        time.sleep(0.05)
                emulator = RunningEmulator(
                    base_url=base_url, state_path=state_path, tenant=tenant, _http=admin
                )
                emulator.counters()  # builds the middleware stack
                yield emulator, counter
        finally:
            server.should_exit = True
            thread.join(timeout=15)
            sock.close()
    finally:
        state.close()


def enrol(store: Store, emulator: RunningEmulator, n: int) -> None:
    """N credentials, one integration each, each with a current certificate uploaded (admin token)."""
    tenant = emulator.tenant
    clients = emulator.add_integrations(n, name="Sweep")
    specs = [
        CredentialSpec(
            name=f"sweep{index:05d}",
            account_id=tenant.account_id,
            client_id=client_id,
            entity_id=tenant.entity_id,
            role_id=tenant.role_id,
            base_url=emulator.base_url,
            validity_seconds=int(VALIDITY.total_seconds()),
        )
        for index, client_id in enumerate(clients)
    ]
    fleet.enrol(store, emulator, specs, due_at=utcnow() + dt.timedelta(days=60))


def certrotor(env: dict[str, str], *args: str) -> tuple[float, int]:
    """Run ``certrotor ARGS``; (wall seconds, exit code)."""
    command = [str(Path(sys.executable).with_name("certrotor")), *args]
    started = time.monotonic()
    done = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    seconds = time.monotonic() - started
    if done.returncode not in (0, 1, 2):
        raise SystemExit(f"certrotor {' '.join(args)} failed: {done.stderr.decode()[-500:]}")
    return seconds, done.returncode


def environment(root: Path, master_key: MasterKey) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("CERTROTOR_")}
    env.update(
        CERTROTOR_DATA_DIR=str(root),
        CERTROTOR_MASTER_KEY=master_key.to_base64url(),
        CERTROTOR_CONFIG=str(root / "no-config.toml"),
    )
    return env


def per_credential(counts: collections.Counter[str], n: int) -> str:
    kinds = ("token grants", "certificate lists", "other")
    return ", ".join(f"{counts[kind] / n:.2f} {kind}" for kind in kinds)


def live_sweep(args: argparse.Namespace, root: Path) -> None:
    master_key = MasterKey.generate()
    data = root / "live"
    with counted_emulator(root / "emulator.db") as (emulator, counter):
        store = Store.open(f"sqlite:///{data / 'certrotor.db'}", master_key)
        try:
            started = time.monotonic()
            enrol(store, emulator, args.n)
            print(f"  enrolment (setup, not timed below)    {time.monotonic() - started:8.1f} s")
        finally:
            store.close()
        env = environment(data, master_key)
        env["CERTROTOR_OBSERVE_PER_ACCOUNT"] = str(args.per_account)
        emulator.set_faults(slow_seconds=args.latency, slow_rate=1.0)
        before = counter.snapshot()
        seconds, code = certrotor(env, "health")
        live = counter.snapshot() - before
        print(f"  live `certrotor health`               {seconds:8.1f} s  (exit {code})")
        print(f"    requests per credential: {per_credential(live, args.n)}")
        before = counter.snapshot()
        seconds, code = certrotor(env, "health", "--max-age", "30m")
        cached = counter.snapshot() - before
        print(f"  `certrotor health --max-age 30m`      {seconds:8.2f} s  (exit {code})")
        print(f"    requests per credential: {per_credential(cached, args.n)}")


def observed_fleet(among: int, root: Path) -> None:
    """``among`` credentials with a current certificate each and a fresh observation of each."""
    master_key = MasterKey.generate()
    data = root / "among"
    store = Store.open(f"sqlite:///{data / 'certrotor.db'}", master_key)
    try:
        started = time.monotonic()
        store.add_credentials(
            CredentialSpec(
                name=f"c{index:05d}",
                account_id="TSTDRV1234567",
                client_id=f"client{index}",
                entity_id=7,
                role_id=3,
                base_url="http://127.0.0.1:9",  # never asked: every observation is fresh
            )
            for index in range(among)
        )
        key = crypto.generate_private_key(KeySpec.EC_P256)
        later = utcnow() + dt.timedelta(days=60)
        now = utcnow()
        found = []
        for index in range(among):
            name = f"c{index:05d}"
            certificate = crypto.build_self_signed_certificate(
                key, common_name=f"certrotor {name}", validity_days=0, validity=VALIDITY
            )
            version = store.add_version(name, key, certificate, certificate_id=f"cert{index:05d}")
            store.activate(name, version)
            store.set_schedule(name, later, 0, None)
            found.append(
                Observation(name, now, "active", certificate_id=f"cert{index:05d}", observer="bench")
            )
        stored.save(store, found)
        print(f"  store of {among} built (setup)          {time.monotonic() - started:8.1f} s")
    finally:
        store.close()
    seconds, code = certrotor(environment(data, master_key), "health", "--max-age", "1h")
    print(f"  `certrotor health --max-age 1h`       {seconds:8.2f} s  (exit {code})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="credentials on the emulator (default 1000)")
    parser.add_argument("--latency", type=float, default=0.3, help="seconds per request (default 0.3)")
    parser.add_argument("--among", type=int, default=10_000, help="credentials for the observed sweep")
    parser.add_argument(
        "--per-account", type=int, default=24, help="requests in flight per account (default 24)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="certrotor-health-") as scratch:
        root = Path(scratch)
        print(
            f"health over {args.n} credentials (one integration each), {args.latency} s per request, "
            f"{os.cpu_count()} CPUs, at most {args.per_account} requests in flight per account"
        )
        live_sweep(args, root)
        print(f"health from observations over {args.among} credentials")
        observed_fleet(args.among, root)


if __name__ == "__main__":
    main()
