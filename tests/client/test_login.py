"""Tests of the authorization code grant: PKCE, authorize URL, loopback receiver, and the whole login."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx2
import pytest

from certrotor.client import BearerTokenAuth, NetSuiteClient, RetryPolicy
from certrotor.client.login import (
    LoopbackReceiver,
    build_authorize_url,
    make_pkce_pair,
    make_state,
    run_login_flow,
    s256_challenge,
)
from certrotor.emulator.testing import RunningEmulator
from certrotor.errors import InputError, LoginError, TokenRequestError
from certrotor.protocol.urls import NetSuiteEndpoints

ENDPOINTS = NetSuiteEndpoints.for_account("1234567_SB1")


class TestPkce:
    def test_rfc7636_appendix_b_vector(self) -> None:
        """The S256 challenge of RFC 7636's example verifier is the RFC's value."""
        verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        assert s256_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"

    def test_pairs_are_fresh_and_within_length_limits(self) -> None:
        """Each pair is new, its verifier 43..128 characters, and the verifier hides from repr."""
        first, second = make_pkce_pair(), make_pkce_pair()
        assert first.verifier != second.verifier
        assert 43 <= len(first.verifier) <= 128
        assert first.challenge == s256_challenge(first.verifier)
        assert first.verifier not in repr(first)

    def test_states_are_unpredictable(self) -> None:
        """Two states differ and carry enough randomness."""
        assert make_state() != make_state()
        assert len(make_state()) >= 32


class TestAuthorizeUrl:
    def test_carries_every_parameter(self) -> None:
        """The URL is NetSuite's authorize endpoint with code, PKCE S256, state and scopes."""
        url = build_authorize_url(
            ENDPOINTS,
            client_id="abc",
            redirect_uri="http://127.0.0.1:5000/callback",
            scopes=["rest_webservices", "restlets"],
            state="s1",
            code_challenge="c1",
        )
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}{parts.path}" == ENDPOINTS.authorize_url
        assert {k: v[0] for k, v in parse_qs(parts.query).items()} == {
            "response_type": "code",
            "client_id": "abc",
            "redirect_uri": "http://127.0.0.1:5000/callback",
            "scope": "rest_webservices restlets",
            "state": "s1",
            "code_challenge": "c1",
            "code_challenge_method": "S256",
        }

    def test_unknown_scope_is_refused(self) -> None:
        """A scope NetSuite does not know is refused before any browser opens."""
        with pytest.raises(InputError, match="Invalid scopes"):
            build_authorize_url(
                ENDPOINTS,
                client_id="abc",
                redirect_uri="http://127.0.0.1:1/callback",
                scopes=["email"],
                state="s",
                code_challenge="c",
            )


