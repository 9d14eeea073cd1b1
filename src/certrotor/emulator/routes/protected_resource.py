"""NetSuite's REST ``record/v1`` API as a protected resource (``/services/rest/record/v1/...``): proves
that an access token works by answering who it speaks for.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials

from certrotor.emulator.routes.common import bearer_header, bearer_scheme, error_responses, get_runtime
from certrotor.protocol.urls import RECORD_PATH_PREFIX

router = APIRouter(tags=["record"])


@router.get(
    RECORD_PATH_PREFIX + "/{record_path:path}",
    summary="Read any record (answers who the token speaks for)",
    responses=error_responses(401),
)
def read_protected_resource(
    record_path: str,
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> dict[str, Any]:
    token = get_runtime(request).issuer.verify_bearer(bearer_header(credentials))
    grant = token.grant
    return {
        "links": [{"rel": "self", "href": str(request.url)}],
        "record": record_path,
        "account": grant.integration.account.account_id,
        "entity": grant.entity.id,
        "role": grant.role.id,
        "scope": list(grant.scopes),
    }
