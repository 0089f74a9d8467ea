"""`hybridops incident ID`: run a runbook against AWS and the admin API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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


def register(app: typer.Typer) -> None:
    @app.command("incident")
    def incident(
        runbook: str = typer.Argument(..., help="Runbook id (e.g. bedrock-failure) or path to a runbook file."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Show every request; send nothing."),
        read_only: bool = typer.Option(False, "--read-only", help="Run read steps for real, skip mutating ones."),
        yes: bool = typer.Option(False, "--yes", "-y", help="Confirm every mutating step and question."),
        var: list[str] = typer.Option([], "--var", help="Set a variable: NAME=VALUE (repeatable)."),
        answer: list[str] = typer.Option([], "--answer", help="Answer a question step: STEP=VALUE (repeatable)."),
        profile: str | None = profile_option(
            "The hybridops configuration profile (prod, staging...): settings, not AWS credentials (see "
            "--aws-profile)."),
        aws_profile: str | None = aws_profile_option(),
        config: Path | None = config_option(),
        time_scale: float = typer.Option(1.0, "--time-scale", min=0.001, max=MAX_TIME_SCALE,
                                         help="Divide every wait, interval, timeout and budget by this."),
        audit_dir: Path | None = typer.Option(None, "--audit-dir", help="Where the audit log is written."),
        output: Output = typer.Option(Output.text, "--output", help="text, or json (one JSON event per line)."),
        quiet: bool = quiet_option(),
        verbose: bool = verbose_option(),
        insecure: bool = insecure_option(),
        skip_preflight: bool = typer.Option(False, "--skip-preflight", help="Skip the STS identity check."),
        start_at: str | None = typer.Option(None, "--start-at", help="Begin the run at this step (recorded)."),
        skip: list[str] = typer.Option([], "--skip", help="Skip this step (repeatable; recorded)."),
        step_by_step: bool = typer.Option(False, "--step", help="Confirm every step before it runs, not only "
                                                                "the mutating ones (at a terminal)."),
        no_notify: bool = typer.Option(False, "--no-notify", help="Skip every notification step (recorded in "
                                                                  "the log); Slack and PagerDuty need no settings."),
        runbooks: Path | None = typer.Option(None, "--runbooks", help="Directory of runbooks."),
        take_over: bool = typer.Option(False, "--take-over", help=TAKE_OVER_HELP),
        check_permissions: bool = typer.Option(
            False, "--check-permissions",
            help="Before the first step (after STS), ask IAM's SimulatePrincipalPolicy whether the caller may "
                 "call every AWS action of the runbook (as `hybridops preflight`): a denied mutating action "
                 "stops the run there, nothing sent (exit 1); a denied read is a warning."),
    ) -> int:
        """Run an incident runbook step by step, every action audited."""
        set_verbosity(quiet, verbose)

        import sys

        from hybridops.cli.holding import hold_incident
        from hybridops.cli.launch import execute, interactive_terminal, interrupts_stop_the_run, new_audit, prepare
        from hybridops.config import parse_assignments
        from hybridops.engine.context import RunOptions
        from hybridops.engine.lock import IncidentTakenOver
        from hybridops.errors import RUN_EXIT_CODES, RunStopped
        from hybridops.runbook.catalog import find_runbook

        options = RunOptions(
            dry_run=dry_run, read_only=read_only, yes=yes,
            interactive=interactive_terminal() and not yes and output == "text",
            answers=parse_assignments(answer, "--answer"), time_scale=time_scale, insecure=insecure,
            skip_preflight=skip_preflight, no_notify=no_notify, start_at=start_at, skip=tuple(skip),
            step_by_step=step_by_step, argv=tuple(sys.argv),
        )
        with interrupts_stop_the_run():
            prepared = prepare(find_runbook(runbook, runbooks), options=options, flag_vars=var, profile=profile,
                               config_path=config, audit_dir=audit_dir,
                               aws_profile=aws_profile)
            checked_aws = None
            if check_permissions:
                from hybridops.cli.preflight import check_run_permissions

                checked_aws = check_run_permissions(prepared, options)  # its session serves the run too
            opener = new_audit(prepared.settings, prepared.loaded.runbook.id, dry_run=dry_run)
            lease, noted = hold_incident(opener.directory, incident=prepared.loaded.runbook.id, run_id=opener.run_id,
                                         options=options, take_over=take_over, settings=prepared.settings)
            try:
                result = execute(prepared, options=options, output=output, open_audit=opener, noted=noted,
                                 lease=lease, aws=checked_aws)
            except RunStopped as exc:
                # A run whose incident was taken over leaves the undo to the run that holds it now.
                if options.interactive and not options.dry_run and exc.result is not None \
                        and not isinstance(exc, IncidentTakenOver):
                    offer_undo(exc, prepared, config=config, profile=profile, audit_dir=audit_dir,
                               insecure=insecure, aws_profile=aws_profile, lease=lease)
                raise
            finally:
                if lease is not None:
                    lease.release()
        return RUN_EXIT_CODES[result.status]


def offer_undo(exc: Any, prepared: Any, *, config: Path | None, profile: str | None, audit_dir: Path | None,
               insecure: bool, aws_profile: str | None, lease: Any = None) -> None:
    """At a terminal, after a run failed or was aborted: offer to undo the changes it completed."""
    from hybridops.cli import console
    from hybridops.cli.prompts import RichPrompter
    from hybridops.cli.undo import undo_run
    from hybridops.config import audit_directory
    from hybridops.engine.undo import NothingToUndo

    path = audit_directory(prepared.settings, create=False) / f"{exc.result.run_id}.jsonl"
    err = console.err()
    question = f"The run stopped ({exc}). Undo the changes it completed, newest first?"
    if not RichPrompter(console.out()).confirm(question, default=False):
        return
    try:
        undo_run(path, yes=False, dry_run=False, profile=profile, config=config, audit_dir=audit_dir, output="text",
                 insecure=insecure, aws_profile=aws_profile, hold=False, lease=lease)  # the run's lock
    except NothingToUndo as nothing:
        err.print(f"{nothing}", markup=False, highlight=False)
