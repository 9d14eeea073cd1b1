"""``certrotor rotate|health|events|daemon``: rotation on demand, health checks, audit, the daemon.

The four commands share this module; what only one of them needs (the rotation engine, the daemon
and its metrics, tables) is imported inside that command, so that ``health`` starts quickly.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from certrotor.cli.context import open_runtime
from certrotor.cli.options import JsonOption
from certrotor.cli.output import FleetProgress, console, error_console, format_time, print_json
from certrotor.errors import InputError
from certrotor.health_rules import HealthReport, HealthStatus, overall_status
from certrotor.monitoring import ExpiryThresholds

if TYPE_CHECKING:
    from certrotor.services.rotation import RotationOutcome
    from certrotor.services.runtime import Runtime
    from certrotor.store import Credential, RotationTrigger

_STATUS_STYLE = {HealthStatus.OK: "green", HealthStatus.WARN: "yellow", HealthStatus.CRIT: "bold red"}


def rotate(
    name: Annotated[str | None, typer.Argument(help="Credential to rotate now.")] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Every credential (with --due: only due ones).")
    ] = False,
    due: Annotated[bool, typer.Option("--due", help="Only credentials whose rotation is due.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan, change nothing.")] = False,
    token: Annotated[str | None, typer.Option("--token", envvar="CERTROTOR_BOOTSTRAP_TOKEN")] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Rotate even if that cuts the previous certificate's grace short."),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Generate, upload, verify and activate a new certificate now (the seed's manual trigger)."""
    from certrotor.services.rotation import Rotator, default_owner, due_rotation_reason
    from certrotor.store import RotationTrigger

    if (name is None) == (not all_):
        raise InputError(
            "Name one credential or pass --all.", hint="e.g. `certrotor rotate app1` or `--all --due`."
        )
    with open_runtime(token) as runtime:
        store = runtime.store
        now = runtime.now()
        credentials = [store.get_credential(name)] if name else store.list_credentials()
        if due:
            credentials = [c for c in credentials if c.next_rotation_at is None or c.next_rotation_at <= now]
        # Only a manual rotation of one credential cuts a grace period short (--all waits for it).
        in_grace = _previous_in_grace(runtime, credentials[0]) if name else None
        if dry_run:
            plan = [
                {
                    "credential": c.name,
                    "strategy": (c.effective_strategy or "auto"),
                    "why": due_rotation_reason(c, now),
                    "cuts_grace_short": in_grace is not None,
                }
                for c in credentials
            ]
            if as_json:
                print_json(plan)
            else:
                for row in plan:
                    console.print(f"would rotate {row['credential']} ({row['strategy']}): {row['why']}")
                if in_grace is not None:
                    console.print(f"  it would cut the grace period short: {_grace_words(*in_grace)}")
                if not plan:
                    console.print("Nothing to rotate.")
            return
        trigger = RotationTrigger.MANUAL if name else RotationTrigger.SCHEDULE
        reason = None
        if name:
            # A current certificate dead on NetSuite makes this an emergency (no grace for it).
            trigger, reason = _manual_or_emergency(runtime, credentials[0])
            if trigger is RotationTrigger.MANUAL and in_grace is not None and not force:
                raise InputError(
                    f"Rotating {name} now would cut the grace period short: {_grace_words(*in_grace)}.",
                    hint=f"wait until {format_time(in_grace[1])}, or run `certrotor rotate {name} --force` "
                    f"once nothing uses {in_grace[0]} any more.",
                )
        rotator = Rotator(runtime, owner=default_owner(), actor="cli")
        outcomes = []
        interrupted: str | None = None
        with FleetProgress(len(credentials), verb="rotating", quiet=as_json) as progress:
            for credential in credentials:
                progress.working_on(credential.name)
                try:
                    outcome = rotator.rotate(credential, trigger, reason=reason)
                except KeyboardInterrupt:
                    interrupted = credential.name
                    break
                outcomes.append(outcome)
                progress.done(*_outcome_lines(outcome))
        if interrupted is not None:
            error_console.print(_interrupted_line(runtime, interrupted), markup=False)
            raise typer.Exit(INTERRUPTED_EXIT_CODE)
    if as_json:
        print_json([dataclasses.asdict(o) for o in outcomes])
    if any(o.status in {"failed", "deferred", "interrupted"} for o in outcomes):
        raise typer.Exit(1)


