"""Wiring a run together for `incident`, `rehearse` and `resume`: settings, runners, audit, display."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hybridops.engine.context import RunOptions


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM stops a run like Ctrl-C does: recorded, resumable."""

    def handler(signum, frame):  # noqa: ARG001
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def interactive_terminal() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def ui_sinks(output: str):
    from hybridops.cli import console
    from hybridops.cli.render import TextRenderer, json_sink

    if output == "json":
        return [json_sink], None
    renderer = TextRenderer(console.out())
    return [renderer], renderer


def launch(
    *,
    runbook_ref: str,
    runbooks_dir: Path | None,
    options: RunOptions,
    flag_vars: list[str],
    profile: str | None,
    config_path: Path | None,
    audit_dir: Path | None,
    output: str,
    after: Callable[[Any], None] | None = None,
) -> Any:
    """Load, validate, configure and run one incident; returns the RunResult."""
    from hybridops.audit.log import AuditLog, new_run_id
    from hybridops.cli import console
    from hybridops.cli.prompts import RichPrompter
    from hybridops.cli.render import summary_table
    from hybridops.config import parse_assignments, resolve_settings
    from hybridops.engine.incident import resolve_variables, run_incident
    from hybridops.engine.steps.aws import AwsRunner
    from hybridops.engine.steps.http import HttpRunner, check_url_allowed
    from hybridops.engine.steps.notify import NotifyTargets
    from hybridops.errors import ConfigError, RunbookInvalid
    from hybridops.runbook.catalog import find_runbook
    from hybridops.runbook.load import load_runbook
    from hybridops.runbook.validate import validate_runbook

    loaded = load_runbook(find_runbook(runbook_ref, runbooks_dir))
    problems = validate_runbook(loaded)
    if problems:
        raise RunbookInvalid(problems)
    settings = resolve_settings(config_path=config_path, profile=profile, flag_vars=parse_assignments(flag_vars),
                                flag_audit_dir=audit_dir, runbook=loaded.runbook)
    rb = loaded.runbook
    typed = {name: v.coerced(rb.variable(name).default if rb.variable(name) else None, name)
             for name, v in settings.variables.items() if v.is_set}
    variables = resolve_variables(rb, typed)
    admin_url = settings.admin_url.value
    problem = check_url_allowed(admin_url, insecure=options.insecure)
    if problem:
        raise ConfigError(f"admin URL: {problem}")

    sinks, renderer = ui_sinks(output)
    directory = Path(settings.audit_dir.value)
    run_id = new_run_id(rb.id)
    secrets = settings.secrets()
    region = settings.aws_region.value
    prompter = RichPrompter(console.out()) if options.interactive else None

    result = run_incident(
        loaded,
        options=options,
        variables=variables,
        secrets=secrets,
        open_audit=lambda: AuditLog.create(directory, run_id, secrets=secrets),
        make_aws=lambda: AwsRunner(profile=settings.aws_profile.value, region=region),
        make_http=lambda: HttpRunner(base_url=admin_url, token=settings.admin_token.value),
        notify_targets=NotifyTargets(settings.slack_webhook_url.value, settings.pagerduty_routing_key.value,
                                     settings.pagerduty_url.value),
        aws_region=region,
        ui=sinks,
        prompter=prompter,
    )
    if renderer is not None:
        summary_table(console.out(), result)
        console.out().print(f"audit log: {directory / (run_id + '.jsonl')}")
    if after is not None:
        after(result)
    return result


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").lower() in ("1", "true", "yes")
