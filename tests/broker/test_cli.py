"""``certrotor broker key add|list|revoke`` and ``broker serve`` as a user types them."""

from __future__ import annotations

import re
import signal
import subprocess

import httpx2
import pytest

from cli._support import SecretWatch, certrotor_command, run_in_process
from services._support import ServiceWorld

from ._support import RunningBroker

_LISTENING = re.compile(r"Token broker on (http://127\.0\.0\.1:\d+)")


@pytest.fixture
def cli_world(world: ServiceWorld, monkeypatch: pytest.MonkeyPatch) -> ServiceWorld:
    """The world's settings in this process's environment, as a shell would have them."""
    for name, value in world.env().items():
        if name.startswith("CERTROTOR_"):
            monkeypatch.setenv(name, value)
    return world


class TestKeyCommands:
    def test_add_prints_the_key_once_and_stores_only_its_hash(
        self, cli_world: ServiceWorld, broker: RunningBroker
    ) -> None:
        """``key add --json`` prints ``key``; list never shows it; the database does not hold it."""
        watch = SecretWatch()
        added = run_in_process(
            ["broker", "key", "add", "crm", "--credential", "sales", "--credential", "billing", "--json"],
            watch,
        ).assert_ok()
        answer = added.json()
        key = answer["key"]
        assert answer["credentials"] == ["sales", "billing"]
        assert key.startswith("crk_")
        assert len(key) == 47
        watch.add(key)
        listed = run_in_process(["broker", "key", "list", "--json"], watch).assert_ok()
        assert [(k["app"], k["credentials"]) for k in listed.json()] == [("crm", ["sales", "billing"])]
        assert key not in listed.stdout
        assert key[:8] == listed.json()[0]["key_prefix"]
        database = (cli_world.data_dir / "certrotor.db").read_bytes()
        assert key.encode() not in database
        assert broker.token(key, "billing")["certificate_id"]

    def test_add_for_people_and_list_as_a_table(self, cli_world: ServiceWorld) -> None:
        """Without --json the key is printed with a warning that it is shown once; list is a table."""
        added = run_in_process(["broker", "key", "add", "crm", "--credential", "sales"]).assert_ok()
        assert "shown only this once" in added.stdout
        assert re.search(r"^crk_[A-Za-z0-9_-]{43}$", added.stdout, re.MULTILINE)
        listed = run_in_process(["broker", "key", "list"]).assert_ok()
        assert "crm" in listed.stdout
        assert "sales" in listed.stdout
        assert re.search(r"crk_[A-Za-z0-9_-]{43}", listed.stdout) is None

    def test_revoke_refuses_the_key_at_once(self, cli_world: ServiceWorld, broker: RunningBroker) -> None:
        """After ``key revoke`` the broker answers 401; revoking again is a one-line error."""
        key = run_in_process(["broker", "key", "add", "crm", "--credential", "sales", "--json"]).json()["key"]
        assert broker.post_token(key, "sales").status_code == 200
        run_in_process(["broker", "key", "revoke", "crm"]).assert_ok()
        assert broker.post_token(key, "sales").status_code == 401
        run_in_process(["broker", "key", "revoke", "crm"]).assert_one_line_error(
            "error: No live broker key for the application 'crm'. "
            "Fix: see the applications with `certrotor broker key list`."
        )
        listed = run_in_process(["broker", "key", "list", "--all", "--json"]).json()
        assert listed[0]["revoked_at"] is not None
        actions = [event.action for event in cli_world.store.events(limit=10)]
        assert {"broker.key.add", "broker.key.revoke"} <= set(actions)

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (
                ["crm", "--credential", "nope"],
                "error: No credential named 'nope'. Fix: see the names with `certrotor credential list`.",
            ),
            (
                ["bad name", "--credential", "sales"],
                "error: Invalid application name 'bad name'. Fix: use 1 to 64 letters, digits, '.', '_' "
                "or '-', starting with a letter or digit.",
            ),
        ],
    )
    def test_bad_input_changes_nothing(self, cli_world: ServiceWorld, args: list[str], message: str) -> None:
        """An unknown credential or a bad name: one line with the fix, no key stored."""
        run_in_process(["broker", "key", "add", *args]).assert_one_line_error(message)
        assert run_in_process(["broker", "key", "list", "--all", "--json"]).json() == []

    def test_a_second_live_key_for_an_application_is_refused(self, cli_world: ServiceWorld) -> None:
        """One live key per application: the second add says to revoke the first."""
        run_in_process(["broker", "key", "add", "crm", "--credential", "sales"]).assert_ok()
        line = run_in_process(
            ["broker", "key", "add", "crm", "--credential", "sales"]
        ).assert_one_line_error()
        assert "already has a live broker key" in line
        assert "certrotor broker key revoke crm" in line


