"""`hybridops audit list|show|verify|timeline`: reading audit logs back.

Only typer is imported at the top so `hybridops --help` stays fast; the audit modules and rich are
imported inside each command.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from hybridops.cli.options import config_option

if TYPE_CHECKING:
    from hybridops.audit.timeline import RunSummary, Timeline


class ListFormat(StrEnum):
    text = "text"
    json = "json"


class TimelineFormat(StrEnum):
    md = "md"
    json = "json"


_AUDIT_DIR_HELP = ("Audit log directory (default: $HYBRIDOPS_AUDIT_DIR, then the profile's audit.dir, then the user "
                   "state dir).")
_REF_HELP = "Run id (the log file's name without .jsonl, or a unique prefix of it), or a path to a log file."


def _audit_dir_option() -> Any:
    return typer.Option(None, "--audit-dir", help=_AUDIT_DIR_HELP, show_default=False)


def _profile_option() -> Any:
    return typer.Option(None, "--profile", help="Configuration profile (its audit.dir, if it names one).")


def _directory(audit_dir: Path | None, profile: str | None, config: Path | None) -> Path:
    """Where the runs are: the same resolution as `incident` (flag, env, profile, default)."""
    from hybridops.config import audit_directory, resolve_settings

    settings = resolve_settings(config_path=config, profile=profile, flag_audit_dir=audit_dir)
    return audit_directory(settings, create=False)


def _resolve(ref: str, audit_dir: Path | None, profile: str | None = None, config: Path | None = None) -> Path:
    from hybridops.audit.log import locate_log

    return locate_log(ref, _directory(audit_dir, profile, config))


def _print_text(text: str) -> None:
    from hybridops.cli.console import out

    # markup off: log content such as "[bold]" must print as it was recorded
    out().print(text, markup=False, highlight=False, soft_wrap=True, end="")


def _print_json(data: Any) -> None:
    _print_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def audit_list(
    audit_dir: Path | None = _audit_dir_option(),
    profile: str | None = _profile_option(),
    config: Path | None = config_option(),
    format: ListFormat = typer.Option(ListFormat.text, "--format", help="Output format."),  # noqa: A002
    incident: str | None = typer.Option(None, "--incident", help="Only the runs of this incident (its id)."),
    since: str | None = typer.Option(
        None, "--since", help="Only runs started since: a duration back from now (90m, 2h, 7d) or a UTC date/time "
        "(2026-11-25, 2026-11-25T17:00).", show_default=False,
    ),
    limit: int | None = typer.Option(None, "--limit", min=1, help="At most this many runs (the newest)."),
    all_runs: bool = typer.Option(False, "--all", help="Dry runs too (hidden by default: they changed nothing)."),
) -> None:
    """List runs, newest first: incident, operator, start, status, duration, mode."""
    from hybridops.audit.timeline import list_json, list_runs, select_runs

    directory = _directory(audit_dir, profile, config)
    every = list_runs(directory)
    rows = select_runs(every, incident=incident, since=_since(since), limit=limit, dry_runs=all_runs)
    if format is ListFormat.json:
        _print_json(list_json(directory, rows))
        return
    if not rows:
        hidden = sum(r.dry_run for r in every) if not all_runs else 0
        more = f" ({hidden} dry run{'s' if hidden != 1 else ''} hidden: --all shows them)" if hidden else ""
        _print_text(f"no {'matching ' if every else ''}runs in {directory}{more}\n")
        return
    _render_list(rows)


def _since(text: str | None) -> datetime | None:
    """`--since` as a UTC time: `2h` means two hours ago; a date or time without a zone is UTC, as the
    STARTED (UTC) column is."""
    if text is None:
        return None
    from hybridops.durations import parse_duration
    from hybridops.errors import UsageError

    try:
        return datetime.now(UTC) - timedelta(seconds=parse_duration(text))
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--since {text!r}: not a duration (2h, 7d) or a date/time (2026-11-25T17:00)") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _mode(r: RunSummary) -> str:
    parts = [p for p, on in (("drill", r.drill), ("dry-run", r.dry_run), ("read-only", r.read_only)) if on]
    return "+".join(parts) or "live"


def _render_list(rows: list[RunSummary]) -> None:
    from hybridops.durations import format_duration

    table = [
        (
            r.run_id,
            r.incident or "?",
            r.operator or "?",
            f"{r.started:%Y-%m-%d %H:%M:%S}" if r.started else "?",
            r.status,
            format_duration(r.duration_s) if r.duration_s is not None else "-",
            _mode(r),
            "ok" if r.intact else "BROKEN",
        )
        for r in rows
    ]
    header = ("RUN ID", "INCIDENT", "OPERATOR", "STARTED (UTC)", "STATUS", "DURATION", "MODE", "LOG")
    from hybridops.cli.console import out

    console = out()
    if console.is_terminal:
        from rich.table import Table

        # Never cut the run id (people copy it into the next command); on a narrow terminal drop the
        # columns the run id already spells out (start time, incident), then the operator.
        keep = list(range(len(header)))
        widths = [max(len(str(x)) for x in col) + 2 for col in zip(header, *table, strict=True)]
        for drop in (3, 1, 2):
            if sum(widths[i] for i in keep) <= console.width:
                break
            keep.remove(drop)
        t = Table(*(header[i] for i in keep), box=None, header_style="bold", pad_edge=False)
        for row in table:
            style = "red" if row[-1] == "BROKEN" or row[4] == "failed" else None
            t.add_row(*(row[i] for i in keep), style=style)
        console.print(t, no_wrap=True)
        return
    widths = [max(len(str(x)) for x in col) for col in zip(header, *table, strict=False)]
    lines = ["  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=True)).rstrip() for row in (header, *table)]
    _print_text("\n".join(lines) + "\n")


def audit_show(
    run_id: str = typer.Argument(..., help=_REF_HELP),
    audit_dir: Path | None = _audit_dir_option(),
    profile: str | None = _profile_option(),
    config: Path | None = config_option(),
) -> None:
    """Show a run as a readable timeline."""
    from hybridops.audit.timeline import load_timeline

    tl = load_timeline(_resolve(run_id, audit_dir, profile, config))
    _warn_integrity(tl)
    _render_show(tl)


def _warn_integrity(tl: Timeline) -> None:
    if not tl.integrity.ok:
        from hybridops.cli.console import err

        err().print(
            f"warning: audit log broken at seq {tl.integrity.first_bad_seq}: {tl.integrity.reason}",
            markup=False,
            highlight=False,
        )


def _render_show(tl: Timeline) -> None:
    from hybridops.audit.timeline import entry_time, integrity_text
    from hybridops.cli.console import out
    from hybridops.durations import format_duration

    def dur(s: float | None, missing: str = "-") -> str:
        return format_duration(s) if s is not None else missing

    header = [
        f"{tl.title or tl.incident or tl.run_id} ({tl.incident or '?'}{', ' + tl.severity if tl.severity else ''})",
        f"run {tl.run_id}, {tl.mode}",
        f"operator {', '.join(tl.operators) or 'unknown'}" + (f" on {tl.host}" if tl.host else ""),
        f"started {tl.started:%Y-%m-%d %H:%M:%S} UTC" if tl.started else "started ?",
        f"status {tl.status}"
        + (f" after {dur(tl.duration_s)}" if tl.duration_s is not None else "")
        + f", time to mitigation {dur(tl.time_to_mitigation_s, 'not mitigated')}",
        f"audit log {integrity_text(tl.integrity)}",
    ]
    console = out()
    if not console.is_terminal:
        lines = header + [""]
        for e in tl.entries:
            mark = "!" if e.highlight else " "
            lines.append(f"{entry_time(tl, e)} {mark} {(e.step_id or '-'):<20} {e.text()}")
        _print_text("\n".join(lines) + "\n")
        return
    from rich.table import Table
    from rich.text import Text

    console.print(Text(header[0], style="bold"))
    for line in header[1:]:
        console.print(Text(line))
    table = Table("Time (UTC)", "Step", "What happened", box=None, header_style="bold", pad_edge=False)
    styles = {"run": "bold", "action": "cyan", "decision": "magenta", "note": "yellow"}
    for e in tl.entries:
        what = Text(f"{e.label}: ", style=styles.get(e.kind, ""))
        what.append(e.detail, style="cyan" if e.code else "")
        if e.highlight:
            what.stylize("bold red")
        table.add_row(entry_time(tl, e), e.step_id or "", what)
    console.print(table)


class Against(StrEnum):
    cloudwatch = "cloudwatch"


def audit_verify(
    run_id: str = typer.Argument(..., help=_REF_HELP),
    audit_dir: Path | None = _audit_dir_option(),
    profile: str | None = _profile_option(),
    config: Path | None = config_option(),
    require_finished: bool = typer.Option(
        False, "--require-finished", help="Fail when the log has no run_finished (cut from the end?)."
    ),
    key_env: str | None = typer.Option(
        None, "--key-env", metavar="NAME", help="Check every record's MAC with the HMAC key in this environment "
        "variable (default: $HYBRIDOPS_AUDIT_KEY, then the profile's audit.hmac_key).", show_default=False,
    ),
    against: Against | None = typer.Option(
        None, "--against", help="Compare the log, record by record and head to head, with its copy shipped "
        "to CloudWatch Logs (the profile's audit.cloudwatch_log_group, or --log-group).", show_default=False,
    ),
    log_group: str | None = typer.Option(None, "--log-group", help="The CloudWatch Logs group of --against.",
                                         show_default=False),
    kms: bool = typer.Option(False, "--kms", help="Have AWS KMS check every seal's MAC (VerifyMac) with the "
                             "configured KMS key (audit.kms_key_id, $HYBRIDOPS_AUDIT_KMS_KEY) or --kms-key."),
    kms_key: str | None = typer.Option(None, "--kms-key", metavar="KEY", help="The KMS key of --kms (id, ARN or "
                                       "alias).", show_default=False),
    format: ListFormat = typer.Option(ListFormat.text, "--format", help="Output format."),  # noqa: A002
) -> None:
    """Check a log's hash chain, sums and seal, and the head the audit dir's ledger noted at its end (with
    the key every MAC; with --kms every seal): exit 0 when it holds, 1 naming the first broken record's
    seq. Without a key the log is not authenticated: a rewrite that recomputes the chain (and the ledger)
    is only caught with the key, --kms or --against cloudwatch."""
    import os

    from hybridops.audit.log import AuditKey, verify_log
    from hybridops.config import audit_key, kms_sealer, resolve_settings
    from hybridops.errors import AuditError, ChainBroken, ConfigError

    settings = resolve_settings(config_path=config, profile=profile, flag_audit_dir=audit_dir)
    try:
        path = _resolve(run_id, audit_dir, profile, config)
    except AuditError as exc:
        from hybridops.audit.log import HEADS, recorded_heads

        heads = recorded_heads(_directory(audit_dir, profile, config), run_id)
        if heads:
            raise AuditError(f"{exc}, though the audit dir's ledger ({HEADS}) recorded it sealed with "
                             f"{max(heads)[0]} records (deleted?)") from None
        raise
    if key_env is not None:
        if not os.environ.get(key_env):
            raise ConfigError(f"--key-env {key_env}: that environment variable is unset or empty")
        try:
            key: AuditKey | None = AuditKey.from_text(settings.audit_key_id.value, os.environ[key_env])
        except AuditError as exc:
            raise ConfigError(f"--key-env {key_env}: {exc}") from None
    else:
        key = audit_key(settings)
    sealer = None
    if kms or kms_key:
        sealer = kms_sealer(settings, kms_key)
        if sealer is None:
            raise ConfigError("--kms: no KMS key (set a profile's audit.kms_key_id, $HYBRIDOPS_AUDIT_KMS_KEY, or "
                              "pass --kms-key)")
    v = verify_log(path, require_finished=require_finished, key=key, kms=sealer)
    anchor = None
    if against is Against.cloudwatch:
        from hybridops.audit.anchor import compare_with_cloudwatch

        group = log_group or settings.cloudwatch_log_group.value
        if not group:
            raise ConfigError("--against cloudwatch: no log group (set a profile's audit.cloudwatch_log_group, "
                              "$HYBRIDOPS_AUDIT_LOG_GROUP, or pass --log-group)")
        anchor = compare_with_cloudwatch(path, group=group, region=settings.cloudwatch_region.value,
                                         aws_profile=settings.aws_profile.value)
    ok = v.ok and (anchor is None or anchor.ok)
    if format is ListFormat.json:
        data: dict[str, Any] = {
            "version": 1, "path": str(path), "ok": ok, "records": v.records, "first_bad_seq": v.first_bad_seq,
            "reason": v.reason, "status": v.status, "head": v.head, "mac": v.mac, "key_id": v.key_id, "kms": v.kms,
        }
        if anchor is not None:
            data["cloudwatch"] = anchor.as_json()
        _print_json(data)
        if not ok:
            raise typer.Exit(1)
        return
    if not v.ok:
        raise ChainBroken(f"{path.name}: broken at seq {v.first_bad_seq}: {v.reason}")
    if anchor is not None and not anchor.ok:
        raise ChainBroken(f"{path.name}: differs from CloudWatch Logs {anchor.where}: " + "; ".join(anchor.problems))
    _print_text(_verified_line(v) + "\n")
    _print_text(f"status: {v.status}" + ("" if v.finished else f" ({v.reason.removeprefix('intact but ')})") + "\n")
    _print_text(f"head: {v.head}\n")
    if anchor is not None:
        _print_text(f"cloudwatch: matches {anchor.where}, record by record ({anchor.remote_records} records, "
                    "same head)\n")


def _verified_line(v: Any) -> str:
    """What a chain that holds proves: `intact` only once every MAC matched the key (or KMS vouched
    for every seal)."""
    if v.kms == "verified":
        also = ", every MAC verified" if v.mac == "verified" else ""
        return f"intact: {v.records} records, every seal verified by KMS{also}"
    if v.mac == "verified":
        return f"intact: {v.records} records, every MAC verified (key {v.key_id or 'given'})"
    if v.mac == "not checked":
        return (f"chain consistent: {v.records} records; MAC not checked: the log is keyed "
                f"({'key ' + repr(v.key_id) if v.key_id else 'a key'}), give it with --key-env NAME or "
                "$HYBRIDOPS_AUDIT_KEY")
    return (f"chain consistent: {v.records} records; not authenticated: the log has no MAC, so a rewrite that "
            "recomputes the chain would not show (configure audit.hmac_key)")


def audit_timeline(
    run_id: str = typer.Argument(..., help=_REF_HELP),
    audit_dir: Path | None = _audit_dir_option(),
    profile: str | None = _profile_option(),
    config: Path | None = config_option(),
    format: TimelineFormat = typer.Option(TimelineFormat.md, "--format", help="md (post-mortem) or json."),  # noqa: A002
) -> None:
    """A post-incident timeline for the post-mortem: times, actions, results, decisions, budgets."""
    from hybridops.audit.timeline import load_timeline, render_markdown, timeline_json

    tl = load_timeline(_resolve(run_id, audit_dir, profile, config))
    _warn_integrity(tl)
    if format is TimelineFormat.json:
        _print_json(timeline_json(tl))
    else:
        _print_text(render_markdown(tl))


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    audit_app = typer.Typer(
        name="audit",
        help="Read audit logs back: list runs, show one, verify its chain, write its timeline.",
        no_args_is_help=True,
    )
    audit_app.command("list")(audit_list)
    audit_app.command("show")(audit_show)
    audit_app.command("verify")(audit_verify)
    audit_app.command("timeline")(audit_timeline)
    app.add_typer(audit_app, name="audit")
