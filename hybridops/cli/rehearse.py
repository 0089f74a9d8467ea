"""`hybridops rehearse ID`: a drill of an incident against a local sandbox, no AWS account needed."""

from __future__ import annotations

from pathlib import Path

import typer

DEFAULT_DRILL_SCALE = 120.0  # 10 simulated minutes pass in 5 seconds


def register(app: typer.Typer) -> None:
    @app.command("rehearse")
    def rehearse(
        runbook: str = typer.Argument(..., help="Runbook id (e.g. bedrock-failure) or path."),
        scenario: str | None = typer.Option(None, "--scenario", help="Sandbox scenario (default: the incident's)."),
        auto: bool = typer.Option(False, "--auto", help="Answer every prompt as --yes does."),
        time_scale: float = typer.Option(DEFAULT_DRILL_SCALE, "--time-scale", min=0.001,
                                         help="Divide every wait, interval, timeout and budget by this."),
        report: Path | None = typer.Option(None, "--report", help="Write the drill report (.json or .md)."),
        var: list[str] = typer.Option([], "--var", help="Set a variable: NAME=VALUE (repeatable)."),
        answer: list[str] = typer.Option([], "--answer", help="Answer a question step: STEP=VALUE (repeatable)."),
        audit_dir: Path | None = typer.Option(None, "--audit-dir", help="Where the audit log is written."),
        output: str = typer.Option("text", "--output", help="text or json."),
        runbooks: Path | None = typer.Option(None, "--runbooks", help="Directory of runbooks."),
    ) -> int:
        """Rehearse an incident against a built-in sandbox and report whether the system recovered."""
        import json
        import sys

        from hybridops.cli import console
        from hybridops.cli.launch import execute, interactive_terminal, interrupts_stop_the_run, new_audit, prepare
        from hybridops.config import parse_assignments
        from hybridops.drill import drill_report, report_markdown
        from hybridops.engine.context import RunOptions
        from hybridops.errors import UsageError
        from hybridops.runbook.catalog import find_runbook
        from hybridops.runbook.load import load_runbook
        from hybridops.sandbox import SCENARIO_FOR_INCIDENT, SCENARIOS

        if output not in ("text", "json"):
            raise UsageError("--output must be text or json")
        if report is not None and report.suffix not in (".json", ".md"):
            raise UsageError("--report must end in .json or .md")
        path = find_runbook(runbook, runbooks)
        rb = load_runbook(path).runbook
        chosen = scenario or rb.scenario or SCENARIO_FOR_INCIDENT.get(rb.id)
        if chosen not in SCENARIOS:
            raise UsageError(f"unknown scenario {chosen!r}; choose one of {', '.join(SCENARIOS)}")
        options = RunOptions(
            yes=auto, interactive=interactive_terminal() and not auto and output == "text",
            answers=parse_assignments(answer, "--answer"), time_scale=time_scale, drill=True, scenario=chosen,
            argv=tuple(sys.argv),
        )
        with interrupts_stop_the_run(), drill_world(chosen, time_scale) as (sandbox, env):
            prepared = prepare(path, options=options, flag_vars=var, profile=None, config_path=None,
                               audit_dir=audit_dir, env=env)
            open_audit = new_audit(prepared.settings, rb.id)
            # Real seconds since the scenario began, by the sandbox's own clock.
            clock_start: dict[str, float] = {}

            def response_clock(event: str, fields: dict) -> None:
                # The response clock starts with run_started: real seconds since the scenario began,
                # by the sandbox's own clock, so start-up and preflight do not count as response time.
                if event == "run_started":
                    clock_start["offset"] = sandbox.status()["simulated_seconds"] / time_scale

            result = execute(prepared, options=options, output=output, open_audit=open_audit,
                             watchers=[response_clock])
            data = drill_report(result, incident=rb.id, scenario=chosen, sandbox_status=sandbox.status(),
                                run_offset_s=clock_start.get("offset", 0.0))
        if report is not None:
            text = json.dumps(data, indent=2) + "\n" if report.suffix == ".json" else report_markdown(data)
            report.write_text(text, encoding="utf-8")
        if output == "json":
            print(json.dumps({"event": "drill_report", **data}, separators=(",", ":")))
        else:
            verdict = "[green]RECOVERED[/]" if data["recovered"] else "[bold red]NOT RECOVERED[/]"
            ttm = data["time_to_mitigation_world_s"]
            console.out().print(f"drill {rb.id} in scenario {chosen}: {verdict} "
                                f"(final health {data['final_health']}; time to mitigation "
                                f"{'n/a' if ttm is None else f'≈{ttm:g}s real-world'})")
            if report is not None:
                console.out().print(f"report written to {report}")
        return 0 if data["recovered"] else 1


def drill_world(scenario: str, time_scale: float):
    """A started sandbox and the environment that points a run at it, isolated from the operator's
    own AWS and hybridops configuration (a drill must never reach a real account)."""
    import os
    import tempfile
    from contextlib import contextmanager

    from hybridops.sandbox import Sandbox

    @contextmanager
    def world():
        saved = dict(os.environ)
        with tempfile.TemporaryDirectory(prefix="hybridops-drill-") as tmp, \
                Sandbox(scenario=scenario, time_scale=time_scale) as sb:
            empty = Path(tmp) / "config.toml"
            empty.write_text("", encoding="utf-8")
            for name in list(os.environ):
                if name.startswith(("AWS_", "HYBRIDOPS_")) and name != "HYBRIDOPS_AUDIT_DIR":
                    del os.environ[name]
            os.environ.update(sb.env)
            os.environ["AWS_CONFIG_FILE"] = os.environ["AWS_SHARED_CREDENTIALS_FILE"] = str(Path(tmp) / "none")
            os.environ["HYBRIDOPS_CONFIG"] = str(empty)
            for key, value in getattr(sb, "notify_env", {}).items():
                os.environ[key] = value
            try:
                yield sb, dict(os.environ)
            finally:
                os.environ.clear()
                os.environ.update(saved)

    return world()
