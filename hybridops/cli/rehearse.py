"""`hybridops rehearse ID | --all`: drills against a built-in sandbox on simulated time, no AWS needed."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from hybridops.cli.console import set_verbosity
from hybridops.cli.options import Output, quiet_option, verbose_option

if TYPE_CHECKING:
    from hybridops.engine.steps.aws import AwsRunner
    from hybridops.sandbox import Sandbox


def register(app: typer.Typer) -> None:
    @app.command("rehearse")
    def rehearse(
        runbook: str | None = typer.Argument(None, help="Runbook id (e.g. bedrock-failure) or path."),
        all_: bool = typer.Option(False, "--all", help="Drill every runbook, each in its own scenario; one table."),
        scenario: str | None = typer.Option(None, "--scenario", help="Sandbox scenario (default: the incident's)."),
        auto: bool = typer.Option(False, "--auto", help="Answer every prompt as --yes does."),
        seed: int = typer.Option(0, "--seed", help="Seed of the simulated world and of --faults; the same "
                                                   "seed and answers give the same drill."),
        faults: bool = typer.Option(False, "--faults", help="Inject seeded faults: admin 503 bursts, slow "
                                                            "answers, AWS throttling, a component going down."),
        report: Path | None = typer.Option(None, "--report", help="Write the drill report (.json or .md); with "
                                                                  "--all, a directory for every report and a summary."),
        var: list[str] = typer.Option([], "--var", help="Set a variable: NAME=VALUE (repeatable)."),
        answer: list[str] = typer.Option([], "--answer", help="Answer a question step: STEP=VALUE (repeatable)."),
        audit_dir: Path | None = typer.Option(None, "--audit-dir", help="Where the audit log is written."),
        output: Output = typer.Option(Output.text, "--output", help="text, or json."),
        quiet: bool = quiet_option(),
        verbose: bool = verbose_option(),
        runbooks: Path | None = typer.Option(None, "--runbooks", help="Directory of runbooks."),
    ) -> int:
        """Rehearse an incident against a built-in sandbox and report whether the system recovered.

        A drill runs on simulated time: waits, polls and backoffs pass at once, so its outcome depends on
        the runbook, the scenario, your answers and the seed, never on how fast the machine is."""
        set_verbosity(quiet, verbose)

        import json

        from hybridops.cli import console
        from hybridops.config import parse_assignments
        from hybridops.errors import UsageError
        from hybridops.runbook.catalog import find_runbook

        if all_ == (runbook is not None):
            raise UsageError("give a runbook id, or --all")
        answers = parse_assignments(answer, "--answer")
        if not all_:
            assert runbook is not None
            if report is not None and report.suffix not in (".json", ".md"):
                raise UsageError("--report must end in .json or .md")
            path = find_runbook(runbook, runbooks)
            data = run_drill(path, scenario=scenario, seed=seed, faults=faults, auto=auto, answers=answers,
                             flag_vars=var, audit_dir=audit_dir, output=output)
            if report is not None:
                _write_report(report, data)
            if output == "json":
                print(json.dumps({"event": "drill_report", **data}, separators=(",", ":")))
            else:
                _verdict(data)
                if report is not None:
                    console.out().print(f"report written to {report}")
            return 0 if data["recovered"] else 1

        if scenario is not None:
            raise UsageError("--scenario does not go with --all: each runbook is drilled in its own scenario")
        if report is not None and report.suffix in (".json", ".md"):
            raise UsageError("with --all, --report names a directory (one report per drill, and a summary)")
        return _drill_all(runbooks, seed=seed, faults=faults, auto=auto, answers=answers, flag_vars=var,
                          audit_dir=audit_dir, output=output, report_dir=report)


def run_drill(path: Path, *, scenario: str | None, seed: int, faults: bool, auto: bool, answers: dict[str, str],
              flag_vars: list[str], audit_dir: Path | None, output: str, shared: Any = None) -> dict[str, Any]:
    """One drill: a sandbox in `scenario` (default: the runbook's) and the engine on one simulated
    clock; the report, also when the run stopped on a failure. `shared`: the (sandbox, env, aws
    runner) of a matrix, put back into the drill's scenario, instead of a sandbox of its own."""
    from hybridops.cli.launch import interrupts_stop_the_run
    from hybridops.errors import UsageError
    from hybridops.runbook.load import load_runbook
    from hybridops.sandbox import SCENARIO_FOR_INCIDENT, SCENARIOS

    loaded = load_runbook(path)
    rb = loaded.runbook
    chosen = scenario or rb.scenario or SCENARIO_FOR_INCIDENT.get(rb.id)
    if chosen not in SCENARIOS:
        raise UsageError(f"unknown scenario {chosen!r}; choose one of {', '.join(SCENARIOS)}")
    with interrupts_stop_the_run():
        if shared is not None:
            return _drill_in(shared, loaded, chosen, seed=seed, faults=faults, auto=auto, answers=answers,
                             flag_vars=flag_vars, audit_dir=audit_dir, output=output)
        with drill_world(chosen, seed) as world:
            return _drill_in(world, loaded, chosen, seed=seed, faults=faults, auto=auto, answers=answers,
                             flag_vars=flag_vars, audit_dir=audit_dir, output=output)


def _drill_in(world: tuple[Any, dict[str, str], Any], loaded: Any, scenario: str, *, seed: int, faults: bool,
              auto: bool, answers: dict[str, str], flag_vars: list[str], audit_dir: Path | None,
              output: str) -> dict[str, Any]:
    import sys

    from hybridops.cli import console
    from hybridops.cli.launch import execute, interactive_terminal, new_audit, prepare
    from hybridops.drill import DrillObserver, drill_report, plan_faults
    from hybridops.engine.context import RunOptions
    from hybridops.errors import HybridOpsError

    sandbox, env, aws = world
    rb = loaded.runbook
    sandbox.set_scenario(scenario)  # fresh resources, world, faults and call log, for every drill
    options = RunOptions(
        yes=auto, interactive=interactive_terminal() and not auto and output == "text",
        answers=answers, drill=True, scenario=scenario, seed=seed, argv=tuple(sys.argv),
    )
    observer = DrillObserver(sim_now=sandbox.world.sim_now, wall_now=sandbox.clock.now)
    sandbox.world.observer = observer.step
    if faults:
        for fault in plan_faults(seed, rb.id):
            sandbox.faults.add(fault)
    prepared = prepare(loaded.path, options=options, flag_vars=flag_vars, profile=None, config_path=None,
                       audit_dir=audit_dir, env=env, loaded=loaded)
    open_audit = new_audit(prepared.settings, rb.id)
    try:
        result = execute(prepared, options=options, output=output, open_audit=open_audit,
                         watchers=[observer], clock=sandbox.clock, aws=aws)
    except HybridOpsError as exc:
        result = getattr(exc, "result", None)
        if result is None:  # it never ran (preflight): nothing to report on
            raise
        if output != "none":
            console.err().print(f"error: {exc}", markup=False, highlight=False)
    return drill_report(result, incident=rb.id, scenario=scenario, seed=seed, faults=faults,
                        sandbox_status=sandbox.status(), observer=observer)


def _drill_all(runbooks_dir_flag: Path | None, *, seed: int, faults: bool, auto: bool, answers: dict[str, str],
               flag_vars: list[str], audit_dir: Path | None, output: str, report_dir: Path | None) -> int:
    """Every runbook in its own scenario, one after another; one table; exit 0 only if all recover."""
    import json

    from hybridops.cli import console
    from hybridops.cli.launch import interactive_terminal, interrupts_stop_the_run
    from hybridops.drill import summary_markdown
    from hybridops.errors import RunbookNotFound
    from hybridops.runbook.catalog import runbook_files, runbooks_dir

    directory = runbooks_dir(runbooks_dir_flag)
    paths = runbook_files(directory) if directory.is_dir() else []
    if not paths:
        raise RunbookNotFound(f"no runbooks in {directory}")
    # With nobody to answer, each drill's own output would only bury the table.
    each = "text" if output == "text" and interactive_terminal() and not auto else "none"
    rows: list[Mapping[str, Any]] = []
    with interrupts_stop_the_run(), drill_world("healthy", seed) as world:
        for path in paths:
            rows.append(_matrix_row(path, world, seed=seed, faults=faults, auto=auto, answers=answers,
                                    flag_vars=flag_vars, audit_dir=audit_dir, output=output, each=each,
                                    report_dir=report_dir))
    all_ok = bool(rows) and all(r["recovered"] for r in rows)
    summary = {"seed": seed, "faults": faults, "recovered": all_ok, "drills": rows}
    if report_dir is not None:
        report_dir.mkdir(parents=True, exist_ok=True)
        (report_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        (report_dir / "summary.md").write_text(summary_markdown(rows, seed=seed, faults=faults), encoding="utf-8")
    if output == "json":
        print(json.dumps({"event": "drill_summary", **summary}, separators=(",", ":")))
    else:
        _matrix(rows, seed=seed, faults=faults)
        if report_dir is not None:
            console.out().print(f"reports written to {report_dir}")
    return 0 if all_ok else 1


def _matrix_row(path: Path, world: Any, *, seed: int, faults: bool, auto: bool, answers: dict[str, str],
                flag_vars: list[str], audit_dir: Path | None, output: str, each: str,
                report_dir: Path | None) -> dict[str, Any]:
    """One drill of the matrix, its report written and its line printed; its row of the table."""
    import json

    from hybridops.cli import console
    from hybridops.drill import summary_row
    from hybridops.errors import HybridOpsError, Interrupted

    try:
        data = run_drill(path, scenario=None, seed=seed, faults=faults, auto=auto, answers=answers,
                         flag_vars=flag_vars, audit_dir=audit_dir, output=each, shared=world)
    except Interrupted:
        raise
    except HybridOpsError as exc:  # this drill could not start; the others still run
        return {"incident": path.stem, "scenario": "-", "recovered": False, "time_to_mitigation_s": None,
                "over_budget": [], "failed": [], "faults": 0, "run_id": None, "why": f"error: {exc}"}
    if report_dir is not None:
        _write_report(report_dir / f"{data['incident']}.json", data)
        _write_report(report_dir / f"{data['incident']}.md", data)
    if output == "json":
        print(json.dumps({"event": "drill_report", **data}, separators=(",", ":")))
    elif each == "none":
        mark = "RECOVERED" if data["recovered"] else "NOT RECOVERED"
        console.out().print(f"drill {data['incident']} in scenario {data['scenario']}: {mark}", markup=False)
    return summary_row(data)


def _write_report(path: Path, data: dict[str, Any]) -> None:
    import json

    from hybridops.drill import report_markdown

    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, indent=2) + "\n" if path.suffix == ".json" else report_markdown(data)
    path.write_text(text, encoding="utf-8")


def _verdict(data: dict[str, Any]) -> None:
    from hybridops.cli import console
    from hybridops.durations import format_duration

    out = console.out()
    verdict = "[green]RECOVERED[/]" if data["recovered"] else "[bold red]NOT RECOVERED[/]"
    ttm = data["time_to_mitigation_s"]
    out.print(f"drill {data['incident']} in scenario {data['scenario']}: {verdict} "
              f"(final health {data['final_health']}; time to mitigation "
              f"{'n/a' if ttm is None else format_duration(ttm)}, simulated; seed {data['seed']})")
    out.print(data["why"], markup=False, highlight=False)
    for f in data["faults"]:
        out.print(f"  fault at {format_duration(max(0.0, f['t']))}: {f['kind']} ({f['what']})"
                  + (f" hit {f['hit']}" if f.get("hit") else "") + f" → {f['response']}", markup=False,
                  highlight=False)


def _matrix(rows: Sequence[Mapping[str, Any]], *, seed: int, faults: bool) -> None:
    from rich.table import Table

    from hybridops.cli import console
    from hybridops.durations import format_duration

    out = console.out()
    table = Table(title=f"drills (seed {seed}{', with injected faults' if faults else ''}, simulated time)",
                  title_justify="left", show_edge=out.is_terminal)
    for h in ("incident", "scenario", "recovered", "time to mitigation", "over budget", "failed", "faults"):
        table.add_column(h, overflow="fold")  # never cut a name off: they are what the reader looks for
    for r in rows:
        ttm = r["time_to_mitigation_s"]
        table.add_row(r["incident"], r["scenario"], "yes" if r["recovered"] else "NO",
                      "n/a" if ttm is None else format_duration(ttm), ", ".join(r["over_budget"]) or "-",
                      ", ".join(r["failed"]) or "-", str(r["faults"]))
    if out.is_terminal:
        out.print(table)
    else:  # a log or a pipe has no width to fit: never fold a name
        from rich.console import Console

        Console(file=out.file, width=250, force_terminal=False, no_color=True, highlight=False).print(table)
    for r in rows:
        if not r["recovered"]:
            out.print(f"{r['incident']}: {r['why']}", markup=False, highlight=False)


def drill_world(scenario: str, seed: int) -> AbstractContextManager[tuple[Sandbox, dict[str, str], AwsRunner]]:
    """A started sandbox on a simulated clock, the settings' environment that points a run at it, and
    one AWS runner for every run against it. Nothing of the operator's own AWS and hybridops
    configuration reaches a drill (it must never touch a real account): the settings come from this
    environment alone, and the AWS runner has the sandbox's endpoint and credentials and reads no AWS
    config file. The process's own environment is left as it is."""
    import os
    import tempfile
    from contextlib import contextmanager

    from hybridops.engine.clock import SIMULATED_CLOCK_ENV, SimClock
    from hybridops.engine.steps.aws import AwsRunner
    from hybridops.sandbox import Sandbox
    from hybridops.sandbox.server import REGION

    @contextmanager
    def world() -> Iterator[tuple[Sandbox, dict[str, str], AwsRunner]]:
        with tempfile.TemporaryDirectory(prefix="hybridops-drill-") as tmp, \
                Sandbox(scenario=scenario, clock=SimClock(), seed=seed) as sb:
            empty = Path(tmp) / "config.toml"
            empty.write_text("", encoding="utf-8")
            # the engine shares the clock object itself; a clock URL is for runs in another process
            env = {k: v for k, v in {**sb.env, **sb.notify_env}.items() if k != SIMULATED_CLOCK_ENV}
            env["HYBRIDOPS_CONFIG"] = str(empty)
            if os.environ.get("HYBRIDOPS_AUDIT_DIR"):  # the one setting a drill takes from the operator
                env["HYBRIDOPS_AUDIT_DIR"] = os.environ["HYBRIDOPS_AUDIT_DIR"]
            aws = AwsRunner(profile=None, region=REGION, endpoint_url=sb.aws_url,
                            credentials=(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]))
            yield sb, env, aws

    return world()
