"""Delivery for consumers, once for every kind: where the files go, and the hook run after writing them."""

from __future__ import annotations

from pathlib import Path

from certrotor.delivery import DeliveredPaths, check_delivery_directory, run_hook
from certrotor.errors import InputError, RotationError
from certrotor.services.rotation.steps import StepJournal
from certrotor.services.runtime import Runtime
from certrotor.store import Credential, EventOutcome

HOOK_TIMEOUT_SECONDS = 60.0


def delivery_directory(runtime: Runtime, credential: Credential) -> Path:
    """The credential's own directory, else ``<delivery dir>/<name>``."""
    if credential.delivery_dir:
        return Path(credential.delivery_dir)
    return runtime.settings.resolved_delivery_dir / credential.name


def check_delivery_target(runtime: Runtime, name: str, delivery_dir: str | None) -> None:
    """Refuse, before anything is stored, a directory that another live credential delivers into (its
    ``key.pem`` would be overwritten) or that others may write to."""
    target = _resolved(Path(delivery_dir) if delivery_dir else runtime.settings.resolved_delivery_dir / name)
    for other in runtime.store.list_credentials():
        if other.name != name and _resolved(delivery_directory(runtime, other)) == target:
            raise InputError(
                f"Credential {other.name!r} already delivers into {target}.",
                hint="give each credential its own directory (--deliver-to); a second one would "
                "overwrite its key.pem.",
            )
    check_delivery_directory(target)


def _resolved(path: Path) -> Path:
    return path.expanduser().resolve(strict=False)


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


__all__ = ["HOOK_TIMEOUT_SECONDS", "check_delivery_target", "delivery_directory", "run_delivery_hook"]
