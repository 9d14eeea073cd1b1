"""NetSuite HTTP client: certificate and token endpoints, M2M bearer auth, the login grant."""

from __future__ import annotations

from certrotor.client._retry import RetryPolicy
from certrotor.client.auth import BearerTokenAuth, M2MAuth
from certrotor.client.login import (
    LoopbackReceiver,
    PkcePair,
    build_authorize_url,
    make_pkce_pair,
    make_state,
    run_login_flow,
)
from certrotor.client.netsuite import NetSuiteClient, build_upload_body

__all__ = [
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
