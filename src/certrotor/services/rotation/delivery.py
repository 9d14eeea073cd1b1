"""Delivery for consumers, once for every kind: where the files go, and the hook run after writing them."""

from __future__ import annotations

from pathlib import Path

from certrotor.delivery import DeliveredPaths, run_hook
from certrotor.errors import RotationError
from certrotor.services.rotation.steps import StepJournal
from certrotor.services.runtime import Runtime
from certrotor.store import Credential, EventOutcome

HOOK_TIMEOUT_SECONDS = 60.0


def delivery_directory(runtime: Runtime, credential: Credential) -> Path:
    """The credential's own directory, else ``<delivery dir>/<name>``."""
    if credential.delivery_dir:
        return Path(credential.delivery_dir)
    return runtime.settings.resolved_delivery_dir / credential.name


def run_delivery_hook(
    journal: StepJournal,
    credential: Credential,
    paths: DeliveredPaths,
    *,
    version_name: str,
    extra_env: dict[str, str],
) -> None:
    """Run the credential's hook, if any, with the delivered paths; a failing hook stops the rotation here."""
    if not credential.hook_command:
        return
    result = run_hook(
        credential.hook_command,
        paths,
        credential_name=credential.name,
        certificate_id=version_name,
        extra_env=extra_env or None,
        timeout=HOOK_TIMEOUT_SECONDS,
    )
    if not result.ok:
        journal.event("hook", EventOutcome.ERROR, result=result.describe())
        raise RotationError(
            f"The hook of {credential.name!r} failed: {result.describe()}.",
            hint="fix the hook command; certrotor runs it again before retiring the old certificate.",
        )
    journal.event("hook", EventOutcome.OK)


__all__ = ["HOOK_TIMEOUT_SECONDS", "delivery_directory", "run_delivery_hook"]
