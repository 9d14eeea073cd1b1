"""Rotation through the CLI as separate processes: `certrotor rotate`, `rotate --all --due [--dry-run]`,
`health`, `events`, a failing hook, and a credential another live process is rotating."""

from __future__ import annotations

import datetime as dt
import os
import socket
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from certrotor.crypto import utcnow
from certrotor.store import RotationStep, VersionState
from services._support import ServiceWorld, assert_settled
from services.conftest import world
from support.processes import ForkServer, ProcessResult, run_certrotor

__all__ = ["world"]
"""The service tests' ``world`` fixture (a store and settings beside the emulator), used here as is."""

ForkedCli = Callable[..., ProcessResult]


@pytest.fixture
def forked_cli(world: ServiceWorld, fork_server: ForkServer, tmp_path: Path) -> ForkedCli:
    """``forked_cli(*args)``: certrotor as a process forked from the CLI server, in this world's env."""

    def run(*args: str, **env: str) -> ProcessResult:
        return fork_server.run(list(args), world.env(**env), tmp_path / "runs")

    return run


def add_with_cli(forked_cli: ForkedCli, world: ServiceWorld, name: str, *options: str) -> None:
    tenant = world.emulator.tenant
    forked_cli(
        "credential", "add", name,
        "--account", tenant.account_id,
        "--client-id", world.new_integration(),
        "--entity", str(tenant.entity_id),
        "--role", str(tenant.role_id),
        "--base-url", world.emulator.base_url,
        "--validity-days", "30",
        "--grace", "0s",
        *options,
    ).ok()  # fmt: skip
    forked_cli("upload", name, "--token", world.admin_token).ok()


class TestRotateCommand:
    """`certrotor rotate NAME`: the seed's "generate a new certificate at any time"."""

    def test_rotate_as_typed_in_a_shell_then_health_and_events(
        self, world: ServiceWorld, forked_cli: ForkedCli, tmp_path: Path
    ) -> None:
        """The console script rotates, delivers 0600 files, runs the hook; health and events show it."""
        hook_env = tmp_path / "hook.env"
        add_with_cli(forked_cli, world, "app1", "--hook", f"sh -c 'env > \"$1\"' hook {hook_env}")
        old = world.store.current_version("app1")
        assert old is not None

        rotated = run_certrotor(["rotate", "app1"], world.env(), tmp_path).ok()

        current = assert_settled(world, "app1")
        assert rotated.stdout.strip() == f"app1: rotated new certificate {current.certificate_id}"
        assert world.store.get_version(old.id).state is VersionState.REVOKED
        delivered = world.data_dir / "deliver" / "app1"
        assert sorted(p.name for p in delivered.iterdir()) == ["cert.pem", "credential.json", "key.pem"]
        assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in delivered.iterdir())
        env = dict(line.split("=", 1) for line in hook_env.read_text().splitlines() if "=" in line)
        assert env["CERTROTOR_CERTIFICATE_ID"] == current.certificate_id
        assert env["CERTROTOR_KEY_FILE"] == str(delivered / "key.pem")
        assert "CERTROTOR_MASTER_KEY" not in env

        health = forked_cli("health", "app1", "--probe", "--json")
        assert health.returncode == 0, health.stdout
        report = health.json()
        assert report["status"] == "OK"
        [entry] = report["credentials"]
        assert entry["expires_at"] == current.not_after.isoformat()
        assert entry["summary"].startswith("Current certificate is valid until ")
        assert entry["reasons"] == []
        events = forked_cli("events", "app1", "--json").ok().json()
        actions = [e["action"] for e in reversed(events)]
        steps = ["rotation-start", "prepare", "upload", "verify", "activate", "hook", "retire"]
        assert actions[-len(steps) :] == steps
        assert {e["actor"] for e in events if e["action"] in steps} == {"cli"}

    def test_failing_hook_exits_1_and_health_warns(self, world: ServiceWorld, forked_cli: ForkedCli) -> None:
        """A hook that fails: `rotate` says deferred with the reason; `health` exits 1 with the fix."""
        add_with_cli(forked_cli, world, "app1", "--hook", "sh -c 'echo cannot reload >&2; exit 4'")
        rotated = forked_cli("rotate", "app1")
        assert rotated.returncode == 1
        assert "app1: deferred" in rotated.stdout
        assert "hook exited with code 4: cannot reload" in rotated.stdout
        health = forked_cli("health", "app1")
        assert health.returncode == 1
        assert health.stdout.splitlines()[1].startswith("WARN app1: Current certificate is valid until")
        assert "The last rotation failed: The hook of 'app1' failed" in health.stdout
        assert "fix: certrotor rotate app1" in health.stdout
        rotation = world.store.open_rotation("app1")
        assert rotation is not None
        assert rotation.step is RotationStep.DELIVER

    def test_a_credential_held_by_a_live_process_is_refused(
        self, world: ServiceWorld, forked_cli: ForkedCli
    ) -> None:
        """While another live process holds the lease, `rotate` refuses in one line and changes nothing."""
        add_with_cli(forked_cli, world, "app1")
        holder = f"{socket.gethostname()}:{os.getpid()}:holder"
        world.store.claim("app1", holder, 300)
        refused = forked_cli("rotate", "app1")
        assert refused.returncode == 1
        assert refused.stderr.startswith("error: Credential 'app1' is held by ")
        assert len(refused.stderr.splitlines()) == 1
        assert world.store.rotations("app1") == []
        assert world.store.get_credential("app1").lease_owner == holder