INTERRUPTED_EXIT_CODE = 130


def _outcome_lines(outcome: RotationOutcome) -> list[str]:
    """What ``rotate`` prints for one credential (Rich markup)."""
    style = "green" if outcome.status in {"rotated", "retired", "waiting"} else "red"
    line = f"{outcome.credential}: [{style}]{outcome.status}[/]"
    if outcome.new_certificate_id:
        line += f" new certificate {outcome.new_certificate_id}"
    return [line, f"  {escape(outcome.message)}"] if outcome.message else [line]


def _previous_in_grace(runtime: Runtime, credential: Credential) -> tuple[str, dt.datetime] | None:
    """The previous certificate (its ID, when it retires) while a finished rotation's grace period runs."""
    from certrotor.services.rotation import steps_for
    from certrotor.store import RotationStep

    rotation = runtime.store.open_rotation(credential)
    if rotation is None or rotation.step is not RotationStep.RETIRE:
        return None
    if rotation.old_version_id is None or rotation.retire_after is None:
        return None
    if runtime.now() >= rotation.retire_after:
        return None
    old = runtime.store.get_version(rotation.old_version_id)
    return steps_for(credential, runtime).describe(old).value or old.id, rotation.retire_after


def _grace_words(previous: str, retire_after: dt.datetime) -> str:
    return (
        f"the previous certificate {previous} would be revoked now instead of after "
        f"{format_time(retire_after)}, while consumers may still use it"
    )


def _interrupted_line(runtime: Runtime, name: str) -> str:
    """One line after Ctrl-C: the step the rotation stopped in, and the command that resumes it."""
    rotation = runtime.store.open_rotation(name)
    if rotation is None:
        return f"Interrupted: no rotation of {name} was under way; nothing changed."
    return (
        f"Interrupted: the rotation of {name} stopped in step {rotation.step.value}; "
        f"it resumes with `certrotor rotate {name}`."
    )


def _manual_or_emergency(runtime: Runtime, credential: Credential) -> tuple[RotationTrigger, str | None]:
    """``emergency`` with the reason when the current certificate is dead on NetSuite, else ``manual``.

    With no management access at all nothing could be uploaded: the repairing command is the answer.
    """
    from certrotor.errors import NoManagementAccessError
    from certrotor.services import health as health_service
    from certrotor.store import RotationTrigger

    report = health_service.check_credential(runtime, credential)
    for finding in report.reasons:
        if finding.code == "expired" and finding.fix != f"certrotor rotate {credential.name}":
            # The expired certificate itself cannot authenticate the upload: a token can.
            name = credential.name
            raise NoManagementAccessError(
                finding.message,
                hint=f"give a bootstrap or management token (`certrotor credential set {name} --token "
                f"TOKEN`, or `certrotor rotate {name} --token TOKEN` once) or run `certrotor login {name}`.",
            )
    for finding in report.reasons:
        if finding.code == "no_management_access":
            raise NoManagementAccessError(finding.message, hint=f"run `{finding.fix}`.")
    reason = health_service.emergency_reason(credential, report)
    if reason is not None:
        return RotationTrigger.EMERGENCY, reason
    return RotationTrigger.MANUAL, None


