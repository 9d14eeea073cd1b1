"""Fleet benchmark: N credentials rotated by one ``certrotor daemon`` process against an emulator.

Prints figures only (nothing asserts on them):

* the rotation of N due credentials (default 1,000, EC P-256, overlap, grace 0) by a real
  ``certrotor daemon --parallel P`` process against an emulator served by this process: wall time,
  rotations per second, CPU seconds of the daemon and of the emulator, and the daemon's peak RSS;
* the time to select due credentials among 10,000 (``Store.due_credentials`` and ``Store.claim_due``,
  1% of them due, the rest planned over the next two years);
* the economy of one rotation (``--economy`` credentials rotated in this process): requests to
  NetSuite (counted by a middleware in front of the emulator), token grants among them, and SQL
  commits (SQLAlchemy's ``commit`` event) of the store, in two honest counts: write commits (a
  transaction that ran an INSERT, UPDATE or DELETE: durable, an fsync on SQLite) and read
  transactions (only SELECTs; their COMMIT writes nothing), apart from the emulator's own commits
  (it runs in this process); cold (no management token cached) and warm (after an observation of
  the fleet, as the daemon does every interval).

Each credential has an integration record of its own (NetSuite allows five active certificates per
integration). The first certificates are uploaded here, before the clock starts.

    .venv/bin/python bench/fleet.py [--n 1000] [--parallel 4] [--among 10000] [--economy 20]
                                    [--database-url URL] [--economy-only]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2
from sqlalchemy import update
from sqlalchemy.orm import Session

from certrotor import crypto
from certrotor.client import BearerTokenAuth, NetSuiteClient
from certrotor.crypto import KeySpec, utcnow
from certrotor.emulator.testing import RunningEmulator, serve_emulator
from certrotor.keyvault import MasterKey
from certrotor.protocol.urls import NetSuiteEndpoints
from certrotor.store import CredentialSpec, Store, Strategy, VersionState
from certrotor.store.engine import create_store_engine, parse_url
from certrotor.store.models import CredentialRow

VALIDITY = dt.timedelta(days=90)
POLL_SECONDS = 0.5
ROTATION_DEADLINE_SECONDS = 3 * 3600
SELECTION_REPEATS = 25


@dataclass(frozen=True)
class FleetFigures:
    rotations: int
    enrol_seconds: float
    startup_seconds: float
    rotate_seconds: float
    daemon_cpu_seconds: float
    emulator_cpu_seconds: float
    daemon_peak_rss_mib: float


def cpu_seconds(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


def spec_for(emulator: RunningEmulator, index: int, client_id: str, key: KeySpec) -> CredentialSpec:
    tenant = emulator.tenant
    return CredentialSpec(
        name=f"fleet{index:05d}",
        account_id=tenant.account_id,
        client_id=client_id,
        entity_id=tenant.entity_id,
        role_id=tenant.role_id,
        base_url=emulator.base_url,
        key_spec=key,
        validity_seconds=int(VALIDITY.total_seconds()),
        grace_seconds=0,
        strategy=Strategy.OVERLAP,
    )


def enrol(
    store: Store, emulator: RunningEmulator, specs: list[CredentialSpec], *, due_at: dt.datetime | None = None
) -> None:
    """Add the credentials and upload their first certificates (bootstrap token); due now or at ``due_at``."""
    store.add_credentials(specs)
    now = utcnow() if due_at is None else due_at
    with httpx2.HTTPTransport() as transport:
        for spec in specs:
            key = crypto.generate_private_key(spec.key_spec)
            certificate = crypto.build_self_signed_certificate(
                key, common_name=f"certrotor {spec.name}", validity_days=0, validity=VALIDITY
            )
            version = store.add_version(spec.name, key, certificate, VersionState.PENDING)
            with NetSuiteClient(
                NetSuiteEndpoints.for_account(spec.account_id, spec.base_url),
                client_id=spec.client_id,
                auth=BearerTokenAuth(emulator.tenant.admin_token),
                transport=transport,
            ) as client:
                answer = client.upload_certificate(
                    version.certificate_pem, entity=spec.entity_id, role=spec.role_id
                )
            version = store.set_remote_certificate_id(
                version, answer.certificate_id, state=VersionState.UPLOADED
            )
            store.activate(spec.name, version)
            store.set_schedule(spec.name, now, 0, None)


@contextmanager
def daemon(env: dict[str, str], log: Path, parallel: int) -> Iterator[subprocess.Popen[bytes]]:
    command = [str(Path(sys.executable).with_name("certrotor")), "daemon"]
    args = ["--parallel", str(parallel), "--interval", "0.2", "--no-reconcile", "--lease", "300"]
    with log.open("wb") as sink:
        process = subprocess.Popen([*command, *args], env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def wait_until(condition: object, what: str, deadline: float) -> None:
    assert callable(condition)
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up waiting for {what}")
        time.sleep(POLL_SECONDS)


def rotate_fleet(args: argparse.Namespace, root: Path) -> FleetFigures:
    master_key = MasterKey.generate()
    data_dir = root / "fleet"
    database_url = args.database_url or f"sqlite:///{data_dir / 'certrotor.db'}"
    env = {key: value for key, value in os.environ.items() if not key.startswith("CERTROTOR_")}
    env.update(
        CERTROTOR_DATA_DIR=str(data_dir),
        CERTROTOR_DATABASE_URL=database_url,
        CERTROTOR_MASTER_KEY=master_key.to_base64url(),
        CERTROTOR_CONFIG=str(root / "no-config.toml"),
        CERTROTOR_LOG_FORMAT="json",
        CERTROTOR_LOG_LEVEL="INFO",
    )
    with serve_emulator(root / "emulator.db") as emulator:
        clients = emulator.add_integrations(args.n, name="Fleet")
        specs = [
            spec_for(emulator, index, client, KeySpec.parse(args.key)) for index, client in enumerate(clients)
        ]
        store = Store.open(database_url, master_key)
        try:
            started = time.monotonic()
            enrol(store, emulator, specs)
            enrol_seconds = time.monotonic() - started
            horizon = utcnow() + dt.timedelta(days=1)

            def all_rotated() -> bool:
                plans = [c.next_rotation_at for c in store.list_credentials()]
                return all(plan is not None and plan > horizon for plan in plans)

            log = root / "daemon.log"
            self_before = resource.getrusage(resource.RUSAGE_SELF)
            launched = time.monotonic()
            with daemon(env, log, args.parallel) as process:
                wait_until(
                    lambda: b"daemon started" in log.read_bytes(), "the daemon to start", launched + 300
                )
                running = time.monotonic()
                wait_until(all_rotated, f"{args.n} rotations", running + ROTATION_DEADLINE_SECONDS)
                finished = time.monotonic()
                process.send_signal(signal.SIGTERM)
                if process.wait(timeout=120) != 0:
                    raise SystemExit(f"the daemon exited with {process.returncode}; see {log}")
            self_after = resource.getrusage(resource.RUSAGE_SELF)
        finally:
            store.close()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        counted = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
        rotated = sum(1 for e in counted if e.get("event") == "rotation" and e.get("status") == "rotated")
    return FleetFigures(
        rotations=rotated,
        enrol_seconds=enrol_seconds,
        startup_seconds=running - launched,
        rotate_seconds=finished - running,
        daemon_cpu_seconds=cpu_seconds(children),
        emulator_cpu_seconds=cpu_seconds(self_after) - cpu_seconds(self_before),
        # Linux reports ru_maxrss in KiB: the largest child, the daemon.
        daemon_peak_rss_mib=children.ru_maxrss / 1024,
    )


def select_due(among: int, root: Path) -> tuple[float, float, float]:
    """Seconds to build the store, median seconds of due_credentials(limit=100) and claim_due(limit=4)."""
    url = f"sqlite:///{root / 'selection.db'}"
    store = Store.open(url, MasterKey.generate())
    rng = random.Random(1)
    now = utcnow()
    try:
        started = time.monotonic()
        store.add_credentials(
            CredentialSpec(
                name=f"c{index:05d}",
                account_id="TSTDRV1234567",
                client_id=f"client{index}",
                entity_id=7,
                role_id=3,
            )
            for index in range(among)
        )
        # One bulk UPDATE (the store API plans one credential per transaction): 1% due, the rest
        # planned somewhere in the next two years.
        plans = [
            {
                "id": credential.id,
                "next_rotation_at": now - dt.timedelta(minutes=rng.randint(1, 600))
                if index % 100 == 0
                else now + dt.timedelta(minutes=rng.randint(60, 2 * 365 * 1440)),
            }
            for index, credential in enumerate(store.list_credentials())
        ]
        engine = create_store_engine(parse_url(url))
        with Session(engine) as session, session.begin():
            session.execute(update(CredentialRow), plans)
        engine.dispose()
        build_seconds = time.monotonic() - started
        selects, claims = [], []
        for attempt in range(SELECTION_REPEATS):
            moment = utcnow()
            tick = time.perf_counter()
            due = store.due_credentials(moment, limit=100)
            selects.append(time.perf_counter() - tick)
            owner = f"bench:{os.getpid()}:{attempt}"
            tick = time.perf_counter()
            claimed = store.claim_due(moment, owner, 300, limit=4)
            claims.append(time.perf_counter() - tick)
            assert len(due) == min(100, among // 100)
            assert len(claimed) == min(4, among // 100)
            for credential in claimed:
                store.release(credential.name, owner)
    finally:
        store.close()
    return build_seconds, statistics.median(selects), statistics.median(claims)


def economy(count: int, root: Path) -> dict[str, dict[str, float]]:
    """Per rotation: requests by kind and SQL commits (store writes, store reads, the emulator's), cold
    and warm (management tokens cached)."""
    from health_sweep import counted_emulator
    from sqlalchemy import event
    from sqlalchemy.engine import Connection, Engine

    from certrotor.config import Settings
    from certrotor.services import health
    from certrotor.services.rotation import Rotator
    from certrotor.services.runtime import Runtime
    from certrotor.store import RotationTrigger

    store_database = str(root / "economy" / "certrotor.db")
    commits = {"write commits": 0, "read transactions": 0, "emulator commits": 0}

    def wrote(connection: Connection, _cursor: object, statement: str, *_rest: object) -> None:
        if statement.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE"):
            connection.info["bench_wrote"] = True

    def counted(connection: Connection) -> None:
        wrote_something = connection.info.pop("bench_wrote", False)
        if connection.engine.url.database != store_database:
            commits["emulator commits"] += 1
        elif wrote_something:
            commits["write commits"] += 1
        else:
            commits["read transactions"] += 1

    def rolled_back(connection: Connection) -> None:
        connection.info.pop("bench_wrote", None)

    event.listen(Engine, "before_cursor_execute", wrote)
    event.listen(Engine, "commit", counted)
    event.listen(Engine, "rollback", rolled_back)
    figures: dict[str, dict[str, float]] = {}
    try:
        with counted_emulator(root / "economy-emulator.db") as (emulator, counter):
            master_key = MasterKey.generate()
            data_dir = root / "economy"
            clients = emulator.add_integrations(2 * count, name="Economy")
            specs = [spec_for(emulator, i, client, KeySpec.EC_P256) for i, client in enumerate(clients)]
            store = Store.open(f"sqlite:///{data_dir / 'certrotor.db'}", master_key)
            try:
                enrol(store, emulator, specs)
            finally:
                store.close()
            settings = Settings(data_dir=data_dir, master_key=master_key.to_base64url())  # type: ignore[arg-type]
            for label, batch, warm in (("cold", specs[:count], False), ("warm", specs[count:], True)):
                runtime = Runtime(settings)
                try:
                    names = [spec.name for spec in batch]
                    if warm:
                        health.check_all(runtime, names)  # the daemon's observation: tokens cached
                    rotator = Rotator(runtime, owner="bench", actor="bench")
                    before, commits_before = counter.snapshot(), dict(commits)
                    for name in names:
                        outcome = rotator.rotate(name, RotationTrigger.MANUAL)
                        if outcome.status != "rotated":
                            raise SystemExit(f"rotation of {name}: {outcome.status} {outcome.message}")
                    used = counter.snapshot() - before
                    figures[label] = {
                        "requests": sum(used.values()) / count,
                        "token grants": used["token grants"] / count,
                        "certificate lists": used["certificate lists"] / count,
                        "other": used["other"] / count,
                    }
                    for kind, total in commits.items():
                        figures[label][kind] = (total - commits_before[kind]) / count
                finally:
                    runtime.close()
    finally:
        event.remove(Engine, "rollback", rolled_back)
        event.remove(Engine, "commit", counted)
        event.remove(Engine, "before_cursor_execute", wrote)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="credentials to rotate (default 1000)")
    parser.add_argument("--parallel", type=int, default=4, help="the daemon's --parallel (default 4)")
    parser.add_argument("--key", default="ec-p256", help="key type (default ec-p256)")
    parser.add_argument("--among", type=int, default=10_000, help="credentials for the selection timing")
    parser.add_argument("--database-url", help="store of the fleet (default: SQLite in a temp dir)")
    parser.add_argument("--economy", type=int, default=20, help="rotations measured for the economy")
    parser.add_argument("--economy-only", action="store_true", help="measure the economy alone")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="certrotor-fleet-") as scratch:
        root = Path(scratch)
        if args.economy_only:
            print_economy(args.economy, root)
            return
        setup = f"{args.n} credentials ({args.key}), daemon --parallel {args.parallel}"
        print(f"fleet: {setup}, {os.cpu_count()} CPUs")
        figures = rotate_fleet(args, root)
        print(f"  enrolment (setup, not timed below) {figures.enrol_seconds:8.1f} s")
        print(f"  daemon start-up                    {figures.startup_seconds:8.1f} s")
        print(f"  rotations                          {figures.rotations:8d}")
        print(f"  wall time                          {figures.rotate_seconds:8.1f} s")
        print(f"  rotations per second               {figures.rotations / figures.rotate_seconds:8.2f}")
        print(f"  daemon CPU                         {figures.daemon_cpu_seconds:8.1f} s", end="")
        print(f"  ({figures.daemon_cpu_seconds / max(figures.rotations, 1) * 1000:.0f} ms per rotation)")
        print(f"  emulator CPU (this process)        {figures.emulator_cpu_seconds:8.1f} s")
        print(f"  daemon peak RSS                    {figures.daemon_peak_rss_mib:8.1f} MiB")
        build, select, claim = select_due(args.among, root)
        print(f"selection among {args.among} credentials (1% due; store built in {build:.1f} s)")
        print(f"  due_credentials(limit=100)         {select * 1000:8.2f} ms (median of {SELECTION_REPEATS})")
        print(f"  claim_due(limit=4)                 {claim * 1000:8.2f} ms (median of {SELECTION_REPEATS})")
        print_economy(args.economy, root)


def print_economy(count: int, root: Path) -> None:
    print(f"economy of one rotation (overlap, grace 0; {count} rotations each, in this process)")
    for label, row in economy(count, root).items():
        counted = ", ".join(f"{value:.2f} {kind}" for kind, value in row.items())
        print(f"  {label:5s} {counted}")


if __name__ == "__main__":
    main()
