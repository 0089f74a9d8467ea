"""`hybridops audit ...` in-process through `run([...])`: exit codes and exact key text."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from audit_known_run import DATA, RUN_ID, ScriptedClock

from hybridops.audit.log import AuditLog
from hybridops.cli.app import run


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = run(["audit", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def drill_run(audit_dir: Path) -> Path:
    """A second, newer run: an unfinished drill."""
    clock = ScriptedClock(datetime(2026, 11, 26, 9, 0, 0, tzinfo=UTC))
    log = AuditLog.create(audit_dir, "20261126T090000.000Z-api-outage-00aa", clock=clock)
    log.append("run_started", runbook={"id": "api-outage"}, operator="bob", drill=True, scenario="outage")
    log.append("step_started", step_id="verify-outage", budget_s=120)
    log.close()
    return log.path


@pytest.mark.parametrize("command", ["list", "show", "verify", "timeline"])
def test_every_audit_command_has_help(capsys: pytest.CaptureFixture[str], command: str) -> None:
    code, out, _ = cli(capsys, command, "--help")
    assert code == 0 and "Usage: hybridops audit" in out and "--audit-dir" in out


def test_verify_intact(capsys: pytest.CaptureFixture[str], known_run: Path) -> None:
    head = "f9cbf5fe9a1bd0c78d826e8f6d3a6474d8b2c9e1d2c04dc2bea2d00f96fa6bde"
    for ref in (RUN_ID, str(known_run), RUN_ID[:20]):  # run id, file, unique prefix
        code, out, err = cli(capsys, "verify", ref)
        assert (code, err) == (0, "")
        lines = out.splitlines()
        assert lines[0] == ("chain consistent: 22 records; not authenticated: the log has no MAC, so a rewrite "
                            "that recomputes the chain would not show (configure audit.hmac_key)")
        assert lines[1] == "status: completed"
        assert lines[2].startswith("head: ") and len(lines[2]) == len("head: ") + len(head)


def test_verify_broken_exits_1_with_one_line_naming_the_seq(
    capsys: pytest.CaptureFixture[str], known_run: Path
) -> None:
    lines = known_run.read_bytes().split(b"\n")
    lines[3] = lines[3].replace(b'"status":200', b'"status":201')
    known_run.write_bytes(b"\n".join(lines))
    code, out, err = cli(capsys, "verify", RUN_ID)
    assert (code, out) == (1, "")
    assert err == (
        f"error: {RUN_ID}.jsonl: broken at seq 3: record altered: its content does not match its sum\n"
    )


def test_verify_truncated_file(capsys: pytest.CaptureFixture[str], known_run: Path) -> None:
    data = known_run.read_bytes()
    known_run.write_bytes(data[:-40])
    code, _, err = cli(capsys, "verify", RUN_ID)
    assert code == 1
    assert err.startswith(f"error: {RUN_ID}.jsonl: broken at seq 21: truncated: last line has no newline")
    assert err.count("\n") == 1


def test_verify_unfinished_is_intact_unless_required(capsys: pytest.CaptureFixture[str], known_run: Path) -> None:
    lines = known_run.read_bytes().split(b"\n")
    known_run.write_bytes(b"\n".join(lines[:-3]) + b"\n")  # the last two records cut away
    code, out, _ = cli(capsys, "verify", RUN_ID)
    assert code == 0
    assert out.splitlines()[:2] == [
        "chain consistent: 20 records; not authenticated: the log has no MAC, so a rewrite that recomputes the "
        "chain would not show (configure audit.hmac_key)",
        "status: incomplete (unfinished: no run_finished after seq 19 (the run was killed, "
        "or whole records were cut from the end))",
    ]
    code, out, err = cli(capsys, "verify", RUN_ID, "--require-finished")
    assert (code, out) == (1, "")
    assert err.startswith(f"error: {RUN_ID}.jsonl: broken at seq 20: unfinished: no run_finished after seq 19")


def test_verify_json(capsys: pytest.CaptureFixture[str], known_run: Path) -> None:
    code, out, _ = cli(capsys, "verify", RUN_ID, "--format", "json")
    data = json.loads(out)
    assert code == 0
    assert {k: data[k] for k in ("version", "ok", "records", "first_bad_seq", "reason", "status")} == {
        "version": 1,
        "ok": True,
        "records": 22,
        "first_bad_seq": None,
        "reason": "intact",
        "status": "completed",
    }


def test_unknown_run_is_one_line_error(
    capsys: pytest.CaptureFixture[str], audit_dir: Path, tmp_path: Path
) -> None:
    code, out, err = cli(capsys, "verify", "nope")
    assert (code, out) == (1, "")
    assert err == f"error: no audit log for run 'nope' in {audit_dir}\n"
    code, _, err = cli(capsys, "show", "../nowhere/x.jsonl")
    assert code == 1 and err == "error: no audit log at ../nowhere/x.jsonl\n"
    (tmp_path / "notes.jsonl").write_text("hello\n")
    code, _, err = cli(capsys, "show", str(tmp_path / "notes.jsonl"))
    assert code == 1
    assert err == (
        f"error: {tmp_path / 'notes.jsonl'} holds no audit records: "
        "seq 0: last line: not valid JSON (Expecting value at column 1) (torn?)\n"
    )
    code, _, err = cli(capsys, "timeline", "bad id")
    assert code == 1 and err.startswith("error: not a valid run id: 'bad id'")


def test_ambiguous_prefix(capsys: pytest.CaptureFixture[str], known_run: Path, audit_dir: Path) -> None:
    drill_run(audit_dir)
    code, _, err = cli(capsys, "show", "2026")
    assert code == 1 and err.startswith("error: run id '2026' is ambiguous in")


def test_bad_format_is_a_usage_error(capsys: pytest.CaptureFixture[str], known_run: Path) -> None:
    code, _, err = cli(capsys, "timeline", RUN_ID, "--format", "pdf")
    assert code == 2 and "pdf" in err


def test_list_text_newest_first(capsys: pytest.CaptureFixture[str], known_run: Path, audit_dir: Path) -> None:
    drill_run(audit_dir)
    code, out, err = cli(capsys, "list")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    header = ["RUN ID", "INCIDENT", "OPERATOR", "STARTED (UTC)", "STATUS", "DURATION", "MODE", "LOG"]
    assert re.split(r"\s{2,}", lines[0]) == header
    assert lines[1].split() == [
        "20261126T090000.000Z-api-outage-00aa", "api-outage", "bob", "2026-11-26", "09:00:00",
        "incomplete", "0.0s", "drill", "ok",
    ]  # fmt: skip
    assert lines[2].split() == [
        RUN_ID, "bedrock-failure", "alice", "2026-11-25", "17:41:02", "completed", "10m08s", "live", "ok",
    ]  # fmt: skip


def test_list_json_shape_is_pinned(capsys: pytest.CaptureFixture[str], known_run: Path, audit_dir: Path) -> None:
    drill_run(audit_dir)
    code, out, _ = cli(capsys, "list", "--format", "json", "--audit-dir", str(audit_dir))
    data = json.loads(out)
    assert code == 0 and data["version"] == 1 and data["audit_dir"] == str(audit_dir)
    assert [r["run_id"] for r in data["runs"]] == ["20261126T090000.000Z-api-outage-00aa", RUN_ID]
    assert data["runs"][1] == {
        "run_id": RUN_ID,
        "incident": "bedrock-failure",
        "title": "Bedrock failure",
        "operator": "alice",
        "caller_arn": "arn:aws:sts::123456789012:assumed-role/oncall/alice",
        "started": "2026-11-25T17:41:02.123Z",
        "finished": "2026-11-25T17:51:10.123Z",
        "status": "completed",
        "duration_s": 608.0,
        "drill": False,
        "dry_run": False,
        "read_only": False,
        "scenario": None,
        "records": 22,
        "intact": True,
        "problem": None,
        "path": str(known_run),
    }
    assert data["runs"][0]["drill"] is True and data["runs"][0]["status"] == "incomplete"


def test_list_marks_a_broken_log(capsys: pytest.CaptureFixture[str], known_run: Path) -> None:
    known_run.write_bytes(known_run.read_bytes().replace(b'"operator":"alice"', b'"operator":"mallory"'))
    code, out, _ = cli(capsys, "list", "--format", "json")
    run_ = json.loads(out)["runs"][0]
    assert code == 0 and run_["intact"] is False and run_["operator"] == "mallory"
    assert run_["problem"].startswith("seq 0: record altered")
    code, out, _ = cli(capsys, "list")
    assert out.splitlines()[1].split()[-1] == "BROKEN"


def test_list_empty_and_missing_dir(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = cli(capsys, "list", "--audit-dir", str(tmp_path / "none"))
    assert (code, out) == (0, f"no runs in {tmp_path / 'none'}\n")
    assert not (tmp_path / "none").exists()  # reading never creates the directory


def test_show_plain(capsys: pytest.CaptureFixture[str], known_run: Path) -> None:
    code, out, err = cli(capsys, "show", RUN_ID)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[:6] == [
        "Bedrock failure (bedrock-failure, P1)",
        f"run {RUN_ID}, live",
        "operator alice (arn:aws:sts::123456789012:assumed-role/oncall/alice) on oncall-7",
        "started 2026-11-25 17:41:02 UTC",
        "status completed after 10m08s, time to mitigation 1m28s",
        "audit log chain consistent, 22 records, not authenticated",
    ]
    assert (
        "17:42:31   restart-service      Change: aws ecs UpdateService cluster=hybrid-routing-cluster "
        "service=hybrid-routing-service forceNewDeployment=true"
    ) in lines
    assert (
        "17:49:01 ! restart-service      Step finished: Restart routing service: ok in 6m30s "
        "(budget 5m00s), OVER BUDGET by 1m30s"
    ) in lines


def test_show_warns_about_a_broken_log(capsys: pytest.CaptureFixture[str], known_run: Path) -> None:
    lines = known_run.read_bytes().split(b"\n")
    del lines[5]
    known_run.write_bytes(b"\n".join(lines))
    code, out, err = cli(capsys, "show", RUN_ID)
    assert code == 0 and "Step started" in out
    assert err.startswith("warning: audit log broken at seq 5: record missing")


def test_timeline_markdown_and_json(capsys: pytest.CaptureFixture[str], known_run: Path) -> None:
    code, out, _ = cli(capsys, "timeline", RUN_ID)
    assert code == 0 and out.startswith("# Incident timeline: Bedrock failure\n")
    assert "| 17:42:30 | force-mcp | Change: `POST /admin/routing/force-mcp {\"duration\":3600}` |" in out
    code, out, _ = cli(capsys, "timeline", RUN_ID, "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["version"] == 1 and data["over_budget"] == ["restart-service"]


def test_log_content_is_not_rich_markup(capsys: pytest.CaptureFixture[str], audit_dir: Path) -> None:
    with AuditLog.create(audit_dir, "r-markup") as log:
        log.append("run_started", operator="[bold]eve[/bold]")
        log.append("step_started", step_id="s", title="[red]x")
    code, out, _ = cli(capsys, "show", "r-markup")
    assert code == 0 and "operator [bold]eve[/bold]" in out and "[red]x" in out


def test_cli_module_imports_nothing_heavy() -> None:
    probe = (
        "import sys, hybridops.cli.audit as a, typer; a.register(typer.Typer());"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('rich', 'boto3', 'botocore', 'moto')"
        " or m.startswith('hybridops.audit')))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    # typer itself may pull in rich for its help output; ours must add neither boto3 nor the audit modules
    assert "boto3" not in out and "botocore" not in out and "hybridops.audit" not in out


def test_audit_commands_find_the_runs_under_a_profiles_audit_dir(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # `incident --profile team` writes under the profile's audit.dir; `audit list` used to look only at
    # --audit-dir, $HYBRIDOPS_AUDIT_DIR and the default (two resolvers, two rules).
    monkeypatch.delenv("HYBRIDOPS_AUDIT_DIR")
    config = tmp_path / "config.toml"
    config.write_text('default_profile = "team"\n[profiles.team.audit]\ndir = "team-audit"\n'
                      '[profiles.other]\nregion = "eu-west-1"\n', encoding="utf-8")
    monkeypatch.setenv("HYBRIDOPS_CONFIG", str(config))
    team = tmp_path / "team-audit"
    team.mkdir(mode=0o700)
    shutil.copyfile(DATA, team / f"{RUN_ID}.jsonl")
    for argv in (("list",), ("list", "--profile", "team"), ("list", "--config", str(config))):
        code, out, err = cli(capsys, *argv)
        assert (code, err) == (0, ""), argv
        assert RUN_ID in out, argv
    code, out, _ = cli(capsys, "verify", RUN_ID[:20])  # a unique prefix, in the profile's dir
    assert code == 0 and "chain consistent: 22 records" in out
    code, out, _ = cli(capsys, "list", "--profile", "other")  # another profile: the default dir
    assert code == 0 and RUN_ID not in out and str(tmp_path / "state") in out


def _dry_run(audit_dir: Path) -> Path:
    clock = ScriptedClock(datetime(2026, 11, 27, 8, 0, 0, tzinfo=UTC))
    log = AuditLog.create(audit_dir, "20261127T080000.000Z-outage-00bb", clock=clock)
    log.append("run_started", runbook={"id": "outage"}, operator="carol", dry_run=True)
    log.close()
    return log.path


def test_list_hides_dry_runs_unless_all(capsys: pytest.CaptureFixture[str], known_run: Path, audit_dir: Path) -> None:
    _dry_run(audit_dir)
    drill_run(audit_dir)
    ids = lambda *a: [r["run_id"] for r in json.loads(cli(capsys, "list", "--format", "json", *a)[1])["runs"]]  # noqa: E731
    assert ids() == ["20261126T090000.000Z-api-outage-00aa", RUN_ID]
    assert ids("--all") == ["20261127T080000.000Z-outage-00bb", "20261126T090000.000Z-api-outage-00aa", RUN_ID]
    assert ids("--all", "--limit", "1") == ["20261127T080000.000Z-outage-00bb"]
    assert ids("--incident", "bedrock-failure") == [RUN_ID]
    assert ids("--since", "2026-11-26") == ["20261126T090000.000Z-api-outage-00aa"]
    assert ids("--since", "2026-11-25T17:41:03") == ["20261126T090000.000Z-api-outage-00aa"]
    assert ids("--since", "1m") == []  # the committed runs are from 2026-11
    code, out, _ = cli(capsys, "list", "--incident", "outage")
    assert (code, out) == (0, f"no matching runs in {audit_dir} (1 dry run hidden: --all shows them)\n")


@pytest.mark.parametrize(("args", "message"), [
    (["--since", "yesterday"],
     "error: --since 'yesterday': not a duration (2h, 7d) or a date/time (2026-11-25T17:00)\n"),
    (["--limit", "0"], "error: Invalid value for '--limit': Input should be greater than or equal to 1\n"),
])  # fmt: skip
def test_list_bad_filters(capsys: pytest.CaptureFixture[str], known_run: Path, args: list[str], message: str) -> None:
    assert cli(capsys, "list", *args) == (2, "", message)
