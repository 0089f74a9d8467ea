"""Whatever a file holds, `validate` answers with positioned problems and exit 1, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hybridops.errors import RunbookInvalid
from hybridops.runbook.load import load_runbook
from hybridops.runbook.validate import validate_file

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
BAD = FIXTURES / "bad"
SAMPLE = FIXTURES / "valid" / "sample.yaml"

EXPECTED = {
    "empty.yaml": "1:1: empty file: a runbook is a YAML mapping",
    "comment-only.yaml": "1:1: empty file: a runbook is a YAML mapping",
    "binary.yaml": "1:1: binary file, not YAML text",
    "not-utf8.yaml": "2:11: not UTF-8 text",
    "top-level-list.yaml": "1:1: a runbook is a YAML mapping, not a list",
    "scalar.yaml": "1:1: a runbook is a YAML mapping, not a str",
    "two-documents.yaml": "3:1: YAML: more than one YAML document: a runbook file holds exactly one",
    "alias-bomb.yaml": "3:8: YAML: anchors and aliases are not allowed in runbooks",
    "python-tag.yaml": "1:5: unsupported YAML tag 'tag:yaml.org,2002:python/object/apply:os.system'",
    "bad-syntax.yaml": "4:1: YAML: found unexpected end of stream",
    "merge-key.yaml": "2:1: keys must be plain strings (no merge keys or complex keys)",
}


def test_every_bad_fixture_has_an_expectation() -> None:
    assert sorted(p.name for p in BAD.iterdir()) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_file(cli, name: str) -> None:
    path = BAD / name
    code, out, err = cli("validate", path)
    assert (code, out) == (1, f"{path}:{EXPECTED[name]}\n")
    assert err == "1 problem in 1 of 1 runbook\n"
    # `show` of the same file reports the same problem through the CLI's one error mapping
    code, out, err = cli("show", path)
    assert (code, out, err) == (1, "", f"{path}:{EXPECTED[name]}\n")


def test_deep_nesting_10k_levels(cli, tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("a: " + "[" * 10_000 + "]" * 10_000 + "\n")
    code, out, _ = cli("validate", path)
    assert (code, out) == (1, f"{path}:1:67: YAML: nesting deeper than 64 levels\n")
    block = tmp_path / "deep-block.yaml"
    block.write_text("".join("  " * i + "a:\n" for i in range(200)))
    code, out, _ = cli("validate", block)
    assert (code, out) == (1, f"{block}:64:127: YAML: nesting deeper than 64 levels\n")


def test_a_file_too_large(cli, tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text("# padding\n" * 300_000)
    code, out, _ = cli("validate", path)
    assert (code, out) == (1, f"{path}:1:1: file larger than 2048 KiB\n")


def test_python_tags_are_refused_never_executed(cli, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.yaml"
    path.write_text(f'id: !!python/object/apply:os.system ["touch {marker}"]\n'
                    '!!python/name:os.system x: !!python/object/new:os.system ["touch {marker}"]\n')
    existed = Path("/tmp/pwned").exists()
    code, out, _ = cli("validate", path, BAD / "python-tag.yaml")
    assert code == 1
    assert f"{path}:1:5: unsupported YAML tag 'tag:yaml.org,2002:python/object/apply:os.system'" in out
    assert not marker.exists()
    assert Path("/tmp/pwned").exists() == existed


def test_a_missing_path_is_one_line(cli, tmp_path: Path) -> None:
    code, out, err = cli("validate", tmp_path / "nope.yaml")
    assert (code, out) == (1, f"{tmp_path / 'nope.yaml'}:1:1: cannot read: No such file or directory\n")


def test_truncated_runbooks_never_raise_anything_else(tmp_path: Path) -> None:
    data = SAMPLE.read_bytes()
    path = tmp_path / "sample.yaml"
    for cut in range(0, len(data), 37):
        path.write_bytes(data[:cut])
        try:
            load_runbook(path)
        except RunbookInvalid as exc:
            assert exc.problems
        validate_file(path)  # never raises: every problem is data


def test_no_traceback_from_the_real_entry_point(tmp_path: Path) -> None:
    deep = tmp_path / "deep.yaml"
    deep.write_text("a: " + "[" * 10_000 + "]" * 10_000 + "\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.run(
        [sys.executable, "-m", "hybridops", "validate", *sorted(map(str, BAD.iterdir())), str(deep)],
        capture_output=True, text=True, env=env, timeout=60,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stdout + proc.stderr
    assert len(proc.stdout.splitlines()) == len(EXPECTED) + 1
    assert proc.stderr == f"{len(EXPECTED) + 1} problems in {len(EXPECTED) + 1} of {len(EXPECTED) + 1} runbooks\n"


def test_each_missing_key_is_its_own_problem_and_hints_fit_the_place(tmp_path: Path) -> None:
    """A first runbook written from memory: flat `steps`, a typo. Every mistake gets its own line, and a
    hint never suggests the very key that was written."""
    path = tmp_path / "first.yaml"
    path.write_text("id: first\ntitle: First\nseverty: P1\nsteps:\n  - id: a\n")
    messages = [(p.line, p.message) for p in validate_file(path).problems]
    assert messages == [
        *((1, f"(top): missing required key {k!r}") for k in ("impact", "owner", "phases", "response_time", "version")),
        (3, "(top): unknown key 'severty' (did you mean 'severity'?)"),
        (4, "(top): unknown key 'steps' ('steps' belongs inside a phase: phases: [{id: ..., steps: ...}])"),
    ]