class TestLoopbackReceiver:
    def test_returns_the_code_for_the_right_state(self) -> None:
        """A redirect with the expected state yields its code, and the browser sees success."""
        with LoopbackReceiver("good-state") as receiver:
            assert receiver.redirect_uri.startswith("http://127.0.0.1:")
            page = httpx2.get(receiver.redirect_uri, params={"code": "c0de", "state": "good-state"})
            assert receiver.wait_for_code(timeout=5) == "c0de"
        assert page.status_code == 200
        assert "Login complete" in page.text

    def test_state_mismatch_is_refused(self) -> None:
        """A redirect carrying another state is refused, whatever code it brings."""
        with LoopbackReceiver("good-state") as receiver:
            page = httpx2.get(receiver.redirect_uri, params={"code": "c0de", "state": "forged"})
            with pytest.raises(LoginError) as caught:
                receiver.wait_for_code(timeout=5)
        assert caught.value.reason == "state_mismatch"
        assert page.status_code == 400

    def test_access_denied_is_reported(self) -> None:
        """A user who declines gives LoginError with reason ``access_denied`` and a fix."""
        with LoopbackReceiver("st") as receiver:
            httpx2.get(
                receiver.redirect_uri,
                params={"error": "access_denied", "error_description": "declined", "state": "st"},
            )
            with pytest.raises(LoginError) as caught:
                receiver.wait_for_code(timeout=5)
        assert caught.value.reason == "access_denied"
        assert "declined" in caught.value.message
        assert caught.value.hint

    def test_missing_code_is_reported(self) -> None:
        """A redirect with the right state but no code and no error is refused."""
        with LoopbackReceiver("st") as receiver:
            httpx2.get(receiver.redirect_uri, params={"state": "st"})
            with pytest.raises(LoginError) as caught:
                receiver.wait_for_code(timeout=5)
        assert caught.value.reason == "missing_code"

    def test_times_out_without_a_redirect(self) -> None:
        """No redirect within the timeout gives LoginError with reason ``timeout``."""
        with LoopbackReceiver("st") as receiver, pytest.raises(LoginError) as caught:
            receiver.wait_for_code(timeout=0.05)
        assert caught.value.reason == "timeout"

    def test_other_paths_do_not_settle_the_login(self) -> None:
        """A browser's favicon request gets 404 and the login still completes afterwards."""
        with LoopbackReceiver("st", path="/cb") as receiver:
            base = receiver.redirect_uri.removesuffix("/cb")
            assert httpx2.get(base + "/favicon.ico").status_code == 404
            httpx2.get(receiver.redirect_uri, params={"code": "x", "state": "st"})
            assert receiver.wait_for_code(timeout=5) == "x"

    def test_only_the_first_redirect_counts(self) -> None:
        """A second redirect cannot replace the first outcome."""
        with LoopbackReceiver("st") as receiver:
            httpx2.get(receiver.redirect_uri, params={"code": "first", "state": "st"})
            second = httpx2.get(receiver.redirect_uri, params={"code": "second", "state": "st"})
            assert receiver.wait_for_code(timeout=5) == "first"
        assert second.status_code == 409

    def test_code_is_never_written_to_stderr(self, capfd: pytest.CaptureFixture[str]) -> None:
        """The request line (which holds the code) is not logged the way http.server does."""
        with LoopbackReceiver("st") as receiver:
            httpx2.get(receiver.redirect_uri, params={"code": "SECRET-CODE", "state": "st"})
            receiver.wait_for_code(timeout=5)
        captured = capfd.readouterr()
        assert "SECRET-CODE" not in captured.err + captured.out

    def test_busy_port_gives_a_clear_error(self) -> None:
        """Asking for a port that is taken gives LoginError with a fix."""
        with LoopbackReceiver("st") as first:
            port = int(first.redirect_uri.split(":")[2].split("/")[0])
            with pytest.raises(LoginError) as caught, LoopbackReceiver("st", port=port):
                pass
        assert caught.value.reason == "listen_failed"


class ConsentForm(HTMLParser):
    """Reads the consent page as a browser would: the form's action and its fields."""

    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: dict[str, str] = {}
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.action = named.get("action", "")
        elif tag == "input" and named.get("type") == "hidden":
            self.fields[named["name"]] = named.get("value", "")
        elif tag == "select" and named.get("name"):
            self._select = named["name"]
        elif tag == "option" and self._select and self._select not in self.fields:
            self.fields[self._select] = named.get("value", "")


class Browser:
    """Plays the user: opens the consent page, picks entity and role, clicks Approve or Deny."""

    def __init__(self, *, decision: str, entity_id: int, role_id: int) -> None:
        self.decision = decision
        self.entity_id = entity_id
        self.role_id = role_id
        self.final_page: httpx2.Response | None = None

    def __call__(self, url: str) -> None:
        with httpx2.Client(follow_redirects=True, timeout=10) as browser:
            page = browser.get(url)
            assert page.status_code == 200, page.text
            form = ConsentForm()
            form.feed(page.text)
            fields = {
                **form.fields,
                "entity": str(self.entity_id),
                "role": str(self.role_id),
                "decision": self.decision,
            }
            # The form posts to the emulator, which redirects (303) to our loopback receiver.
            self.final_page = browser.post(urljoin(url, form.action), data=fields)


