"""`hybridops incident ID`: run a runbook against AWS and the admin API."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("incident")
    def incident(
        runbook: str = typer.Argument(..., help="Runbook id (e.g. bedrock-failure) or path to a runbook file."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Show every request; send nothing."),
        read_only: bool = typer.Option(False, "--read-only", help="Run read steps for real, skip mutating ones."),
        yes: bool = typer.Option(False, "--yes", "-y", help="Confirm every mutating step and question."),
        var: list[str] = typer.Option([], "--var", help="Set a variable: NAME=VALUE (repeatable)."),
        answer: list[str] = typer.Option([], "--answer", help="Answer a question step: STEP=VALUE (repeatable)."),
        profile: str | None = typer.Option(None, "--profile", help="Configuration profile (prod, staging...)."),
        config: Path | None = typer.Option(None, "--config", help="Configuration file (TOML or YAML)."),
        time_scale: float = typer.Option(1.0, "--time-scale", min=0.001,
                                         help="Divide every wait, interval, timeout and budget by this."),
        audit_dir: Path | None = typer.Option(None, "--audit-dir", help="Where the audit log is written."),
        output: str = typer.Option("text", "--output", help="text or json (one JSON event per line)."),
        insecure: bool = typer.Option(False, "--insecure", help="Allow plain http:// to a non-loopback admin URL."),
        skip_preflight: bool = typer.Option(False, "--skip-preflight", help="Skip the STS identity check."),
        runbooks: Path | None = typer.Option(None, "--runbooks", help="Directory of runbooks."),
    ) -> int:
        """Run an incident runbook step by step, every action audited."""
        import sys

        from hybridops.cli.launch import execute, interactive_terminal, interrupts_stop_the_run, new_audit, prepare
        from hybridops.config import parse_assignments
        from hybridops.engine.context import RunOptions
        from hybridops.errors import UsageError
        from hybridops.runbook.catalog import find_runbook

        if output not in ("text", "json"):
            raise UsageError("--output must be text or json")
        options = RunOptions(
            dry_run=dry_run, read_only=read_only, yes=yes,
            interactive=interactive_terminal() and not yes and output == "text",
            answers=parse_assignments(answer, "--answer"), time_scale=time_scale, insecure=insecure,
            skip_preflight=skip_preflight, argv=tuple(sys.argv),
        )
        with interrupts_stop_the_run():
            prepared = prepare(find_runbook(runbook, runbooks), options=options, flag_vars=var, profile=profile,
                               config_path=config, audit_dir=audit_dir)
            result = execute(prepared, options=options, output=output,
                             open_audit=new_audit(prepared.settings, prepared.loaded.runbook.id))
        return 0 if result.status == "completed" else 1
