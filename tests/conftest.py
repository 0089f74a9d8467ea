"""Fixtures for every test: files in tmp_path, no user state, and one in-process CLI helper."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures"

RunCli = Callable[..., tuple[int, str, str]]


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test runs in its own directory; whatever the tool writes lands in tmp_path."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HYBRIDOPS_AUDIT_DIR", str(tmp_path / "audit"))
    monkeypatch.delenv("HYBRIDOPS_RUNBOOKS", raising=False)
    monkeypatch.delenv("HYBRIDOPS_DEBUG", raising=False)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> RunCli:
    """`cli("validate", "x.yaml") -> (exit code, stdout, stderr)`, in-process through `app.run`."""
    from hybridops.cli.app import run

    def run_cli(*args: str | Path | list[str | Path]) -> tuple[int, str, str]:
        argv = args[0] if len(args) == 1 and isinstance(args[0], list) else args  # cli([...]) or cli(...)
        capsys.readouterr()  # drop anything printed before
        code = run([str(a) for a in argv])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run_cli