def browser_for(emulator: RunningEmulator, decision: str = "approve") -> Browser:
    return Browser(
        decision=decision, entity_id=emulator.tenant.entity_id, role_id=emulator.tenant.role_id
    )


class TestLoginFlowAgainstEmulator:
    def test_approved_login_yields_a_working_management_token(
        self, emulator: RunningEmulator, fast_retry: RetryPolicy
    ) -> None:
        """Approve in the browser: a token comes back, and it may list certificates."""
        browser = browser_for(emulator)
        token = run_login_flow(
            emulator.endpoints, emulator.tenant.client_id, ["rest_webservices"], browser, timeout=20
        )
        assert browser.final_page is not None
        assert "Login complete" in browser.final_page.text
        assert token.access_token
        assert token.expires_in > 0
        assert token.access_token not in repr(token)
        with NetSuiteClient(
            emulator.endpoints,
            client_id=emulator.tenant.client_id,
            auth=BearerTokenAuth(token.access_token),
            retry=fast_retry,
        ) as client:
            assert client.list_certificates() == []
        assert emulator.counters()["token_grants"] == {"authorization_code": 1}

    def test_denied_login_is_access_denied(self, emulator: RunningEmulator) -> None:
        """Deny in the browser: LoginError with reason ``access_denied``, and no token."""
        with pytest.raises(LoginError) as caught:
            run_login_flow(
                emulator.endpoints,
                emulator.tenant.client_id,
                ["rest_webservices"],
                browser_for(emulator, decision="deny"),
                timeout=20,
            )
        assert caught.value.reason == "access_denied"
        assert emulator.counters().get("token_grants", {}) == {}

    def test_browser_never_coming_back_times_out(self, emulator: RunningEmulator) -> None:
        """A user who never finishes gives LoginError with reason ``timeout``."""
        opened: list[str] = []
        with pytest.raises(LoginError) as caught:
            run_login_flow(
                emulator.endpoints,
                emulator.tenant.client_id,
                ["rest_webservices"],
                opened.append,
                timeout=0.2,
            )
        assert caught.value.reason == "timeout"
        assert opened[0].startswith(emulator.endpoints.authorize_url + "?")

    def test_wrong_verifier_and_reused_code_are_invalid_grant(
        self, emulator: RunningEmulator, fast_retry: RetryPolicy
    ) -> None:
        """The code exchange checks PKCE, and a code spent once cannot be spent again."""
        pkce, state = make_pkce_pair(), make_state()
        with LoopbackReceiver(state) as receiver:
            url = build_authorize_url(
                emulator.endpoints,
                client_id=emulator.tenant.client_id,
                redirect_uri=receiver.redirect_uri,
                scopes=["rest_webservices"],
                state=state,
                code_challenge=pkce.challenge,
            )
            browser_for(emulator)(url)
            code = receiver.wait_for_code(timeout=10)
        with NetSuiteClient(
            emulator.endpoints, client_id=emulator.tenant.client_id, auth=None, retry=fast_retry
        ) as client:
            with pytest.raises(TokenRequestError) as wrong:
                client.exchange_authorization_code(
                    code, redirect_uri=receiver.redirect_uri, code_verifier=make_pkce_pair().verifier
                )
            with pytest.raises(TokenRequestError) as reused:
                client.exchange_authorization_code(
                    code, redirect_uri=receiver.redirect_uri, code_verifier=pkce.verifier
                )
        assert wrong.value.error == "invalid_grant"
        assert reused.value.error == "invalid_grant"
        assert code not in str(wrong.value) + str(reused.value)
        assert pkce.verifier not in str(reused.value)
