"""The console in a real headless Chromium (Debian's ``chromium``, driven by Playwright): what people do.

Skipped only when ``/usr/bin/chromium`` is absent (``make system-deps`` installs it). Screenshots go to
``$CERTROTOR_SCREENSHOT_DIR`` when set (``docs/`` holds two of them), else to the test's tmp_path.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from certrotor.services.observation import observe
from certrotor.services.rotation import default_owner

from ._support import OPERATOR, PASSWORDS, VIEWER, ConsoleWorld, revoke_on_emulator

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT_DIR = os.environ.get("CERTROTOR_SCREENSHOT_DIR")
"""Read at import: the fixtures clear every CERTROTOR_* variable before each test."""
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

if not CHROMIUM.exists():
    pytest.skip(
        f"{CHROMIUM} is not installed (Debian's chromium: run `make system-deps`)", allow_module_level=True
    )

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the module; never a downloaded browser."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    target = Path(SCREENSHOT_DIR or tmp_path / "screenshots")
    target.mkdir(parents=True, exist_ok=True)
    return target


def log_in(page: Page, world: ConsoleWorld, user: str, path: str = "/") -> None:
    page.goto(world.url + path)
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORDS[user])
    page.click("button[type=submit]:has-text('Log in')")
    expect(page).to_have_url(world.url + path)


class TestBrowser:
    def test_log_in_and_see_the_fleet(self, page: Page, world: ConsoleWorld, shots: Path) -> None:
        """After logging in, the fleet lists demo1 and demo2 with status OK, counts and the age of the
        daemon's observations."""
        observe(world.runtime, world.store.list_credentials(), observer=default_owner())  # the daemon's pass
        log_in(page, world, OPERATOR)
        for name in ("demo1", "demo2"):
            row = page.locator(f"tr[data-credential={name}]")
            expect(row).to_contain_text("m2m")
            expect(row.locator(".badge")).to_have_text("OK")
            expect(row.locator(".observed")).to_have_text(re.compile(r"^\s*\d+ s ago\s*$"))
        expect(page.locator(".count.status-OK")).to_have_text("2 OK")
        page.screenshot(path=str(shots / "console-fleet.png"), full_page=True)

    def test_rotate_now_changes_the_current_certificate(
        self, page: Page, world: ConsoleWorld, shots: Path
    ) -> None:
        """Rotate now shows the steps as they happen, then the new certificate ID, which NetSuite holds."""
        log_in(page, world, OPERATOR, "/credentials/demo1")
        current = page.locator("#current-certificate-id")
        before = current.inner_text()
        assert before == world.current_certificate_id("demo1")
        page.click("#rotate")
        expect(page.locator("#progress-steps li").first).to_contain_text("rotation-start", timeout=30_000)
        expect(current).not_to_have_text(before, timeout=60_000)
        after = current.inner_text()
        assert after == world.current_certificate_id("demo1")
        remote = world.remote(after)
        assert remote is not None
        assert remote["revoked"] is False
        page.click("#check")
        expect(page.locator("#status")).to_have_text("OK")
        expect(page.locator(".version-previous .certificate-id")).to_have_text(before)
        page.screenshot(path=str(shots / "console-credential.png"), full_page=True)

    def test_a_revoked_certificate_is_crit_after_check_now(self, page: Page, world: ConsoleWorld) -> None:
        """demo1's current certificate revoked on the emulator: Check now shows CRIT; the fleet follows."""
        log_in(page, world, OPERATOR)
        page.evaluate("window.__sameDocument = true")
        revoke_on_emulator(world, world.current_certificate_id("demo1") or "")
        expect(page.locator("tr[data-credential=demo1] .badge")).to_have_text("OK")
        other = page.context.new_page()
        other.goto(world.url + "/credentials/demo1")
        other.click("#check")
        expect(other.locator("#status")).to_have_text("CRIT")
        expect(other.locator(".reasons")).to_contain_text("No access token could be obtained")
        # The fleet page refreshes itself (no reload): its row turns CRIT too.
        expect(page.locator("tr[data-credential=demo1] .badge")).to_have_text("CRIT", timeout=20_000)
        assert page.evaluate("window.__sameDocument") is True
        expect(page.locator(".count.status-CRIT")).to_have_text("1 CRIT")

    def test_onboarding_through_the_consent_page(
        self, browser: Browser, page: Page, world: ConsoleWorld
    ) -> None:
        """An operator starts onboarding; the administrator opens the share link and approves: connected."""
        tenant = world.emulator.tenant
        entity_id, role_id = world.emulator.add_m2m_combination()
        log_in(page, world, OPERATOR, "/connect")
        page.select_option("select[name=template]", "demo1")
        page.click("button:has-text('Use')")
        expect(page.locator("input[name=client_id]")).to_have_value(tenant.client_id)
        page.fill("input[name=name]", "acme")
        page.fill("input[name=entity]", str(entity_id))
        page.fill("input[name=role]", str(role_id))
        page.click("#start-onboarding")
        share_link = page.locator("#share-link").input_value()
        assert share_link.startswith(world.url + "/connect/share/")

        administrator = browser.new_context()  # another person, not logged in to the console
        try:
            consent = administrator.new_page()
            consent.goto(share_link)
            expect(consent.locator("h1")).to_contain_text(f"access account {tenant.account_id}")
            consent.select_option("select[name=entity]", str(tenant.entity_id))
            consent.select_option("select[name=role]", str(tenant.role_id))
            consent.click("button[value=approve]")
            expect(consent.locator("#connected")).to_contain_text("is connected as acme")
            again = administrator.new_page()
            again.goto(share_link)
            expect(again.locator("h1")).to_have_text("Link not usable")
        finally:
            administrator.close()

        credential = world.store.get_credential("acme")
        assert (credential.entity_id, credential.role_id) == (entity_id, role_id)
        certificate_id = world.current_certificate_id("acme")
        assert certificate_id is not None
        remote = world.remote(certificate_id)
        assert remote is not None
        assert remote["revoked"] is False
        page.goto(world.url + "/credentials/acme")
        expect(page.locator("#current-certificate-id")).to_have_text(certificate_id)
        actors = {e.actor for e in world.store.events("acme", limit=50)}
        assert actors == {f"web:{OPERATOR}"}

    def test_a_viewer_sees_no_rotate_button_and_a_forged_post_is_refused(
        self, page: Page, world: ConsoleWorld
    ) -> None:
        """A viewer's page has no Rotate now; a form forged in their browser gets 403 and changes nothing."""
        log_in(page, world, VIEWER, "/credentials/demo1")
        expect(page.locator("#current-certificate-id")).to_be_visible()
        expect(page.locator("#rotate")).to_have_count(0)
        expect(page.locator("#check")).to_have_count(0)
        before = world.current_certificate_id("demo1")
        page.evaluate(
            """() => {
                const form = document.createElement("form");
                form.method = "post";
                form.action = "/credentials/demo1/rotate";
                const token = document.querySelector("input[name=csrf_token]").cloneNode();
                form.appendChild(token);
                document.body.appendChild(form);
                form.submit();
            }"""
        )
        expect(page.locator("h1")).to_have_text("Not allowed")
        expect(page.locator(".error")).to_contain_text("only operators")
        assert world.console.jobs.latest("demo1") is None
        assert world.current_certificate_id("demo1") == before
