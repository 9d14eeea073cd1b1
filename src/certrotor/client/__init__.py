"""NetSuite HTTP client: certificate and token endpoints, M2M bearer auth, the login grant."""

from __future__ import annotations

# The client's structlog events go through stdlib ``logging`` (loggers ``certrotor.client.*``): an
# application that configured no logging sees nothing, not structlog's default print to stdout.
import certrotor.logging  # noqa: F401
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
