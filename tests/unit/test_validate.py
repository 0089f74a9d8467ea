"""The validator: one failing fixture per rule, each problem's exact position and message.

Each file in tests/fixtures/invalid/ ends with `# expect: LINE:COL: MESSAGE` comments: the exact
problems it must produce, no more, no fewer.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hybridops.runbook import botocore_check
from hybridops.runbook.load import Problem, load_runbook
from hybridops.runbook.validate import validate_file, validate_paths, validate_runbook

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
INVALID = sorted((FIXTURES / "invalid").glob("*.yaml"))
SAMPLE = FIXTURES / "valid" / "sample.yaml"

# The rules the issue lists; each must have its fixture.
RULES = (
    "unknown-key", "wrong-type", "bad-enum", "duplicate-key", "bad-duration", "unknown-aws-service",
    "unknown-aws-operation", "unknown-aws-param", "missing-required-param", "wrong-scalar-type",
    "bad-aws-enum-value", "unknown-admin-path", "wrong-method", "unknown-body-field", "body-value-out-of-schema",
    "unknown-reference", "later-capture-reference", "missing-goto-target", "duplicate-step-id",
    "id-file-name-mismatch",
)


def expected(path: Path) -> list[str]:
    return [line.removeprefix("# expect: ") for line in path.read_text().splitlines() if line.startswith("# expect: ")]


def test_every_rule_has_a_fixture() -> None:
    assert set(RULES) <= {p.stem for p in INVALID}


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_invalid_fixture(path: Path) -> None:
    report = validate_file(path)
    assert expected(path), f"{path.name} has no `# expect:` lines"
    assert [f"{p.line}:{p.col}: {p.message}" for p in report.problems] == expected(path)
    assert {p.path for p in report.problems} == {str(path)}
    assert not report.ok


def test_sample_uses_every_kind_and_is_valid() -> None:
    from hybridops.runbook.model import KINDS

    loaded = load_runbook(SAMPLE)
    assert {step.kind for _, step in loaded.runbook.steps()} == set(KINDS)
    assert validate_runbook(loaded) == []


def test_a_directory_expands_to_its_runbooks(tmp_path: Path) -> None:
    shutil.copy(SAMPLE, tmp_path / "sample.yaml")
    shutil.copy(FIXTURES / "invalid" / "unknown-aws-param.yaml", tmp_path)
    (tmp_path / "notes.txt").write_text("not a runbook")
    problems = validate_paths([tmp_path])
    assert [(Path(p.path).name, p.line) for p in problems] == [("unknown-aws-param.yaml", 24)]


def test_an_empty_directory_and_a_missing_file_are_problems(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    problems = validate_paths([tmp_path / "empty", tmp_path / "missing.yaml"])
    assert problems == [
        Problem(str(tmp_path / "empty"), 1, 1, "no runbook files (*.yaml) in this directory"),
        Problem(str(tmp_path / "missing.yaml"), 1, 1, "cannot read: No such file or directory"),
    ]


def variant(tmp_path: Path, old: str, new: str, name: str = "sample") -> Path:
    text = SAMPLE.read_text()
    assert old in text
    path = tmp_path / f"{name}.yaml"
    path.write_text(text.replace(old, new, 1).replace("id: sample", f"id: {name}", 1))
    return path


def line_of(path: Path, needle: str) -> int:
    """1-based line of the first line holding `needle` (the edited text), so the tests survive edits above."""
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def messages(path: Path) -> list[str]:
    return [f"{p.line}: {p.message}" for p in validate_file(path).problems]


def test_templated_values_are_left_to_run_time(tmp_path: Path) -> None:
    # A template where botocore wants an integer, a list or a structure: its type is known only once rendered.
    path = variant(tmp_path, "maximumPercent: 200", 'maximumPercent: "{{ cluster }}"')
    assert messages(path) == []
    path = variant(tmp_path, "duration: 3600", 'duration: "{{ 60 * 60 }}"')
    assert messages(path) == []


def test_a_poll_reads_its_own_captures_in_until_and_show_but_not_in_its_call(tmp_path: Path) -> None:
    path = variant(tmp_path, "path: /health/component/mcp-router", "path: /health/component/{{ mcp_status }}")
    line = line_of(path, "{{ mcp_status }}")
    assert messages(path) == [
        f"{line}: step watch-mcp: 'mcp_status' is captured by this same step, so it is not set yet here;"
        " read it in a later step"
    ]


def test_undo_may_read_the_steps_own_captures(tmp_path: Path) -> None:
    text = SAMPLE.read_text()
    body = "          body:\n            reason:"
    text = text.replace(body, "          capture: {ok: ok}\n" + body)
    text = text.replace("body: {percentage: 100}", 'body: {percentage: "{{ 100 if ok else 0 }}"}')
    path = tmp_path / "sample.yaml"
    path.write_text(text)
    assert messages(path) == []


def test_a_misspelt_required_param_is_one_problem(tmp_path: Path) -> None:
    path = variant(tmp_path, 'service: "{{ service }}"\n            forceNewDeployment',
                   'servce: "{{ service }}"\n            forceNewDeployment')
    line = line_of(path, "servce")
    assert messages(path) == [
        f"{line}: step restart: ecs UpdateService: unknown parameter 'servce' in params (did you mean 'service'?)"
    ]


def test_undo_calls_and_variable_defaults_are_checked(tmp_path: Path) -> None:
    path = variant(tmp_path, "body: {percentage: 100}", "body: {percent: 100}")
    line = line_of(path, "percent: 100")
    assert messages(path) == [
        f"{line}: step force-mcp undo: POST /admin/routing/bedrock-percentage: unknown field 'percent' in body"
        " (did you mean 'percentage'?)"
    ]
    path = variant(tmp_path, "default: /ecs/hybrid-routing", 'default: "/ecs/{{ clustr }}"')
    line = line_of(path, "clustr")
    assert messages(path) == [
        f"{line}: variable log_group: unknown name 'clustr' (did you mean 'cluster'?); declare it under"
        " `variables` or capture it in an earlier step"
    ]


def test_a_reserved_step_id_and_duplicate_names(tmp_path: Path) -> None:
    path = variant(tmp_path, "id: postmortem", "id: end")
    line = line_of(path, "id: end")
    assert messages(path) == [f"{line}: step id 'end' is reserved: a go-to `end` finishes the run"]

    path = variant(tmp_path, "  - name: service\n", "  - name: cluster\n  - name: service\n")
    first, again = line_of(path, "name: cluster"), line_of(path, "name: service") - 1
    assert messages(path) == [f"{again}: duplicate variable 'cluster' (first at line {first})"]

    path = variant(tmp_path, "id: recovery", "id: immediate")
    first, again = line_of(path, "id: immediate"), line_of(path, "title: Recovery") - 1
    assert messages(path) == [f"{again}: duplicate phase id 'immediate' (first at line {first})"]


def test_service_models_are_loaded_once_and_only_those_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HYBRIDOPS_CACHE_DIR", "off")  # validated for real, both times
    session = botocore_check._session()
    loaded: list[str] = []
    real = session.get_service_model

    def counting(name: str, *args: object, **kwargs: object) -> object:
        loaded.append(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(session, "get_service_model", counting)
    botocore_check.service_model.cache_clear()
    try:
        runbook = load_runbook(SAMPLE)
        assert validate_runbook(runbook) == validate_runbook(runbook) == []
    finally:
        botocore_check.service_model.cache_clear()
    assert sorted(loaded) == ["ecs", "elbv2", "logs"]
