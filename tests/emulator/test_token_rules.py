"""The token endpoint's settings: the ``aud`` rule (strict, lenient) and replay without ``jti``."""

from __future__ import annotations

import pytest

from ._support import DROP, Caller, oauth_error

AUD_REFUSAL = "The client assertion aud must be the token endpoint URL, e.g. {url}."
REPLAY_REFUSAL = "The client assertion was already used (jti replay); sign a new one for every request."


class TestAudienceRule:
    def test_strict_is_the_default(self, caller: Caller) -> None:
        """The config starts with audience_rule strict."""
        assert caller.emulator.config()["audience_rule"] == "strict"

    @pytest.mark.parametrize("shape", ["('{url}',)", "['{url}']", "aud={url}"])
    def test_strict_refuses_an_aud_that_only_contains_the_url(self, caller: Caller, shape: str) -> None:
        """netsuite-python's tuple-as-string aud and other wrappings are refused when strict."""
        key, certificate_id = caller.upload_ok()
        aud = shape.format(url=caller.endpoints.token_url)
        response = caller.token(caller.assertion(key, certificate_id, aud=aud))
        assert oauth_error(response) == (
            401,
            "invalid_client",
            AUD_REFUSAL.format(url=caller.endpoints.token_url),
        )

    @pytest.mark.parametrize("shape", ["('{url}',)", "['{url}']"])
    def test_lenient_accepts_an_aud_that_contains_the_url(self, caller: Caller, shape: str) -> None:
        """With audience_rule lenient the same assertions obtain a token."""
        caller.emulator.set_config(audience_rule="lenient")
        key, certificate_id = caller.upload_ok()
        aud = shape.format(url=caller.endpoints.token_url)
        assert caller.token(caller.assertion(key, certificate_id, aud=aud)).status_code == 200

    def test_lenient_still_refuses_another_url(self, caller: Caller) -> None:
        """Lenient is not blind: an aud naming another server is refused."""
        caller.emulator.set_config(audience_rule="lenient")
        key, certificate_id = caller.upload_ok()
        response = caller.token(caller.assertion(key, certificate_id, aud="https://example.com/token"))
        assert oauth_error(response)[:2] == (401, "invalid_client")

    def test_unknown_rule_is_refused(self, caller: Caller) -> None:
        """audience_rule takes only strict or lenient."""
        response = caller.http.post(
            caller.emulator.base_url + "/_emulator/config", json={"audience_rule": "loose"}
        )
        assert response.status_code == 400
        assert caller.emulator.config()["audience_rule"] == "strict"


class TestReplayWithoutJti:
    def test_same_bytes_twice_are_a_replay_by_default(self, caller: Caller) -> None:
        """Without jti the second use of the same assertion is refused (the emulator's own rule)."""
        key, certificate_id = caller.upload_ok()
        assertion = caller.assertion(key, certificate_id, jti=DROP)
        assert caller.token(assertion).status_code == 200
        assert oauth_error(caller.token(assertion)) == (401, "invalid_client", REPLAY_REFUSAL)

    def test_setting_off_accepts_a_resend_without_jti(self, caller: Caller) -> None:
        """replay_without_jti false: the same jti-less assertion obtains a token twice."""
        caller.emulator.set_config(replay_without_jti=False)
        key, certificate_id = caller.upload_ok()
        assertion = caller.assertion(key, certificate_id, jti=DROP)
        assert [caller.token(assertion).status_code for _ in range(2)] == [200, 200]

    def test_setting_off_keeps_the_jti_rule(self, caller: Caller) -> None:
        """A repeated jti is refused whatever replay_without_jti says."""
        caller.emulator.set_config(replay_without_jti=False)
        key, certificate_id = caller.upload_ok()
        assertion = caller.assertion(key, certificate_id, jti="one-jti")
        assert caller.token(assertion).status_code == 200
        assert oauth_error(caller.token(assertion)) == (401, "invalid_client", REPLAY_REFUSAL)
