"""Endpoint URLs: host names derived from account IDs, base URL overrides, bad input."""

from __future__ import annotations

import pytest

from certrotor.errors import InputError
from certrotor.protocol.urls import NetSuiteEndpoints, account_host_label, validate_account_id


class TestAccountHostLabel:
    @pytest.mark.parametrize(
        ("account_id", "label"),
        [
            ("1234567", "1234567"),
            ("1234567_SB1", "1234567-sb1"),
            ("1234567_sb2", "1234567-sb2"),
            ("TSTDRV1234567", "tstdrv1234567"),
            (" 1234567_SB1 ", "1234567-sb1"),
        ],
    )
    def test_lower_case_and_underscore_to_dash(self, account_id: str, label: str) -> None:
        """``1234567_SB1`` becomes ``1234567-sb1`` as in NetSuite's host names."""
        assert account_host_label(account_id) == label

    @pytest.mark.parametrize(
        "account_id",
        [
            "",
            "   ",
            "12 34",
            "1234567__SB1",
            "_1234567",
            "1234567_",
            "1234567.evil.com",
            "ab/cd",
            "123@x",
            "é123",
        ],
    )
    def test_refuses_malformed_account_ids(self, account_id: str) -> None:
        """Anything that is not letters and digits joined by single ``_`` or ``-`` is refused with a hint."""
        with pytest.raises(InputError) as caught:
            validate_account_id(account_id)
        assert caught.value.message == f"Invalid NetSuite account ID {account_id!r}."
        assert "1234567_SB1" in caught.value.hint


class TestDerivedEndpoints:
    def test_sandbox_account_hosts(self) -> None:
        """Token on suitetalk.api, certificates on restlets.api, both under the account's host label."""
        endpoints = NetSuiteEndpoints.for_account("1234567_SB1")
        assert endpoints.token_base == "https://1234567-sb1.suitetalk.api.netsuite.com"
        assert endpoints.api_base == "https://1234567-sb1.restlets.api.netsuite.com"
        assert endpoints.token_url == (
            "https://1234567-sb1.suitetalk.api.netsuite.com/services/rest/auth/oauth2/v1/token"
        )

    def test_certificate_endpoints(self) -> None:
        """List/upload and revoke paths are the seed's, with IDs percent-encoded as path segments."""
        endpoints = NetSuiteEndpoints.for_account("1234567")
        client_id = "63f9d36214e97953d94298a5405be"
        assert endpoints.certificates_url(client_id) == (
            "https://1234567.restlets.api.netsuite.com/services/rest/auth/oauth2/v1/clients/"
            "63f9d36214e97953d94298a5405be/certificates"
        )
        assert endpoints.revoke_url(client_id, "xYAcb_rwSVj6stkI0cCysutJ4AKwqTOBU5M75HNh7Ig") == (
            "https://1234567.restlets.api.netsuite.com/services/rest/auth/oauth2/v1/clients/"
            "63f9d36214e97953d94298a5405be/certificates/xYAcb_rwSVj6stkI0cCysutJ4AKwqTOBU5M75HNh7Ig/revoke"
        )

    def test_ids_starting_with_dash_or_holding_slashes_stay_one_segment(self) -> None:
        """A certificate ID beginning with ``-`` is kept; ``/`` and ``?`` cannot escape the path segment."""
        endpoints = NetSuiteEndpoints.for_account("1234567")
        assert endpoints.revoke_url("c", "-abc_DEF").endswith("/clients/c/certificates/-abc_DEF/revoke")
        assert endpoints.certificates_url("a/b?x").endswith("/clients/a%2Fb%3Fx/certificates")

    def test_other_urls(self) -> None:
        """The authorize page and the REST record API live on the API host."""
        endpoints = NetSuiteEndpoints.for_account("1234567")
        assert (
            endpoints.authorize_url
            == "https://1234567.restlets.api.netsuite.com/app/login/oauth2/authorize.nl"
        )
        assert endpoints.record_url("/employee/7") == (
            "https://1234567.restlets.api.netsuite.com/services/rest/record/v1/employee/7"
        )
        assert endpoints.record_url("employee") == (
            "https://1234567.restlets.api.netsuite.com/services/rest/record/v1/employee"
        )

    def test_refuses_a_bad_account_without_base_url(self) -> None:
        """Without a base URL the account ID must be valid, since it becomes a host name."""
        with pytest.raises(InputError, match="Invalid NetSuite account ID"):
            NetSuiteEndpoints.for_account("evil.com/x")


class TestBaseUrlOverride:
    @pytest.mark.parametrize(
        ("base_url", "base"),
        [
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
            (" https://tstdrv1234567.app.netsuite.com ", "https://tstdrv1234567.app.netsuite.com"),
            ("https://proxy.example/netsuite/", "https://proxy.example/netsuite"),
        ],
    )
    def test_one_base_for_both_hosts(self, base_url: str, base: str) -> None:
        """A base URL (the emulator, the seed's app host, a proxy) serves token and certificates alike."""
        endpoints = NetSuiteEndpoints.for_account("1234567_SB1", base_url=base_url)
        assert endpoints.token_base == endpoints.api_base == base
        assert endpoints.token_url == base + "/services/rest/auth/oauth2/v1/token"
        assert (
            endpoints.certificates_url("c") == base + "/services/rest/auth/oauth2/v1/clients/c/certificates"
        )

    @pytest.mark.parametrize(
        "base_url", ["ftp://example.com", "127.0.0.1:8080", "http://", "example.com", "https:///path"]
    )
    def test_refuses_malformed_base_urls(self, base_url: str) -> None:
        """A base URL needs an http or https scheme and a host; the hint shows both kinds of example."""
        with pytest.raises(InputError) as caught:
            NetSuiteEndpoints.for_account("1234567", base_url=base_url)
        assert caught.value.message == f"Invalid base URL {base_url!r}."
        assert "http://127.0.0.1:8080" in caught.value.hint