class TestServe:
    def test_serve_answers_tokens_and_audits_on_ctrl_c(self, cli_world: ServiceWorld) -> None:
        """``broker serve --port 0`` as a process: tokens served; Ctrl-C exits 0 and audits the count."""
        key = run_in_process(["broker", "key", "add", "crm", "--credential", "sales", "--json"]).json()["key"]
        process = subprocess.Popen(
            [*certrotor_command(), "broker", "serve", "--port", "0"],
            env=cli_world.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            found = _LISTENING.search(line)
            assert found, line + (process.stderr.read() if process.stderr else "")
            url = found.group(1)
            with httpx2.Client(timeout=30) as client:
                for _ in range(3):
                    answer = client.post(
                        url + "/v1/token",
                        json={"credential": "sales"},
                        headers={"authorization": f"Bearer {key}"},
                    )
                    assert answer.status_code == 200, answer.text
        finally:
            process.send_signal(signal.SIGINT)
            _, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stderr
        assert key not in stderr
        assert "eyJ" not in stderr
        events = [e for e in cli_world.store.events(limit=20) if e.action == "broker.tokens_issued"]
        assert [(e.credential_name, e.detail["app"], e.detail["issued"]) for e in events] == [
            ("sales", "crm", 3)
        ]

    def test_serve_refuses_a_public_address(self, cli_world: ServiceWorld) -> None:
        """The broker listens only on loopback or a Unix socket: another address is a one-line error."""
        run_in_process(["broker", "serve", "--host", "0.0.0.0"]).assert_one_line_error(
            "error: The broker will not listen on 0.0.0.0: it serves access tokens over plain HTTP. "
            "Fix: use --host 127.0.0.1 (or ::1), or --socket PATH for a Unix socket."
        )

    def test_the_daemon_serves_the_broker_beside_its_rotations(self, cli_world: ServiceWorld) -> None:
        """``daemon --broker-port 0``: tokens served while the daemon runs; SIGTERM stops both, audited."""
        key = run_in_process(["broker", "key", "add", "crm", "--credential", "billing", "--json"]).json()[
            "key"
        ]
        process = subprocess.Popen(
            [*certrotor_command(), "daemon", "--broker-port", "0", "--no-reconcile", "--interval", "0.5"],
            env=cli_world.env(CERTROTOR_LOG_LEVEL="WARNING"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            found = _LISTENING.search(line)
            assert found, line + (process.stderr.read() if process.stderr else "")
            with httpx2.Client(timeout=30) as client:
                answer = client.post(
                    found.group(1) + "/v1/token",
                    json={"credential": "billing"},
                    headers={"authorization": f"Bearer {key}"},
                )
            assert answer.status_code == 200, answer.text
            current = cli_world.store.current_version("billing")
            assert current is not None
            assert answer.json()["certificate_id"] == current.certificate_id
        finally:
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stderr
        events = [e for e in cli_world.store.events(limit=20) if e.action == "broker.tokens_issued"]
        assert [(e.credential_name, e.detail["app"], e.detail["issued"]) for e in events] == [
            ("billing", "crm", 1)
        ]
