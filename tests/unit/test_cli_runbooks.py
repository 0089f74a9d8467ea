"""`hybridops validate | list | show | schema`: exact output, formats and exit codes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hybridops.runbook.model import json_schema

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
VALID = FIXTURES / "valid"
SAMPLE = VALID / "sample.yaml"
PARAM = FIXTURES / "invalid" / "unknown-aws-param.yaml"
PARAM_PROBLEM = (
    "24:13: step one: ecs UpdateService: unknown parameter 'forceNewDeploymnt' in params "
    "(did you mean 'forceNewDeployment'?)"
)


@pytest.fixture
def books(tmp_path: Path) -> Path:
    """A runbook directory holding the valid sample and one invalid runbook."""
    directory = tmp_path / "books"
    directory.mkdir()
    shutil.copy(SAMPLE, directory)
    shutil.copy(PARAM, directory)
    return directory


# --- validate ---------------------------------------------------------------------------------------


def test_validate_valid(cli) -> None:
    assert cli("validate", SAMPLE) == (0, "", "1 runbook valid\n")
    assert cli("validate", "--runbooks", VALID) == (0, "", "1 runbook valid\n")


def test_validate_text(cli, books: Path) -> None:
    code, out, err = cli("validate", books)
    assert (code, out, err) == (1, f"{books / PARAM.name}:{PARAM_PROBLEM}\n", "1 problem in 1 of 2 runbooks\n")


def test_validate_defaults_to_the_runbook_directory(cli, books: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert cli("validate", "--runbooks", books)[0] == 1
    monkeypatch.setenv("HYBRIDOPS_RUNBOOKS", str(books))
    code, out, err = cli("validate")
    assert (code, err) == (1, "1 problem in 1 of 2 runbooks\n")
    (books / PARAM.name).unlink()
    assert cli("validate") == (0, "", "1 runbook valid\n")


def test_validate_counts_problems_and_runbooks(cli, books: Path) -> None:
    two = FIXTURES / "invalid" / "wrong-scalar-type.yaml"
    code, out, err = cli("validate", books, two)
    assert code == 1
    assert len(out.splitlines()) == 3
    assert err == "3 problems in 2 of 3 runbooks\n"


def test_validate_json(cli, books: Path) -> None:
    code, out, err = cli("validate", "--format", "json", books)
    assert (code, err) == (1, "")
    line, col, message = PARAM_PROBLEM.split(":", 2)
    assert json.loads(out) == [
        {"path": str(books / PARAM.name), "line": int(line), "col": int(col), "message": message.strip()}
    ]
    assert cli("validate", "--format", "json", SAMPLE) == (0, "[]\n", "")


def test_validate_github(cli, books: Path) -> None:
    code, out, _ = cli("validate", "--format", "github", books)
    line, col, message = PARAM_PROBLEM.split(":", 2)
    assert (code, out) == (1, f"::error file={books / PARAM.name},line={line},col={col}::{message.strip()}\n")


def test_github_escapes_what_would_break_the_command(cli, tmp_path: Path) -> None:
    path = tmp_path / "a,b:c%.yaml"
    path.write_text("id: x\n---\nid: y\n")
    code, out, _ = cli("validate", "--format", "github", path)
    escaped = str(tmp_path).replace("%", "%25").replace(":", "%3A").replace(",", "%2C") + "/a%2Cb%3Ac%25.yaml"
    assert (code, out) == (
        1, f"::error file={escaped},line=2,col=1::YAML: more than one YAML document: a runbook file holds exactly one\n"
    )


@pytest.mark.parametrize("args", [["--format", "xml"], ["--nope"], ["--runbooks"]])
def test_validate_usage_errors_exit_2(cli, args: list[str]) -> None:
    code, out, err = cli("validate", *args)
    assert code == 2
    assert out == ""
    # One line per problem, like every other error the tool prints; no click box, no traceback.
    assert err.startswith("error: ") and err.count("\n") == 1, err


def test_validate_an_empty_directory(cli, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli("validate", empty) == (1, f"{empty}:1:1: no runbook files (*.yaml) in this directory\n",
                                      "1 problem in 0 of 0 runbooks\n")


# --- list -------------------------------------------------------------------------------------------


def test_list_text(cli) -> None:
    code, out, err = cli("list", "--runbooks", VALID)
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "ID      SEVERITY  RESPONSE  STEPS  TITLE",
        "sample  P1        15m          14  Sample incident",
    ]


def test_list_json(cli) -> None:
    code, out, _ = cli("list", "--format", "json", "--runbooks", VALID)
    assert code == 0
    assert json.loads(out) == [
        {"id": "sample", "title": "Sample incident", "severity": "P1", "response_time": "15m", "steps": 14}
    ]


def test_list_reports_runbooks_it_cannot_load(cli, tmp_path: Path) -> None:
    directory = tmp_path / "books"
    directory.mkdir()
    shutil.copy(SAMPLE, directory)
    shutil.copy(FIXTURES / "bad" / "two-documents.yaml", directory)
    code, out, err = cli("list", "--runbooks", directory)
    assert code == 1
    assert "sample" in out
    assert err == (f"skipped (invalid; run `hybridops validate`): {directory / 'two-documents.yaml'}:3:1: "
                   "YAML: more than one YAML document: a runbook file holds exactly one\n")


def test_list_a_missing_directory(cli, tmp_path: Path) -> None:
    assert cli("list", "--runbooks", tmp_path / "nope") == (1, "", f"error: no runbook directory {tmp_path / 'nope'}\n")


# --- show -------------------------------------------------------------------------------------------


def test_show_text(cli) -> None:
    code, out, err = cli("show", "sample", "--runbooks", VALID)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[:4] == [
        "sample: Sample incident",
        "severity P1 · response 15m · owner DevOps & AI Operations Team · version 1.0.0",
        "impact: Some AI operations are slow",
        "symptoms:",
    ]
    assert "  slack_webhook (required) [secret]  Slack incoming webhook URL" in lines
    assert "1. Immediate actions  (immediate, 8m10s)" in lines
    i = lines.index("  2.1 Force MCP routing  [1m]  force-mcp  [MUTATING]")
    assert lines[i + 1 : i + 4] == [
        '      POST /admin/routing/force-mcp {"reason": "Bedrock unavailable", "duration": 3600}',
        '      undo: POST /admin/routing/bedrock-percentage {"percentage": 100}',
        "      on failure: go to notify",
    ]
    call = '      aws ecs DescribeServices cluster={{ cluster }} services=["{{ service }}"] (region eu-central-1)'
    assert call in lines
    assert "  2.2 Restart the service  [5m]  restart  [MUTATING]" in lines
    assert "  1.1 Check health  [2m]  check-health" in lines  # a GET is not mutating
    assert "      [ ] Create the PagerDuty incident" in lines
    assert "        no -> fallback" in lines
    assert "        - none: -> end" in lines


def test_show_masks_secret_defaults(cli, tmp_path: Path) -> None:
    path = tmp_path / "sample.yaml"
    path.write_text(SAMPLE.read_text().replace("    secret: true", "    secret: true\n    default: hunter2"))
    code, out, _ = cli("show", path)
    assert code == 0
    assert "hunter2" not in out
    assert "  slack_webhook = *** [secret]  Slack incoming webhook URL" in out.splitlines()
    code, out, _ = cli("show", path, "--format", "json")
    assert "hunter2" not in out


def test_show_json(cli) -> None:
    code, out, _ = cli("show", "sample", "--format", "json", "--runbooks", VALID)
    assert code == 0
    data = json.loads(out)
    assert data["variables"] == [
        {"name": "cluster", "description": "ECS cluster", "default": "hybrid-routing-cluster", "required": False,
         "secret": False},
        {"name": "service", "description": "", "default": "hybrid-routing-service", "required": False,
         "secret": False},
        {"name": "log_group", "description": "", "default": "/ecs/hybrid-routing", "required": False,
         "secret": False},
        {"name": "slack_webhook", "description": "Slack incoming webhook URL", "default": None, "required": True,
         "secret": True},
    ]
    steps = [s for phase in data["phases"] for s in phase["steps"]]
    assert [(s["id"], s["kind"], s["mutating"]) for s in steps[:3]] == [
        ("check-health", "http", False), ("describe-service", "aws", False), ("target-health", "aws", False)
    ]
    assert {s["id"] for s in steps if s["mutating"]} == {"force-mcp", "restart"}
    assert steps[0]["budget"] == 120.0
    assert data["phases"][1]["steps"][2]["poll"]["until"] == "mcp_status == 'healthy'"
    assert {k for k in data if k != "scenario"} >= {"id", "title", "severity", "response_time", "impact", "symptoms",
                                                    "owner", "version", "variables", "phases"}


def test_show_unknown_runbook(cli) -> None:
    assert cli("show", "nope", "--runbooks", VALID) == (
        1, "", f"error: no runbook 'nope' in {VALID} (known: sample)\n"
    )


def test_show_an_invalid_runbook(cli) -> None:
    path = FIXTURES / "invalid" / "unknown-key.yaml"
    code, out, err = cli("show", path)
    assert (code, out) == (1, "")
    assert err.splitlines() == [f"{path}:17:9: phases[0].steps[0]: unknown key 'budgett' (did you mean 'budget'?)"]


# --- schema -----------------------------------------------------------------------------------------


def test_schema_prints_the_models_schema(cli) -> None:
    code, out, _ = cli("schema")
    assert code == 0
    assert json.loads(out) == json_schema()


def test_shipped_schema_file_is_current() -> None:
    import hybridops

    shipped = Path(hybridops.__file__).parent / "specs" / "runbook.schema.json"
    assert json.loads(shipped.read_text()) == json_schema(), (
        "hybridops/specs/runbook.schema.json is stale: regenerate it with "
        "`hybridops schema > hybridops/specs/runbook.schema.json`"
    )


# --- CI ---------------------------------------------------------------------------------------------


def test_the_pre_commit_hook_runs_validate_on_the_files_it_selects(tmp_path: Path) -> None:
    """What pre-commit does with `.pre-commit-hooks.yaml`: run `entry` with the matching files appended."""
    import re
    import subprocess
    import sys

    import yaml

    repo = Path(__file__).resolve().parents[2]
    (hook,) = yaml.safe_load((repo / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "hybridops-validate" and hook["language"] == "python"
    team = tmp_path / "team"
    (team / "runbooks").mkdir(parents=True)
    shutil.copy(repo / "runbooks" / "outage.yaml", team / "runbooks")
    (team / "runbooks" / "typo.yaml").write_text((repo / "runbooks" / "outage.yaml").read_text()
                                                 .replace("budget:", "budgett:", 1))
    (team / "README.md").write_text("not a runbook\n")
    names = (str(p.relative_to(team)) for p in team.rglob("*"))
    files = sorted(name for name in names if re.search(hook["files"], name))
    assert files == ["runbooks/outage.yaml", "runbooks/typo.yaml"]
    program, *args = hook["entry"].split()
    entry = Path(sys.executable).parent / program
    done = subprocess.run([entry, *args, *files], cwd=team, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert [line.split(": ", 1)[0].rsplit(":", 2)[0] for line in done.stdout.splitlines()] == ["runbooks/typo.yaml"]
    done = subprocess.run([entry, *args, "runbooks/outage.yaml"], cwd=team, capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout) == (0, "")
