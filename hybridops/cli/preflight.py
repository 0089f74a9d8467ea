"""`hybridops preflight ID`: can this identity run this runbook? IAM's policy simulator, asked first."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

from hybridops.cli.options import aws_profile_option, config_option, profile_option


class PreflightFormat(StrEnum):
    text = "text"
    json = "json"
    github = "github"


ROLE_HELP = ("Simulate this IAM role (or user) ARN instead of the caller (STS GetCallerIdentity; an assumed "
             "role's session counts as its role).")


def register(app: typer.Typer) -> None:
    @app.command("preflight")
    def preflight(
        runbook: str = typer.Argument(..., help="Runbook id (e.g. outage) or path to a runbook file."),
        role: str | None = typer.Option(None, "--role", help=ROLE_HELP),
        profile: str | None = profile_option(),
        aws_profile: str | None = aws_profile_option(),
        config: Path | None = config_option(),
        var: list[str] = typer.Option([], "--var", help="Set a variable: NAME=VALUE (repeatable); it decides "
                                                        "resource ARNs as it would in the run."),
        format: PreflightFormat = typer.Option(PreflightFormat.text, "--format",  # noqa: A002
                                               help="text (a table), json, or github (workflow annotations)."),
        runbooks: Path | None = typer.Option(None, "--runbooks", help="Directory of runbooks."),
    ) -> int:
        """Check that an identity may call every AWS action of a runbook, before an incident needs it.

        Collects every IAM action the runbook may call, on every branch (undo steps, the
        FilterLogEvents behind log steps and polls included), with the resources the runbook knows
        (cluster and service ARNs, log groups, queues; `*` where a value is only known during the run),
        and asks IAM's SimulatePrincipalPolicy about each, for the caller or --role. Prints a table:
        step, action, resource, allowed / implicit deny / explicit deny, mutating, and the policy
        statement IAM matched.

        Exit 1 when a mutating action would be denied (each is named, with the statement that denies
        it): the run would stop halfway. A denied read is a warning only (exit 0): its step would fail
        and the run go on as its on_failure says. The caller needs iam:SimulatePrincipalPolicy (and
        iam:GetRole for an assumed role with a path).
        """
        from hybridops.cli.launch import aws_runner, prepare
        from hybridops.engine.context import RunOptions
        from hybridops.engine.permissions import check_permissions
        from hybridops.runbook.catalog import find_runbook

        # Only AWS is asked: the admin URL and notification settings of a run play no part here.
        prepared = prepare(find_runbook(runbook, runbooks), options=RunOptions(no_notify=True, insecure=True),
                           flag_vars=var, profile=profile, config_path=config, audit_dir=None,
                           require_variables=False, aws_profile=aws_profile)
        s = prepared.settings
        region = s.aws_region.value
        aws = aws_runner(s)
        report = check_permissions(aws, prepared.loaded.runbook, prepared.variables, region=region, role=role)
        show_report(report, format, loaded=prepared.loaded)
        return 0 if report.ok else 1


def show_report(report: Any, format: str, *, loaded: Any) -> None:  # noqa: A002
    """The report on stdout as a table (its findings on stderr), JSON, or GitHub annotations."""
    from hybridops.cli import console

    if format == "json":
        console.out().print(json.dumps(report.to_json(), indent=2), markup=False, highlight=False, soft_wrap=True)
        return
    if format == "github":
        for check in report.checks:
            if check.denied:
                level = "error" if check.need.mutating else "warning"
                line, col = loaded.source.locate(check.need.loc)
                console.out().print(f"::{level} file={_escape(str(loaded.path), prop=True)},line={line},col={col},"
                                    f"title=preflight::{_escape(check.line())}", markup=False, highlight=False,
                                    soft_wrap=True)
        if report.ok:
            console.out().print(f"::notice title=preflight::every mutating action of {report.incident} is allowed "
                                f"to {_escape(report.principal)}", markup=False, highlight=False, soft_wrap=True)
        return
    from hybridops.cli.render import print_table
    from hybridops.engine.permissions import SHOWN

    rows = []
    for c in report.checks:
        via = "" if c.need.via in ("call", "poll") else f" ({c.need.via})"
        statements = ", ".join(f"{m.policy} ({m.type})" for m in c.matched)
        rows.append([c.need.step + via, c.need.action, c.resource, SHOWN.get(c.decision, c.decision),
                     "yes" if c.need.mutating else "no", statements])
    out = console.run_out()
    as_who = report.principal + (f" (caller {report.caller})" if report.caller else "")
    print_table(out, f"preflight {report.incident}: as {as_who}",
                ["step", "action", "resource", "decision", "mutating", "statement"], rows)
    err = console.err()
    for check in report.denied_reads:
        err.print(f"warning: {check.line()} (a read: its step would fail)", markup=False, highlight=False)
    for check in report.denied_changes:
        err.print(f"error: {check.line()}", markup=False, highlight=False)
    if not report.checks:
        out.print(f"{report.incident} calls no AWS action", markup=False, highlight=False)
    elif report.ok:
        out.print(f"every mutating action of {report.incident} is allowed"
                  + (f"; {len(report.denied_reads)} read(s) denied" if report.denied_reads else ""),
                  markup=False, highlight=False)
    else:
        err.print(f"error: {len(report.denied_changes)} mutating action(s) of {report.incident} would be denied "
                  f"to {report.principal}: a run would stop halfway", markup=False, highlight=False)


def _escape(text: str, *, prop: bool = False) -> str:
    from hybridops.cli.runbooks import _github_escape

    return _github_escape(text, prop=prop)


def check_run_permissions(prepared: Any, options: Any, aws: Any = None) -> Any:
    """`incident --check-permissions`: the preflight's check before the run's first request. Raises
    PreflightFailed (one line per denied mutating action, nothing sent); prints denied reads as
    warnings. Returns the AWS runner it used (the run reuses its session), or None when nothing was asked
    (a dry run sends nothing; a runbook without AWS calls has nothing to check). `aws`: the runner to ask
    with (default: one made from the settings)."""
    from hybridops.cli import console
    from hybridops.cli.launch import aws_runner
    from hybridops.engine.incident import calls_aws
    from hybridops.engine.permissions import check_permissions, iter_problem_lines
    from hybridops.errors import PreflightFailed, UsageError

    err = console.err()
    if options.skip_preflight:
        raise UsageError("--check-permissions asks STS who the caller is: it does not go with --skip-preflight")
    rb = prepared.loaded.runbook
    if options.dry_run or not calls_aws(rb):
        why = "a dry run sends nothing" if options.dry_run else f"{rb.id} calls no AWS action"
        err.print(f"preflight: permissions not checked ({why})", markup=False, highlight=False)
        return None
    s = prepared.settings
    if aws is None:
        aws = aws_runner(s)
    report = check_permissions(aws, rb, prepared.variables, region=s.aws_region.value)
    for check in report.denied_reads:
        err.print(f"warning: preflight: {check.line()} (a read: its step would fail)", markup=False,
                  highlight=False)
    if report.denied_changes and options.read_only:
        for check in report.denied_changes:
            err.print(f"warning: preflight: {check.line()} (skipped by --read-only)", markup=False, highlight=False)
    elif report.denied_changes:
        lines = list(iter_problem_lines(report))
        raise PreflightFailed(lines[0].removeprefix("error: "), lines)
    return aws
