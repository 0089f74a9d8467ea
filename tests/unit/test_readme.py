"""The README stays true: its example runbook validates and its Quickstart names the real commands."""

from __future__ import annotations

import re
from pathlib import Path

from hybridops.runbook.load import load_runbook
from hybridops.runbook.validate import validate_runbook

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_example_runbook_is_valid(tmp_path):
    text = README.read_text(encoding="utf-8")
    example = re.search(r"A complete example:\n\n```yaml\n(.*?)```", text, re.S)
    assert example, "the README lost its complete example"
    path = tmp_path / "mcp-restart.yaml"
    path.write_text(example.group(1), encoding="utf-8")
    loaded = load_runbook(path)
    assert validate_runbook(loaded) == []
    assert {s.kind for _, s in loaded.runbook.steps()} >= {"http", "aws", "poll", "confirm", "manual"}


def test_quickstart_has_the_two_commands_and_ci_runs_the_second():
    text = README.read_text(encoding="utf-8")
    quick = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    commands = [ln for ln in quick.splitlines() if ln.startswith("python3 -m venv")]
    assert len(commands) == 2
    assert "hybridops rehearse bedrock-failure --auto" in commands[0]
    ci = (README.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert commands[1] in ci
