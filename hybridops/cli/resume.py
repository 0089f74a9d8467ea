"""`hybridops resume RUN_ID`: continue an interrupted run from its audit log."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("resume")
    def resume(
        run_id: str = typer.Argument(..., help="The audit log's name without .jsonl (or its path)."),
        yes: bool = typer.Option(False, "--yes", "-y", help="Confirm mutating steps, including re-sending one "
                                                            "whose outcome is unknown."),
        time_scale: float | None = typer.Option(None, "--time-scale", min=0.001,
                                                help="Override the run's time scale."),
        force: bool = typer.Option(False, "--force", help="Resume even if the runbook file changed."),
        profile: str | None = typer.Option(None, "--profile", help="Configuration profile."),
        config: Path | None = typer.Option(None, "--config", help="Configuration file (TOML or YAML)."),
        audit_dir: Path | None = typer.Option(None, "--audit-dir", help="Where the audit logs are."),
        output: str = typer.Option("text", "--output", help="text or json."),
        insecure: bool = typer.Option(False, "--insecure", help="Allow plain http:// to a non-loopback admin URL."),
    ) -> int:
        """Continue an interrupted run where it stopped, appending to the same audit log."""
        import hashlib
        import sys

        from hybridops.audit.log import AuditLog, locate_log, read_log
        from hybridops.cli import console
        from hybridops.cli.launch import execute, interactive_terminal, interrupts_stop_the_run, prepare
        from hybridops.cli.render import describe_request
        from hybridops.config import resolve_settings
        from hybridops.engine.context import RunOptions
        from hybridops.engine.resume import plan_resume
        from hybridops.errors import ResumeRefused, UsageError

        if output not in ("text", "json"):
            raise UsageError("--output must be text or json")
        base = resolve_settings(config_path=config, profile=profile, flag_audit_dir=audit_dir)
        path = locate_log(run_id, Path(base.audit_dir.value))
        records = read_log(path).records
        if not records or records[0].get("event") != "run_started":
            raise ResumeRefused(f"{path}: not a run's audit log (no run_started)")
        started = records[0]
        if started.get("drill"):
            raise ResumeRefused("a drill's sandbox ended with it; start the drill again with `hybridops rehearse`")
        rb_info = started.get("runbook") or {}
        rb_path = Path(rb_info.get("path", ""))
        if not rb_path.is_file():
            raise ResumeRefused(f"the runbook {rb_path} of this run is gone")
        digest = hashlib.sha256(rb_path.read_bytes()).hexdigest()
        if digest != rb_info.get("sha256") and not force:
            raise ResumeRefused(f"the runbook {rb_path} changed since the run started (SHA-256 differs); "
                                "resume with --force to use the new version")
        options = RunOptions(
            dry_run=bool(started.get("dry_run")), read_only=bool(started.get("read_only")), yes=yes,
            interactive=interactive_terminal() and not yes and output == "text",
            answers=dict(started.get("answers") or {}),
            time_scale=time_scale if time_scale is not None else float(started.get("time_scale") or 1.0),
            insecure=insecure, skip_preflight=True, argv=tuple(sys.argv),
        )
        with interrupts_stop_the_run():
            prepared = prepare(rb_path, options=options, flag_vars=[], profile=profile, config_path=config,
                               audit_dir=audit_dir, require_variables=False)
            # The run goes on with its own values; secrets (masked in the log) come from the configuration.
            restored = {k: v for k, v in (started.get("variables") or {}).items() if v != "***"}
            variables = {**prepared.variables, **restored}
            plan_resume(records, prepared.loaded.runbook, variables)  # refuse before touching the file
            log, records, torn = AuditLog.open_for_append(path, secrets=prepared.settings.secrets())
            if torn is not None:
                log.append("log_repaired", torn_bytes=torn.torn_bytes, reason=torn.reason)
                console.err().print(f"repaired the log: cut a torn last line of {torn.torn_bytes} bytes "
                                    f"({torn.reason})")
            try:
                plan = plan_resume(records, prepared.loaded.runbook, variables)
            except ResumeRefused:
                log.close()
                raise
            if plan.unknown_request is not None:
                console.out().print(f"step {plan.from_step} was interrupted after sending: "
                                    f"{describe_request(plan.unknown_request)} — its outcome is unknown")
            resumed = {"from_step": plan.from_step, "from_seq": records[-1]["seq"] + 1, "argv": list(sys.argv),
                       "runbook_sha256": digest, "unknown_request": plan.unknown_request is not None}
            result = execute(prepared.__class__(prepared.loaded, prepared.settings, variables), options=options,
                             output=output, open_audit=lambda: log, state=plan.state, resumed=resumed,
                             earlier_records=records)
        return 0 if result.status == "completed" else 1
