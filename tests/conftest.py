"""Fixtures for every test: files in tmp_path, no user state, and one in-process CLI helper."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures"

RunCli = Callable[..., tuple[int, str, str]]


def pytest_configure(config: pytest.Config) -> None:
    """One cache of valid runbooks for the session, as a user's machine has one: the CLI processes the
    tests start find the shipped runbooks valid without loading botocore again (tests of the cache
    itself use their own directory)."""
    os.environ["HYBRIDOPS_CACHE_DIR"] = tempfile.mkdtemp(prefix="hybridops-test-cache-")


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(os.environ.pop("HYBRIDOPS_CACHE_DIR", ""), ignore_errors=True)


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