def health(
    name: Annotated[str | None, typer.Argument(help="One credential (default: all).")] = None,
    probe: Annotated[
        bool, typer.Option("--probe", help="Obtain a real token with the current certificate.")
    ] = False,
    offline: Annotated[
        bool,
        typer.Option("--offline", help="Do not ask NetSuite; local facts and stored observations only."),
    ] = False,
    max_age: Annotated[
        str | None,
        typer.Option(
            "--max-age",
            help="Answer from observations younger than this (e.g. 30m); check live only the rest.",
        ),
    ] = None,
    warn: Annotated[
        str | None, typer.Option("--warn", help="WARN when a certificate expires sooner (e.g. 14d).")
    ] = None,
    crit: Annotated[
        str | None, typer.Option("--crit", help="CRIT when a certificate expires sooner (e.g. 7d).")
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="A line for every credential, OK ones too.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """OK, WARN or CRIT per credential with the reason and the fix; exit code 0, 1 or 2 (3: unknown)."""
    from certrotor.durations import parse_duration
    from certrotor.errors import CertrotorError
    from certrotor.monitoring import UNKNOWN_EXIT_CODE, ExpiryThresholds, unknown_line

    try:
        youngest = parse_duration(max_age, allow_zero=True) if max_age is not None else None
        thresholds = ExpiryThresholds(
            warn=parse_duration(warn) if warn is not None else None,
            crit=parse_duration(crit) if crit is not None else None,
        )
        with (
            open_runtime(check_master_key=False) as runtime,
            _health_progress(runtime, name, quiet=as_json or offline) as on_checked,
        ):
            checked = _check_health(runtime, name, probe, offline, youngest, thresholds, on_checked)
    except CertrotorError as exc:
        # Monitoring reads the first line and the exit code: the check itself could not run.
        if as_json:
            print_json({"status": "UNKNOWN", "exit_code": UNKNOWN_EXIT_CODE, "error": str(exc)})
        else:
            console.print(unknown_line(str(exc)), markup=False)
        raise typer.Exit(UNKNOWN_EXIT_CODE) from None
    _print_health(checked, as_json=as_json, verbose=verbose, observed_ages=offline or youngest is not None)


@dataclasses.dataclass(frozen=True)
class _Checked:
    """What one `health` run found: the reports, and per credential its probe and unfinished rotation."""

    reports: list[HealthReport]
    now: dt.datetime
    thresholds: ExpiryThresholds
    probes: dict[str, tuple[bool, str | None]]
    steps: dict[str, str]
    """Credential name -> step of its unfinished rotation (not one waiting out its grace period)."""


def _check_health(
    runtime: Runtime,
    name: str | None,
    probe: bool,
    offline: bool,
    youngest: dt.timedelta | None,
    thresholds: ExpiryThresholds,
    on_checked: Callable[[str], None] | None = None,
) -> _Checked:
    from certrotor.monitoring import apply_thresholds
    from certrotor.services import health as health_service
    from certrotor.store import RotationStep

    names = [name] if name else None
    fleet = health_service.check_fleet(
        runtime, names, remote=not offline, probe=probe, max_age=youngest, on_checked=on_checked
    )
    now = runtime.now()
    reports = [apply_thresholds(report, now, thresholds) for report in fleet.reports]
    probes: dict[str, tuple[bool, str | None]] = {}
    steps: dict[str, str] = {}
    for snapshot in fleet.snapshots:  # read once by the check: the observations it used, live or stored
        credential = snapshot.credential
        observed = fleet.observations.get(credential.name)
        if probe and observed is not None and observed.probe_ok is not None:
            probes[credential.name] = (observed.probe_ok, observed.probe_error)
        if snapshot.rotation_open:
            rotation = runtime.store.open_rotation(credential)
            if rotation is not None and rotation.step is not RotationStep.RETIRE:
                steps[credential.name] = rotation.step.value
    return _Checked(reports, now, thresholds, probes, steps)


@contextlib.contextmanager
def _health_progress(
    runtime: Runtime, name: str | None, *, quiet: bool
) -> Iterator[Callable[[str], None] | None]:
    """While the checks run on a terminal: a bar on stderr naming the first credential not yet checked,
    removed before the summary is printed (stdout stays the plugin's output). Elsewhere: nothing."""
    if quiet or not (console.is_terminal and error_console.is_terminal):
        yield None
        return
    names = [name] if name else [credential.name for credential in runtime.store.list_credentials()]
    finished: set[str] = set()
    waiting = 0  # names[waiting] is the first credential not yet checked
    with FleetProgress(len(names), verb="checking", out=error_console) as progress:
        if names:
            progress.working_on(names[0])

        def on_checked(checked: str) -> None:
            nonlocal waiting
            finished.add(checked)
            while waiting < len(names) and names[waiting] in finished:
                waiting += 1
            progress.done(next_name=names[waiting] if waiting < len(names) else None)

        yield on_checked


def _print_health(checked: _Checked, *, as_json: bool, verbose: bool, observed_ages: bool) -> None:
    from certrotor.monitoring import days_left, perfdata, summary_line

    reports = checked.reports
    status = overall_status(reports)
    if as_json:
        credentials = []
        for report in reports:
            entry = report.to_dict()
            left = days_left(report, checked.now)
            entry["expiry_days"] = round(left, 3) if left is not None else None
            probed = checked.probes.get(report.name)
            entry["probe"] = {"ok": probed[0], "error": probed[1]} if probed else None
            step = checked.steps.get(report.name)
            entry["rotation_in_progress"] = {"step": step} if step else None
            credentials.append(entry)
        print_json(
            {
                "status": status.value,
                "exit_code": status.exit_code,
                "summary": summary_line(reports, checked.now, checked.thresholds).split(" | ")[0],
                "perfdata": perfdata(reports, checked.now, checked.thresholds),
                "credentials": credentials,
            }
        )
        raise typer.Exit(status.exit_code)
    summary = summary_line(reports, checked.now, checked.thresholds)
    # Off a terminal Rich adds nothing to these lines (no colour, no wrapping): written as they are,
    # which for 10,000 WARN credentials is seconds faster. Text Rich would change (tabs, control
    # characters, a name with markup) still goes through Rich, so the output is the same either way.
    plain = None
    if _writes_plainly():
        plain = _health_lines(checked, summary, verbose=verbose, observed_ages=observed_ages, plain=True)
    if plain is not None and all(_plain_safe(line) for line in plain):
        console.file.write("\n".join(plain) + "\n")
    else:
        markup = (
            _health_lines(checked, summary, verbose=verbose, observed_ages=observed_ages, plain=False) or []
        )
        console.print(markup[0])
        if len(markup) > 1:
            console.print("\n".join(markup[1:]))
    raise typer.Exit(status.exit_code)


def events(
    name: Annotated[str | None, typer.Argument(help="One credential (default: all).")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10000)] = 50,
    as_json: JsonOption = False,
) -> None:
    """The audit trail: who did what, when, with which outcome."""
    from certrotor.cli.output import add_row, print_table, table

    with open_runtime() as runtime:
        store = runtime.store
        credential = store.get_credential(name) if name else None
        rows = store.events(credential, limit=limit)
    if as_json:
        print_json(
            [
                {
                    "at": e.at,
                    "credential": e.credential_name,
                    "actor": e.actor,
                    "action": e.action,
                    "outcome": e.outcome.value,
                    "detail": e.detail,
                }
                for e in rows
            ]
        )
        return
    # Details are wrapped here at spaces only, so that the IDs in them stay whole; the other columns
    # wrap first.
    trail = table("at", "credential", "actor", "action", "outcome", "detail", ids={"credential", "detail"})
    for e in rows:
        pairs = (f"{k}={v}" for k, v in e.detail.items())
        detail = "\n".join(line for pair in pairs for line in _wrap_at_spaces(pair))
        when, who = format_time(e.at), e.credential_name or "-"
        add_row(trail, when, who, e.actor, e.action, e.outcome.value, detail)
    print_table(trail)


def _wrap_at_spaces(text: str, width: int = 60) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False) or [""]


def daemon(
    parallel: Annotated[int, typer.Option("--parallel", min=1, max=256, help="Rotations at once.")] = 4,
    interval: Annotated[float, typer.Option("--interval", min=0.05, help="Seconds between passes.")] = 5.0,
    lease: Annotated[float, typer.Option("--lease", min=5, help="Lease seconds per credential.")] = 300.0,
    once: Annotated[bool, typer.Option("--once", help="One pass, then exit.")] = False,
    no_reconcile: Annotated[
        bool, typer.Option("--no-reconcile", help="Skip the start-up reconcile.")
    ] = False,
    metrics_port: Annotated[
        int | None, typer.Option("--metrics-port", min=0, max=65535, help="Serve Prometheus /metrics here.")
    ] = None,
    metrics_host: Annotated[str, typer.Option("--metrics-host", help="Address for /metrics.")] = "127.0.0.1",
    web_port: Annotated[
        int | None,
        typer.Option("--web-port", min=0, max=65535, help="Also serve the web console on 127.0.0.1 here."),
    ] = None,
    broker_port: Annotated[
        int | None,
        typer.Option("--broker-port", min=0, max=65535, help="Serve the token broker on 127.0.0.1 here too."),
    ] = None,
    observe_interval: Annotated[
        str,
        typer.Option(
            "--observe-interval",
            help="Observe every credential on NetSuite this often (jittered; 0: never), e.g. 15m.",
        ),
    ] = "15m",
) -> None:
    """Rotate every credential before it expires, forever; SIGTERM finishes the step and exits."""
    from certrotor.daemon import Daemon
    from certrotor.durations import parse_duration
    from certrotor.metrics import DaemonMetrics
    from certrotor.services.alerting import Notifier

    every = parse_duration(observe_interval, allow_zero=True).total_seconds()

    with open_runtime(service=True) as runtime, ExitStack() as web:
        if web_port is not None:
            from certrotor.web.console import ConsoleOptions, serve_beside

            # The daemon observes: the console reads its observations, stale after two of its intervals.
            beside = ConsoleOptions(
                observe_interval_seconds=0, stale_after=dt.timedelta(seconds=2 * every) if every else None
            )
            url = web.enter_context(serve_beside(runtime, web_port, options=beside))
            console.print(f"certrotor console on {url}", highlight=False)
        if broker_port is not None:
            from certrotor.broker.server import serve_beside as serve_broker_beside

            url = web.enter_context(serve_broker_beside(runtime, broker_port))
            console.print(f"Token broker on {url}", highlight=False)
        metrics = DaemonMetrics() if metrics_port is not None else None
        if metrics is not None and metrics_port is not None:
            try:
                bound = metrics.serve(metrics_host, metrics_port)
            except OSError as exc:
                raise InputError(
                    f"Cannot serve metrics on {metrics_host}:{metrics_port} ({exc.strerror}).",
                    hint="choose a free port with --metrics-port.",
                ) from None
            console.print(f"Prometheus metrics on http://{metrics_host}:{bound}/metrics", highlight=False)
        service = Daemon(
            runtime,
            parallel=parallel,
            interval=interval,
            lease_seconds=lease,
            reconcile_on_start=not no_reconcile,
            metrics=metrics,
            observe_interval=every or None,
            notifier=Notifier.from_settings(runtime.settings, runtime.store, recorder=metrics),
        )
        service.install_signal_handlers()
        try:
            service.run(max_ticks=1 if once else None)
        finally:
            if service.notifier is not None:
                service.notifier.close()  # queued alerts get their chance before the exit
            if metrics is not None:
                metrics.close()


def format_age(age: dt.timedelta) -> str:
    """``42s``, ``5m``, ``3h``, ``2d``: how old an observation is, to the unit people read."""
    seconds = max(0, int(age.total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _writes_plainly() -> bool:
    """Whether Rich would print text to stdout as it is: not a terminal, no colour."""
    return not console.is_terminal and console.color_system is None and not console.is_jupyter


def _plain_safe(line: str) -> bool:
    """Whether Rich prints ``line`` unchanged: printable characters only (no tab to expand, no
    control character to strip)."""
    return line.isprintable()


def _health_lines(
    checked: _Checked, summary: str, *, verbose: bool, observed_ages: bool, plain: bool
) -> list[str] | None:
    """The summary line, then the block of each credential worth showing; as plain text, or as Rich
    markup (plain text escaped, statuses styled). Every block is printed at once (one Rich call, not
    one a line: 10,000 WARN credentials are 30,000 lines). None when a name holds a bracket, which the
    markup takes as it is (plain text would differ)."""

    def text(value: str) -> str:
        return value if plain else escape(value)

    def tag(status: HealthStatus) -> str:
        return status.value if plain else f"[{_STATUS_STYLE[status]}]{status.value}[/]"

    lines = [text(summary)]
    if not checked.reports:
        lines.append("No credentials. Add one with `certrotor credential add`.")
    for report in checked.reports:
        step = checked.steps.get(report.name)
        if report.status is HealthStatus.OK and not verbose and step is None:
            continue
        mode = f" (record, mode {report.mode})" if report.mode else ""
        if plain and "[" in f"{report.name}{mode}":
            return None  # Rich reads brackets there as markup: only Rich prints it as before
        age = ""
        if report.observation_age is not None and observed_ages:
            age = f" (observed {format_age(report.observation_age)} ago)"
        lines.append(f"{tag(report.status)} {report.name}{mode}: {text(report.summary)}{age}")
        if step is not None:
            lines.append(
                text(
                    f"  rotation in progress, stopped in step {step}: `certrotor rotate {report.name}` "
                    "resumes it (or the daemon does)"
                )
            )
        probed = checked.probes.get(report.name)
        if probed is not None:
            lines.append(
                text("  probe: a token was obtained" if probed[0] else f"  probe: failed: {probed[1]}")
            )
        for reason in report.reasons:
            lines.append(f"  - {tag(reason.status)} {text(reason.message)}")
            if reason.fix:
                lines.append(text(f"    fix: {reason.fix}"))
    return lines
