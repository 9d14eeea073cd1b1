"""The notifier: one alert per transition, CRIT reminders, rotation events, state kept in the store."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import stamina
import time_machine

from alerts._receivers import WebhookReceiver, closed_port, webhook_receiver
from certrotor.alerts import AlertDispatcher, AlertKind, WebhookAlertSettings, WebhookChannel
from certrotor.config import load_settings
from certrotor.crypto import utcnow
from certrotor.health_rules import HealthFacts, HealthReason, HealthStatus, evaluate_health
from certrotor.keyvault import MasterKey
from certrotor.services.alerting import Notifier, Verdict, VerdictEvent
from certrotor.store import CredentialSpec, Store
from certrotor.store.alert_state import alert_state, record_status

OK, WARN, CRIT = HealthStatus.OK, HealthStatus.WARN, HealthStatus.CRIT
START = dt.datetime(2026, 12, 2, 8, 0, tzinfo=dt.UTC)
BOUND = 60.0
"""Safety bound for waiting on background delivery; never a measured time."""
REVOKED = HealthReason(
    CRIT, "remote_revoked", "The current certificate was revoked on NetSuite.", "certrotor rotate demo"
)
SLOW = HealthReason(WARN, "renewal_not_planned", "The renewal window is open.", "certrotor rotate demo")


def verdict(status: HealthStatus, name: str = "demo") -> Verdict:
    reasons = {OK: (), WARN: (SLOW,), CRIT: (REVOKED,)}[status]
    return Verdict(name, status, f"summary {status.value}", reasons)


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/data/certrotor.db"


@pytest.fixture
def master_key() -> MasterKey:
    return MasterKey.generate()


@pytest.fixture
def store(database_url: str, master_key: MasterKey) -> Iterator[Store]:
    """A real SQLite store holding the credentials ``demo`` and ``other``."""
    with Store.open(database_url, master_key) as opened:
        for name in ("demo", "other"):
            opened.add_credential(
                CredentialSpec(
                    name=name, account_id="1234567", client_id="c-" + name, entity_id=-5, role_id=3
                )
            )
        yield opened


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with webhook_receiver() as running:
        yield running


@pytest.fixture(autouse=True)
def _no_backoff_waits() -> Iterator[None]:
    stamina.set_testing(True, attempts=2)
    try:
        yield
    finally:
        stamina.set_testing(False)


def make_notifier(store: Store, url: str, **options: object) -> Notifier:
    channel = WebhookChannel("hook", WebhookAlertSettings.model_validate({"type": "webhook", "url": url}))
    return Notifier(store, AlertDispatcher([channel]), **options)  # type: ignore[arg-type]


@pytest.fixture
def notifier(store: Store, receiver: WebhookReceiver) -> Iterator[Notifier]:
    made = make_notifier(store, receiver.url)
    yield made
    made.close()


def delivered(notifier: Notifier, receiver: WebhookReceiver) -> list[tuple[str, str, str | None]]:
    """(event, status, previous_status) of every alert the receiver got so far."""
    assert notifier.flush(BOUND)
    return [(r.json()["event"], r.json()["status"], r.json()["previous_status"]) for r in receiver.requests]


class TestTransitions:
    def test_one_alert_per_transition_none_for_steady_states(
        self, notifier: Notifier, receiver: WebhookReceiver
    ) -> None:
        """OK, OK, WARN, WARN, CRIT, CRIT, OK, OK: three alerts (to WARN, to CRIT, back to OK)."""
        with time_machine.travel(START, tick=False) as clock:
            for status in (OK, OK, WARN, WARN, CRIT, CRIT, OK, OK):
                notifier.observe(verdict(status))
                clock.shift(dt.timedelta(minutes=15))
        assert delivered(notifier, receiver) == [
            ("status_changed", "WARN", "OK"),
            ("status_changed", "CRIT", "WARN"),
            ("status_changed", "OK", "CRIT"),
        ]

    def test_a_credential_first_seen_in_trouble_is_alerted(
        self, notifier: Notifier, receiver: WebhookReceiver
    ) -> None:
        """A first verdict of CRIT alerts, with no previous status; a first OK does not."""
        notifier.observe(verdict(OK, "other"))
        alert = notifier.observe(verdict(CRIT))
        assert alert is not None
        assert alert.previous_status is None
        assert delivered(notifier, receiver) == [("status_changed", "CRIT", None)]
        assert receiver.requests[0].json()["text"] == (
            "certrotor: demo now CRIT (was OK): The current certificate was revoked on NetSuite. "
            "Fix: certrotor rotate demo"
        )

    def test_credentials_are_tracked_separately(self, notifier: Notifier, receiver: WebhookReceiver) -> None:
        """Each credential has its own last status."""
        notifier.observe(verdict(WARN, "demo"))
        notifier.observe(verdict(WARN, "other"))
        notifier.observe(verdict(WARN, "demo"))
        assert notifier.flush(BOUND)
        assert [request.json()["credential"] for request in receiver.requests] == ["demo", "other"]

    def test_a_verdict_from_a_health_report(self, notifier: Notifier, receiver: WebhookReceiver) -> None:
        """Verdict.from_report carries the report's status, summary and reasons with their fixes."""
        report = evaluate_health(HealthFacts(name="demo", now=utcnow()))
        notifier.observe(Verdict.from_report(report))
        assert notifier.flush(BOUND)
        body = receiver.requests[0].json()
        assert (body["status"], body["summary"]) == ("CRIT", "No valid certificate available")
        assert body["reasons"][0] == {
            "status": "CRIT",
            "code": "no_current",
            "message": "There is no current certificate.",
            "fix": "certrotor rotate demo",
        }


