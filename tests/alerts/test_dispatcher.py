"""Background delivery: never blocks the caller, retries with backoff, counts and logs failures."""

from __future__ import annotations

import pytest

from certrotor.alerts import AlertDispatcher, WebhookAlertSettings, WebhookChannel
from certrotor.metrics import DaemonMetrics

from ._receivers import WebhookReceiver, closed_port, silent_server
from .test_message import crit_alert

FLUSH_BOUND = 60.0
"""A safety bound so that a broken test fails instead of hanging; never a measured time."""


def webhook(name: str, url: str, **fields: object) -> WebhookChannel:
    return WebhookChannel(
        name, WebhookAlertSettings.model_validate({"type": "webhook", "url": url, **fields})
    )


@pytest.mark.usefixtures("no_backoff_waits")
class TestBackgroundDelivery:
    def test_submitted_alerts_reach_the_receiver(self, receiver: WebhookReceiver) -> None:
        """submit queues; the worker delivers; the counts say sent."""
        dispatcher = AlertDispatcher([webhook("hook", receiver.url)])
        dispatcher.submit(crit_alert())
        assert dispatcher.flush(FLUSH_BOUND)
        assert len(receiver.requests) == 1
        assert dispatcher.counts["hook"].sent == 1
        dispatcher.close()

    def test_a_transient_failure_is_retried_until_it_works(self, receiver: WebhookReceiver) -> None:
        """503 then 200: two POSTs for one alert, counted once as sent."""
        statuses = iter([503, 200])

        class Flaky(WebhookChannel):
            def send(self, alert):  # type: ignore[no-untyped-def]
                receiver.status = next(statuses)
                super().send(alert)

        channel = Flaky("hook", WebhookAlertSettings.model_validate({"type": "webhook", "url": receiver.url}))
        dispatcher = AlertDispatcher([channel])
        dispatcher.submit(crit_alert())
        assert dispatcher.flush(FLUSH_BOUND)
        assert len(receiver.requests) == 2
        assert (dispatcher.counts["hook"].sent, dispatcher.counts["hook"].failed) == (1, 0)
        dispatcher.close()

    def test_a_down_channel_is_counted_logged_and_does_not_stop_the_others(
        self, receiver: WebhookReceiver, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A closed port fails after its retries (counted in metrics, logged without the URL's token);
        the working channel still gets the alert."""
        metrics = DaemonMetrics()
        down = webhook("down", f"http://127.0.0.1:{closed_port()}/hook?token=secret-in-query")
        dispatcher = AlertDispatcher([down, webhook("up", receiver.url)], recorder=metrics)
        dispatcher.submit(crit_alert())
        assert dispatcher.flush(FLUSH_BOUND)
        assert len(receiver.requests) == 1
        assert (dispatcher.counts["down"].sent, dispatcher.counts["down"].failed) == (0, 1)
        assert metrics.registry.get_sample_value("certrotor_alerts_failed_total", {"channel": "down"}) == 1
        assert metrics.registry.get_sample_value("certrotor_alerts_sent_total", {"channel": "up"}) == 1
        failure = next(r for r in caplog.records if "alert.failed" in r.getMessage())
        assert "attempts" in failure.getMessage()
        assert "secret-in-query" not in caplog.text
        dispatcher.close()

    def test_a_refusal_that_cannot_heal_is_not_retried(self, receiver: WebhookReceiver) -> None:
        """404 is given up after one POST."""
        receiver.status = 404
        dispatcher = AlertDispatcher([webhook("hook", receiver.url)])
        dispatcher.submit(crit_alert())
        assert dispatcher.flush(FLUSH_BOUND)
        assert len(receiver.requests) == 1
        assert dispatcher.counts["hook"].failed == 1
        dispatcher.close()


@pytest.mark.usefixtures("no_backoff_waits")
class TestNeverBlocks:
    def test_submit_returns_while_the_receiver_still_hangs(self) -> None:
        """While a receiver holds the connection unanswered, submit has already returned: after it
        returns the connection is still open and nothing is counted yet."""
        with silent_server() as hanging:
            channel = webhook("hang", f"http://127.0.0.1:{hanging.port}/", timeout_seconds=300)
            dispatcher = AlertDispatcher([channel])
            dispatcher.submit(crit_alert())
            assert hanging.accepted.wait(FLUSH_BOUND)
            # A synchronous send would have returned only after the receiver answered or timed out.
            assert not hanging.answered()
            assert dispatcher.counts["hang"].sent == dispatcher.counts["hang"].failed == 0
            assert not dispatcher.flush(0)
        # The receiver is gone: the worker gives up (no waits under test) and counts the failure.
        assert dispatcher.flush(FLUSH_BOUND)
        assert dispatcher.counts["hang"].failed == 1
        dispatcher.close()

    def test_a_full_queue_drops_and_counts_instead_of_waiting(self, caplog: pytest.LogCaptureFixture) -> None:
        """With the worker stuck on a hanging receiver, alerts beyond the queue's size are dropped at
        once, each counted as failed and logged."""
        with silent_server() as hanging:
            channel = webhook("hang", f"http://127.0.0.1:{hanging.port}/", timeout_seconds=300)
            dispatcher = AlertDispatcher([channel], queue_size=2)
            dispatcher.submit(crit_alert())
            assert hanging.accepted.wait(FLUSH_BOUND)
            for _ in range(5):
                dispatcher.submit(crit_alert())
            assert dispatcher.counts["hang"].failed == 3
            assert caplog.text.count("alert.dropped") == 3
        assert dispatcher.flush(FLUSH_BOUND)
        dispatcher.close()
