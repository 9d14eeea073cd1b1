"""Tests of the client package's public surface."""

from __future__ import annotations

import certrotor.client


class TestPublicApi:
    def test_all_is_pinned_and_sorted(self) -> None:
        """The re-exported names are exactly these, sorted, and each one resolves."""
        assert certrotor.client.__all__ == [
            "BearerTokenAuth",
            "LoopbackReceiver",
            "M2MAuth",
            "NetSuiteClient",
            "PkcePair",
            "RetryPolicy",
            "build_authorize_url",
            "build_upload_body",
            "make_pkce_pair",
            "make_state",
            "run_login_flow",
        ]
        assert sorted(certrotor.client.__all__) == certrotor.client.__all__
        for name in certrotor.client.__all__:
            assert getattr(certrotor.client, name) is not None