class TestReminders:
    def test_every_six_hours_while_crit(self, notifier: Notifier, receiver: WebhookReceiver) -> None:
        """CRIT observed every 15 minutes for 13 hours: the alert, then reminders at 6 h and 12 h."""
        with time_machine.travel(START, tick=False) as clock:
            for _ in range(13 * 4 + 1):
                notifier.observe(verdict(CRIT))
                clock.shift(dt.timedelta(minutes=15))
        assert delivered(notifier, receiver) == [
            ("status_changed", "CRIT", None),
            ("reminder", "CRIT", "CRIT"),
            ("reminder", "CRIT", "CRIT"),
        ]
        assert receiver.requests[1].json()["text"].startswith("certrotor: demo still CRIT:")

    def test_no_reminders_while_warn(self, notifier: Notifier, receiver: WebhookReceiver) -> None:
        """WARN for a day: one alert only."""
        with time_machine.travel(START, tick=False) as clock:
            for _ in range(25):
                notifier.observe(verdict(WARN))
                clock.shift(dt.timedelta(hours=1))
        assert delivered(notifier, receiver) == [("status_changed", "WARN", None)]

    def test_the_interval_is_configurable(self, store: Store, receiver: WebhookReceiver) -> None:
        """With a 1 h interval, CRIT for 2 h 30 gives the alert and two reminders."""
        notifier = make_notifier(store, receiver.url, reminder_interval=dt.timedelta(hours=1))
        with time_machine.travel(START, tick=False) as clock:
            for _ in range(11):
                notifier.observe(verdict(CRIT))
                clock.shift(dt.timedelta(minutes=15))
        assert [event for event, _, _ in delivered(notifier, receiver)] == [
            "status_changed",
            "reminder",
            "reminder",
        ]
        notifier.close()

    def test_a_new_crit_after_recovery_alerts_at_once(
        self, notifier: Notifier, receiver: WebhookReceiver
    ) -> None:
        """CRIT, OK, CRIT within minutes: three transitions, each alerted."""
        with time_machine.travel(START, tick=False) as clock:
            for status in (CRIT, OK, CRIT):
                notifier.observe(verdict(status))
                clock.shift(dt.timedelta(minutes=1))
        assert [status for _, status, _ in delivered(notifier, receiver)] == ["CRIT", "OK", "CRIT"]


class TestRotationEvents:
    def test_a_failing_rotation_alerts_once_then_by_reminder(
        self, notifier: Notifier, receiver: WebhookReceiver
    ) -> None:
        """Failures every 30 minutes for 7 hours: alerted at the first and again after 6 hours."""
        with time_machine.travel(START, tick=False) as clock:
            for _ in range(15):
                notifier.rotation_failed("demo", "NetSuite answered HTTP 503")
                clock.shift(dt.timedelta(minutes=30))
        events = delivered(notifier, receiver)
        assert events == [("rotation_failed", "WARN", None), ("rotation_failed", "WARN", None)]
        body = receiver.requests[0].json()
        assert body["reasons"][0]["message"] == "The rotation failed: NetSuite answered HTTP 503"
        assert body["reasons"][0]["fix"] == "certrotor rotate demo"

    def test_a_success_makes_the_next_failure_news(
        self, notifier: Notifier, receiver: WebhookReceiver
    ) -> None:
        """fail, fail, succeed, fail: two alerts."""
        notifier.rotation_failed("demo", "boom")
        notifier.rotation_failed("demo", "boom")
        notifier.rotation_succeeded("demo")
        notifier.rotation_failed("demo", "boom again", status=CRIT)
        assert delivered(notifier, receiver) == [
            ("rotation_failed", "WARN", None),
            ("rotation_failed", "CRIT", None),
        ]

    def test_rotation_failures_do_not_disturb_the_health_transitions(
        self, notifier: Notifier, receiver: WebhookReceiver
    ) -> None:
        """A failed rotation between two CRIT verdicts neither repeats nor hides the CRIT alert."""
        notifier.observe(verdict(CRIT))
        notifier.rotation_failed("demo", "boom", status=CRIT)
        notifier.observe(verdict(CRIT))
        assert delivered(notifier, receiver) == [
            ("status_changed", "CRIT", None),
            ("rotation_failed", "CRIT", "CRIT"),
        ]

    def test_every_emergency_rotation_is_alerted(self, notifier: Notifier, receiver: WebhookReceiver) -> None:
        """Two emergency rotations, two alerts, each naming the reason and the new certificate."""
        notifier.observe(verdict(CRIT))
        notifier.emergency_rotation_done("demo", "the current certificate was revoked", certificate_id="NEW1")
        notifier.emergency_rotation_done("demo", "the current certificate was revoked", certificate_id="NEW2")
        events = delivered(notifier, receiver)
        assert events[1:] == [("emergency_rotation", "OK", "CRIT")] * 2
        assert "New certificate NEW2." in receiver.requests[2].json()["reasons"][0]["message"]

    def test_the_verdict_event_kind_routes_through_observe(
        self, notifier: Notifier, receiver: WebhookReceiver
    ) -> None:
        """observe() with event=rotation_failed is the same as rotation_failed()."""
        reason = HealthReason(WARN, "rotation_failed", "The rotation failed: x", "certrotor rotate demo")
        alert = notifier.observe(Verdict("demo", WARN, "failed", (reason,), VerdictEvent.ROTATION_FAILED))
        assert alert is not None
        assert alert.kind is AlertKind.ROTATION_FAILED