class TestManualDuringGrace:
    """`certrotor rotate NAME` while the previous certificate is in grace revokes nothing before it has
    a new, verified certificate (a current revoked on NetSuite makes it an emergency rotation)."""

    def test_failed_upload_leaves_the_previous_certificate_active(
        self, world: ServiceWorld, forked_cli: ForkedCli
    ) -> None:
        """Previous in grace, the new upload refused: previous and current both stay active."""
        add_with_cli(forked_cli, world, "app1", "--grace", "1d", "--strategy", "overlap", "--key", "rsa-3072")
        previous = world.store.current_version("app1")
        forked_cli("rotate", "app1").ok()
        current = world.store.current_version("app1")
        assert previous is not None
        assert current is not None
        client_id = world.store.get_credential("app1").client_id
        world.emulator.set_config(max_body_bytes=1024)  # an RSA 3072 certificate no longer fits
        remote = world.remote_certificates(client_id)

        failed = forked_cli("rotate", "app1", "--force", "--token", world.admin_token)

        assert failed.returncode == 1
        assert failed.stdout.splitlines() == [
            "app1: deferred",
            "  NetSuite refused the certificate upload (HTTP 413 REQUEST_TOO_LARGE): The request body "
            "exceeds the limit of 1024 bytes. Fix: see NetSuite's message; retry later if it is a "
            "temporary condition.",
        ]
        # Nothing changed on NetSuite: both certificates are still active.
        assert world.remote_certificates(client_id) == remote
        assert {c["certificate_id"] for c in remote if not c["revoked"]} == {
            previous.certificate_id,
            current.certificate_id,
        }
        assert world.store.get_version(previous.id).state is VersionState.PREVIOUS
        assert world.store.get_version(current.id).state is VersionState.CURRENT
        assert [e for e in world.store.events("app1") if e.action == "retire"] == []
        rotation = world.store.open_rotation("app1")
        assert rotation is not None
        assert rotation.step is RotationStep.UPLOAD

        world.emulator.set_config(max_body_bytes=64 * 1024)
        forked_cli("rotate", "app1", "--force").ok()
        # The new certificate verified: the grace cut short ends now, the current one waits its own.
        assert world.store.get_version(previous.id).state is VersionState.REVOKED
        assert world.store.get_version(current.id).state is VersionState.PREVIOUS
        [retire] = [e for e in world.store.events("app1") if e.action == "retire"]
        assert retire.detail["certificate_id"] == previous.certificate_id
        assert retire.detail["grace_cut_short"] is True


class TestRotateAllDue:
    """`certrotor rotate --all --due [--dry-run]`: what the daemon would do, once."""

    def test_dry_run_prints_the_plan_and_changes_nothing(
        self, world: ServiceWorld, forked_cli: ForkedCli
    ) -> None:
        """Only due credentials are listed, with why; no rotation starts and nothing is uploaded."""
        add_with_cli(forked_cli, world, "due1")
        add_with_cli(forked_cli, world, "later")
        world.store.set_schedule("due1", utcnow() - dt.timedelta(minutes=5), 0, None)
        uploads = world.emulator.counters()["uploads_total"]
        versions = {name: world.store.versions(name) for name in ("due1", "later")}

        plan = forked_cli("rotate", "--all", "--due", "--dry-run").ok()
        assert plan.stdout.startswith("would rotate due1 (auto): planned for ")
        assert "later" not in plan.stdout
        as_json = forked_cli("rotate", "--all", "--due", "--dry-run", "--json").ok().json()
        assert [row["credential"] for row in as_json] == ["due1"]

        assert world.emulator.counters()["uploads_total"] == uploads
        assert {name: world.store.versions(name) for name in versions} == versions
        assert world.store.rotations("due1") == []

    def test_all_due_rotates_only_the_due_ones(self, world: ServiceWorld, forked_cli: ForkedCli) -> None:
        """The due credential is rotated; the one planned for later keeps its certificate and plan."""
        add_with_cli(forked_cli, world, "due1")
        add_with_cli(forked_cli, world, "later")
        world.store.set_schedule("due1", utcnow(), 0, None)
        later = world.store.get_credential("later")
        result = forked_cli("rotate", "--all", "--due", "--json").ok()
        [outcome] = result.json()
        assert outcome["credential"] == "due1"
        assert outcome["status"] == "rotated"
        assert_settled(world, "due1")
        assert world.store.rotations("later") == []
        assert world.store.get_credential("later").next_rotation_at == later.next_rotation_at

    def test_nothing_due_says_so(self, world: ServiceWorld, forked_cli: ForkedCli) -> None:
        """With nothing due the dry run says so and exits 0."""
        add_with_cli(forked_cli, world, "later")
        assert forked_cli("rotate", "--all", "--due", "--dry-run").ok().stdout.strip() == "Nothing to rotate."
