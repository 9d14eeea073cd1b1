"""The one place that knows the kinds of credential: it chooses the steps for a credential."""

from __future__ import annotations

from certrotor.errors import InputError
from certrotor.services.rotation.m2m import M2MSteps
from certrotor.services.rotation.record import RecordSteps
from certrotor.services.rotation.steps import Steps
from certrotor.services.rotation.watch import RecordWatchSteps
from certrotor.services.runtime import Runtime
from certrotor.store import Credential, CredentialKind


def steps_for(credential: Credential, runtime: Runtime) -> Steps:
    """The rotation steps (and remote observation) of ``credential``'s kind; a record in ``monitor``
    mode gets steps that only observe it."""
    if credential.kind is CredentialKind.RECORD:
        if credential.watches_only:
            return RecordWatchSteps(runtime, credential)
        return RecordSteps(runtime, credential)
    return M2MSteps(runtime, credential)


def m2m_steps_for(credential: Credential, runtime: Runtime) -> M2MSteps:
    """The M2M steps of ``credential``; refuses a certificate record credential."""
    steps = steps_for(credential, runtime)
    if not isinstance(steps, M2MSteps):
        raise InputError(
            f"Credential {credential.name!r} is a certificate record credential: NetSuite keeps no "
            "certificate list or token for it.",
            hint=f"use `certrotor record show {credential.name}` or `certrotor rotate {credential.name}`.",
        )
    return steps


__all__ = ["m2m_steps_for", "steps_for"]
