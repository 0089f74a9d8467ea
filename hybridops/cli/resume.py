"""`hybridops resume RUN_ID`: continue an interrupted run from its audit log."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from hybridops.cli.console import set_verbosity
from hybridops.cli.holding import TAKE_OVER_HELP
from hybridops.cli.options import (
    Output,
    aws_profile_option,
    config_option,
    insecure_option,
    profile_option,
    quiet_option,
    verbose_option,
)
from hybridops.durations import MAX_TIME_SCALE

if TYPE_CHECKING:
    from hybridops.engine.resume import ResumePlan
    from hybridops.events import RunStarted


def register(app: typer.Typer) -> None:
    @app.command("resume")
    def resume(
        run_id: str = typer.Argument(..., help="The audit log's name without .jsonl (or its path)."),
        yes: bool = typer.Option(False, "--yes", "-y", help="Confirm mutating steps, including re-sending one "
                                                            "whose outcome is unknown."),
        time_scale: float | None = typer.Option(None, "--time-scale", min=0.001, max=MAX_TIME_SCALE,
                                                help="Override the run's time scale."),
        force: bool = typer.Option(False, "--force", help="Resume even if the runbook file changed."),
        profile: str | None = profile_option(),
        aws_profile: str | None = aws_profile_option(),
        config: Path | None = config_option(),
        audit_dir: Path | None = typer.Option(None, "--audit-dir", help="Where the audit logs are."),
        output: Output = typer.Option(Output.text, "--output", help="text, or json."),
        quiet: bool = quiet_option(),
        verbose: bool = verbose_option(),
        insecure: bool = insecure_option(),
        from_step: str | None = typer.Option(None, "--from", help="Continue from this step instead (e.g. an "
                                             "earlier one, to read again values that went stale)."),
        skip_preflight: bool = typer.Option(False, "--skip-preflight", help="Skip the STS identity check of "
                                                                            "the operator taking over."),
        take_over: bool = typer.Option(False, "--take-over", help=TAKE_OVER_HELP),
    ) -> int:
        """Continue an interrupted run where it stopped, appending to the same audit log: a shift
        hand-over. The new operator is recorded; a different AWS account, region or admin URL than the
        run started with must be confirmed (or --yes); the values captured before are shown."""
        set_verbosity(quiet, verbose)

        import sys

        from hybridops.audit.log import locate_log
        from hybridops.cli import console
        from hybridops.cli.holding import hold_incident
        from hybridops.cli.launch import Prepared, execute, interactive_terminal, interrupts_stop_the_run, prepare
        from hybridops.cli.render import describe_request
        from hybridops.config import audit_key, kms_sealer, resolve_settings
        from hybridops.engine.context import RunOptions
        from hybridops.engine.incident import calls_aws, preflight_identity
        from hybridops.engine.resume import Handover, find_resumable, handover_changes, plan_resume, reopen
        from hybridops.engine.steps.aws import AwsRunner
        from hybridops.errors import RUN_EXIT_CODES, ResumeRefused

        base = resolve_settings(config_path=config, profile=profile, flag_audit_dir=audit_dir)
        resumable = find_resumable(locate_log(run_id, Path(base.audit_dir.value)), force=force)
        started = resumable.started
        options = RunOptions(
            dry_run=started.dry_run, read_only=started.read_only, yes=yes,
            interactive=interactive_terminal() and not yes and output == "text",
            answers=dict(started.answers),
            time_scale=time_scale if time_scale is not None else started.time_scale,
            insecure=insecure, skip_preflight=True, argv=tuple(sys.argv),
        )
        with interrupts_stop_the_run():
            prepared = prepare(resumable.runbook_path, options=options, flag_vars=[], profile=profile,
                               config_path=config, audit_dir=audit_dir, require_variables=False,
                               aws_profile=aws_profile)
            variables = resumable.variables(prepared.variables)
            runbook = prepared.loaded.runbook
            s = prepared.settings
            # A run that cannot be resumed is refused before any request; then who takes over, and
            # where the run would now reach: settled before the log is touched.
            plan = plan_resume(resumable.records, runbook, variables, from_step)
            aws = AwsRunner(profile=s.aws_profile.value, region=s.aws_region.value)
            who = preflight_identity(aws, dry_run=started.dry_run, skip=skip_preflight, needed=calls_aws(runbook))
            changes = handover_changes(started, aws_caller_arn=who.aws_caller_arn, aws_region=s.aws_region.value,
                                       admin_url=s.admin_url.value.rstrip("/"))
            _show_handover(started, who.operator, plan, changes)
            confirmed = None
            if changes:
                if yes:
                    confirmed = "--yes"
                elif options.interactive and _confirm("Continue the run against what changed?"):
                    confirmed = "operator"
                else:
                    raise ResumeRefused("the run started against something else (" + "; ".join(changes)
                                        + "): confirm at a terminal, or resume with --yes")
            handover = Handover(operator=who.operator, aws_caller_arn=who.aws_caller_arn, changes=changes,
                                changes_confirmed=confirmed, from_step=from_step)
            # The run re-takes its own incident's lock (its killed process released it); another live run
            # of the incident must be taken over.
            # the incident the run held its lock as (a log without it: the runbook's own id)
            lease, noted = hold_incident(resumable.path.parent, incident=started.runbook.id or runbook.id,
                                         run_id=str(resumable.records[0].get("run_id") or resumable.path.stem),
                                         options=options, take_over=take_over, settings=s, aws=aws)
            try:
                again = reopen(resumable, runbook, variables, secrets=s.secrets(), argv=sys.argv, handover=handover,
                               key=audit_key(s), sealer=None if started.dry_run else kms_sealer(s))
            except BaseException:
                if lease is not None:
                    lease.release()
                raise
            if again.repaired is not None:
                console.err().print(f"repaired the log: cut a torn last line of {again.repaired.torn_bytes} bytes "
                                    f"({again.repaired.reason})")
            if again.plan.unknown_request is not None:
                console.out().print(f"step {again.plan.from_step} was interrupted after sending: "
                                    f"{describe_request(again.plan.unknown_request.call)} — its outcome is unknown")
            try:
                result = execute(Prepared(prepared.loaded, prepared.settings, variables), options=options,
                                 output=output, open_audit=lambda: again.log, state=again.plan.state,
                                 resumed=again.resumed, earlier_records=again.records, aws=aws, noted=noted,
                                 lease=lease)
            finally:
                if lease is not None:
                    lease.release()
        return RUN_EXIT_CODES[result.status]


def _show_handover(started: RunStarted, operator: str, plan: ResumePlan, changes: tuple[str, ...]) -> None:
    """What the operator taking over needs before anything is sent: whose run, what changed, and the
    values captured before the interruption (they may be stale by now)."""
    from hybridops.cli import console
    from hybridops.cli.render import short_value

    err = console.err()
    by = started.aws_caller_arn or started.operator or "unknown"
    handover = "" if by == operator else f"; you are {operator}"
    err.print(f"resuming a run started by {by}{handover}", markup=False, highlight=False)
    for change in changes:
        err.print(f"  changed since the run started: {change}", markup=False, highlight=False)
    captures = {k: v for k, v in plan.state.captures.items() if not isinstance(v, dict)}
    if captures:
        err.print("  captured before the interruption (re-read them with --from STEP if they may be stale):",
                  markup=False, highlight=False)
        for name, value in captures.items():
            err.print(f"    {name} = {short_value(value)}", markup=False, highlight=False)


def _confirm(question: str) -> bool:
    from hybridops.cli import console
    from hybridops.cli.prompts import RichPrompter

    return RichPrompter(console.err()).confirm(question, default=False)
