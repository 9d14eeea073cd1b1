"""``health.check_all(on_checked=...)``: one call per credential as its remote facts are in (progress)."""

from __future__ import annotations

import datetime as dt
import threading

from certrotor.services import health

from ._support import ServiceWorld


class Calls:
    """What ``on_checked`` was called with, and on which thread."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.threads: dict[str, str] = {}

    def __call__(self, name: str) -> None:
        self.names.append(name)
        self.threads[name] = threading.current_thread().name


class TestOnChecked:
    def test_each_live_check_reports_once_from_the_workers(self, world: ServiceWorld) -> None:
        """Three credentials over two integrations, checked live: each named once, by an observe worker."""
        world.enrol("app1")
        world.enrol("app2", combination=world.emulator.add_m2m_combination())
        world.enrol("app3", client_id=world.new_integration())
        calls = Calls()

        reports = health.check_all(world.runtime(), on_checked=calls)

        assert sorted(calls.names) == [r.name for r in reports] == ["app1", "app2", "app3"]
        assert all(thread.startswith("observe") for thread in calls.threads.values()), calls.threads

    def test_answers_from_the_store_report_at_once_before_the_live_ones(self, world: ServiceWorld) -> None:
        """--max-age: credentials with a young observation report first (no check), the rest as checked."""
        world.enrol("app1")
        world.enrol("app2", client_id=world.new_integration())
        health.check_all(world.runtime())
        world.enrol("app3", client_id=world.new_integration())  # never observed: checked live
        calls = Calls()

        health.check_all(world.runtime(), max_age=dt.timedelta(minutes=30), on_checked=calls)

        assert calls.names == ["app1", "app2", "app3"]
        main = threading.current_thread().name
        assert (calls.threads["app1"], calls.threads["app2"]) == (main, main)
        assert calls.threads["app3"].startswith("observe")

    def test_offline_reports_every_credential(self, world: ServiceWorld) -> None:
        """Without asking NetSuite, every credential is reported once, in the order judged."""
        world.enrol("app1")
        world.enrol("app2", client_id=world.new_integration())
        calls = Calls()

        health.check_all(world.runtime(), remote=False, on_checked=calls)

        assert calls.names == ["app1", "app2"]