class TestFromSettings:
    def test_the_environment_webhook_and_interval(
        self, store: Store, receiver: WebhookReceiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """CERTROTOR_ALERT_WEBHOOK_URL and CERTROTOR_ALERT_REMINDER_INTERVAL configure the notifier."""
        for name in [name for name in os.environ if name.startswith("CERTROTOR_")]:
            monkeypatch.delenv(name)
        monkeypatch.setenv("CERTROTOR_CONFIG", str(tmp_path / "no-config.toml"))
        monkeypatch.setenv("CERTROTOR_ALERT_WEBHOOK_URL", receiver.url + "/hook")
        monkeypatch.setenv("CERTROTOR_ALERT_REMINDER_INTERVAL", "2h")
        notifier = Notifier.from_settings(load_settings(), store)
        assert notifier.reminder_interval == dt.timedelta(hours=2)
        notifier.observe(verdict(CRIT))
        assert delivered(notifier, receiver) == [("status_changed", "CRIT", None)]
        assert receiver.requests[0].path == "/hook"
        notifier.close()


class TestStateInTheStore:
    def test_a_restarted_notifier_remembers(
        self, store: Store, database_url: str, master_key: MasterKey, receiver: WebhookReceiver
    ) -> None:
        """CRIT alerted, then a new process (new store handle and notifier) sees CRIT: silent."""
        first = make_notifier(store, receiver.url)
        first.observe(verdict(CRIT))
        first.close()
        with Store.open(database_url, master_key) as reopened:
            second = make_notifier(reopened, receiver.url)
            assert second.observe(verdict(CRIT)) is None
            second.close()
        assert len(receiver.requests) == 1
        state = alert_state(store, "demo")
        assert state is not None
        assert state.status is CRIT

    def test_two_daemons_on_one_database_alert_a_transition_once(
        self, store: Store, database_url: str, master_key: MasterKey, receiver: WebhookReceiver
    ) -> None:
        """Only one of two processes that saw the same transition wins the compare-and-set."""
        with Store.open(database_url, master_key) as other_process:
            assert record_status(store, "demo", expected=None, status=CRIT, at=START)
            assert not record_status(other_process, "demo", expected=None, status=CRIT, at=START)
            assert record_status(other_process, "demo", expected=CRIT, status=OK, at=START)
            assert not record_status(store, "demo", expected=CRIT, status=OK, at=START)


class TestNeverInTheWay:
    def test_a_down_channel_neither_fails_nor_holds_the_caller(self, store: Store) -> None:
        """A webhook on a closed port: rotation_failed returns its alert without raising; the failure
        is counted once the background retries give up."""
        notifier = make_notifier(store, f"http://127.0.0.1:{closed_port()}/hook")
        alert = notifier.rotation_failed("demo", "boom")
        assert alert is not None
        assert notifier.flush(BOUND)
        assert notifier.dispatcher.counts["hook"].failed == 1
        notifier.close()

    def test_an_unknown_credential_still_alerts_and_never_raises(
        self, notifier: Notifier, receiver: WebhookReceiver, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Without a store row to compare with, a CRIT is alerted rather than lost, and logged."""
        alert = notifier.observe(verdict(CRIT, "ghost"))
        assert alert is not None
        assert notifier.observe(verdict(OK, "ghost")) is None
        assert delivered(notifier, receiver) == [("status_changed", "CRIT", None)]
        assert "alert.state_unavailable" in caplog.text

    def test_no_channel_means_no_delivery_but_state_is_kept(self, store: Store) -> None:
        """With no channel configured the transitions are still recorded."""
        notifier = Notifier(store, AlertDispatcher([]))
        assert notifier.observe(verdict(WARN)) is not None
        assert notifier.observe(verdict(WARN)) is None
        notifier.close()
