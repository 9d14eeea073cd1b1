"""`credential add` says which base URL the new credential uses, and warns when a real account points away."""

from __future__ import annotations

from .conftest import Cli

ADD = ("credential", "add")
IDS = ("--client-id", "c1", "--role", "3", "--token", "bootstrap-token-value")


class TestBaseUrlOfANewCredential:
    def test_a_real_account_without_base_url_uses_netsuites_hosts(self, cli: Cli) -> None:
        """No --base-url: NetSuite's token and certificate hosts of the account, named."""
        result = cli(*ADD, "app1", "--account", "1234567_SB1", "--entity", "7", *IDS).assert_ok()

        assert result.stdout.splitlines() == [
            "Added credential app1 with a pending ES256 certificate.",
            "It uses NetSuite's hosts for account 1234567_SB1: "
            "https://1234567-sb1.suitetalk.api.netsuite.com (token) and "
            "https://1234567-sb1.restlets.api.netsuite.com (certificates).",
            "Next: `certrotor upload app1` (or `certrotor rotate app1`).",
        ]
        assert result.stderr == ""

    def test_the_emulators_url_kept_by_the_account_is_said_and_warned_about(self, cli: Cli) -> None:
        """After the emulator was used for 1234567_SB1, a later add without --base-url says it and warns."""
        first = cli(
            *ADD, "emu", "--account", "1234567_SB1", "--entity", "7", *IDS,
            "--base-url", "http://127.0.0.1:8080", "--insecure",
        ).assert_ok()  # fmt: skip
        later = cli(*ADD, "app2", "--account", "1234567_SB1", "--entity", "8", *IDS).assert_ok()

        assert first.stdout.splitlines()[1] == "It uses the base URL http://127.0.0.1:8080 (--base-url)."
        assert later.stdout.splitlines()[1] == (
            "It uses the base URL http://127.0.0.1:8080, which account 1234567_SB1 already had "
            "(`certrotor credential set app2 --base-url ''` returns to NetSuite's hosts)."
        )
        assert later.stderr.splitlines() == [
            "warning: account 1234567_SB1 looks like a real NetSuite account, but http://127.0.0.1:8080 is "
            "a loopback address. Fix: if app2 is for the real account, run "
            "`certrotor credential set app2 --base-url ''`."
        ]

    def test_a_test_account_on_the_emulator_gets_no_warning(self, cli: Cli) -> None:
        """TSTDRV-style or named test accounts on a loopback emulator: the URL said, no warning."""
        result = cli(
            *ADD, "app1", "--account", "TSTDRV1234567", "--entity", "7", *IDS,
            "--base-url", "http://127.0.0.1:8080", "--insecure",
        ).assert_ok()  # fmt: skip

        assert result.stdout.splitlines()[1] == "It uses the base URL http://127.0.0.1:8080 (--base-url)."
        assert result.stderr == ""
