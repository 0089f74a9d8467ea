"""`hybridops undo RUN_ID`: reverse a run's completed changes that declare an undo, newest first."""

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


def register(app: typer.Typer) -> None:
    @app.command("undo")
    def undo(
        run_id: str = typer.Argument(..., help="The run to undo: its id, a unique prefix of it, `last`, or a "
                                               "path to its log."),
        yes: bool = typer.Option(False, "--yes", "-y", help="Confirm every undo without asking."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Show the plan: every request it would send."),
        profile: str | None = profile_option(),
        aws_profile: str | None = aws_profile_option(),
        config: Path | None = config_option(),
        audit_dir: Path | None = typer.Option(None, "--audit-dir", help="Where the audit logs are."),
        output: Output = typer.Option(Output.text, "--output", help="text, or json."),
        quiet: bool = quiet_option(),
        verbose: bool = verbose_option(),
        insecure: bool = insecure_option(),
        take_over: bool = typer.Option(False, "--take-over", help=TAKE_OVER_HELP),
    ) -> int:
        """Undo a run: each of its completed mutating steps that declares an `undo`, newest first, each
        shown and confirmed (or --yes), audited in a log of its own linked to the run."""
        set_verbosity(quiet, verbose)

        from hybridops.audit.log import locate_log
        from hybridops.config import audit_directory, resolve_settings

        settings = resolve_settings(config_path=config, profile=profile, flag_audit_dir=audit_dir)
        path = locate_log(run_id, audit_directory(settings, create=False))
        return undo_run(path, yes=yes, dry_run=dry_run, profile=profile, config=config, audit_dir=audit_dir,
                        output=output, insecure=insecure, aws_profile=aws_profile, take_over=take_over)


def undo_run(path: Path, *, yes: bool, dry_run: bool, profile: str | None, config: Path | None,
             audit_dir: Path | None, output: str, insecure: bool, aws_profile: str | None = None,
             take_over: bool = False, hold: bool = True, lease: Any = None) -> int:
    """Plan the undo of the run logged at `path`, show it, and run it (also after a failed run).

    An undo changes the incident's systems, so it holds the incident as a run does (`hold`: False when
    the caller's run holds it already: the undo offered after a failed run, which checks that run's
    `lease` as the run did)."""
    import sys

    from hybridops.cli import console
    from hybridops.cli.holding import hold_incident
    from hybridops.cli.launch import (
        Prepared,
        execute,
        interactive_terminal,
        interrupts_stop_the_run,
        new_audit,
        prepare,
    )
    from hybridops.engine.context import RunOptions
    from hybridops.engine.resume import find_resumable
    from hybridops.engine.run import RunState
    from hybridops.engine.undo import plan_undo, undo_runbook
    from hybridops.errors import RUN_EXIT_CODES

    original = find_resumable(path, force=False, finished_too=True)
    options = RunOptions(dry_run=dry_run, yes=yes, interactive=interactive_terminal() and not yes and output == "text",
                         insecure=insecure, argv=tuple(sys.argv), undo_of=path.stem)
    with interrupts_stop_the_run():
        prepared = prepare(original.runbook_path, options=options, flag_vars=[], profile=profile, config_path=config,
                           audit_dir=audit_dir, require_variables=False, aws_profile=aws_profile)
        plan = plan_undo(path.stem, original.records, prepared.loaded.runbook)
        out: Any = console.out()
        if output == "text":
            out.print(f"undo of run {path.stem}: {len(plan.steps)} change(s), newest first", markup=False)
            for step in plan.steps:
                out.print(f"  {step.id}: {step.title}", markup=False, highlight=False)
            for sid in plan.cannot:
                out.print(f"  {sid}: cannot be undone automatically (it declares no undo): reverse it by hand",
                          markup=False, highlight=False)
        variables = original.variables(prepared.variables)
        state = RunState(variables=variables, captures=dict(plan.captures))
        loaded = undo_runbook(plan, prepared.loaded)
        opener = new_audit(prepared.settings, f"{prepared.loaded.runbook.id}-undo")
        lease, noted = (hold_incident(opener.directory, incident=prepared.loaded.runbook.id, run_id=opener.run_id,
                                      options=options, take_over=take_over, settings=prepared.settings)
                        if hold else (lease, []))
        try:
            result = execute(Prepared(loaded, prepared.settings, variables), options=options, output=output,
                             open_audit=opener, state=state, noted=noted, lease=lease)
        finally:
            if lease is not None and hold:  # the caller's run releases its own
                lease.release()
    return RUN_EXIT_CODES[result.status]
