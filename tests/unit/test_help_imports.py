"""`--help` stays fast: it imports none of boto3, botocore, httpx, moto; and every command has help."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer.main

from hybridops.cli.app import app

FORBIDDEN = ("boto3", "botocore", "httpx", "moto", "s3transfer", "urllib3")
ROOT = Path(__file__).resolve().parents[2]


def all_commands() -> list[list[str]]:
    """Every command path of the app: [], ["validate"], ["audit"], ["audit", "list"], ..."""
    found: list[list[str]] = []

    def walk(cmd: Any, path: list[str]) -> None:
        found.append(path)
        # typer vendors its own click: a group is whatever has sub-commands
        if isinstance(getattr(cmd, "commands", None), dict):
            for name, sub in sorted(cmd.commands.items()):
                if not sub.hidden:
                    walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return found


COMMANDS = all_commands()

# Runs each `--help` in turn in one fresh interpreter, through the console-script entry point, and
# reports which forbidden top-level modules each one loaded.
_PROBE = """
import contextlib, io, json, sys
from hybridops.cli.app import run
forbidden = set(sys.argv[1].split(","))
report = []
for args in json.loads(sys.argv[2]):
    with contextlib.redirect_stdout(io.StringIO()):
        code = run([*args, "--help"])
    loaded = sorted({m.split(".")[0] for m in sys.modules} & forbidden)
    report.append([" ".join(args), code, loaded])
print(json.dumps(report))
"""


def test_help_imports_no_aws_or_http_library() -> None:
    # `--help` and `validate --help` first: each is checked in a clean state before anything else loads.
    order = [[], ["validate"], *[c for c in COMMANDS if c not in ([], ["validate"])]]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, ",".join(FORBIDDEN), json.dumps(order)],
        capture_output=True, text=True, env=env, timeout=120, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert [(cmd, code) for cmd, code, _ in report] == [(" ".join(c), 0) for c in order]
    assert [(cmd, loaded) for cmd, _, loaded in report if loaded] == []


def test_top_level_help_in_a_fresh_process() -> None:
    code = (
        "import sys, runpy\n"
        "sys.argv = ['hybridops', '--help']\n"
        "try:\n    runpy.run_module('hybridops', run_name='__main__')\n"
        "except SystemExit as e:\n    assert not e.code, e.code\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {set(FORBIDDEN)!r}), file=sys.stderr)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "Usage" in proc.stdout
    assert proc.stderr.strip() == "[]"


@pytest.mark.parametrize("args", COMMANDS, ids=[" ".join(c) or "hybridops" for c in COMMANDS])
def test_every_command_has_help(cli, args: list[str]) -> None:
    code, out, err = cli([*args, "--help"])
    assert (code, err) == (0, "")
    assert f"Usage: hybridops {' '.join(args)}".rstrip() in " ".join(out.split())
    command = typer.main.get_command(app)
    for name in args:
        command = command.commands[name]  # type: ignore[attr-defined]
    assert (command.help or "").strip(), f"`hybridops {' '.join(args)}` has no help text"


_RUN_ONCE = """
import contextlib, io, json, sys
from hybridops.cli.app import run
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    code = run(json.loads(sys.argv[1]))
print(json.dumps([code, sorted({m.split(".")[0] for m in sys.modules})]))
"""


def _fresh_process(args: list[str], cache_dir: Path) -> tuple[int, set[str]]:
    """Exit code and top-level modules of one command run in a fresh interpreter (stdout not a terminal)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HYBRIDOPS_CACHE_DIR": str(cache_dir)}
    proc = subprocess.run([sys.executable, "-c", _RUN_ONCE, json.dumps(args)], capture_output=True, text=True,
                          env=env, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    code, modules = json.loads(proc.stdout)
    return code, set(modules)


def test_help_when_not_at_a_terminal_is_plain_and_loads_no_rich(tmp_path: Path) -> None:
    code, modules = _fresh_process(["incident", "--help"], tmp_path)
    assert code == 0
    assert modules & {"rich", "markdown_it", "pygments", *FORBIDDEN} == set()


def test_list_show_and_validate_load_only_what_they_need(tmp_path: Path) -> None:
    for args in (["list"], ["show", "bedrock-failure"]):
        code, modules = _fresh_process(args, tmp_path)
        assert (code, modules & {*FORBIDDEN, "jsonschema"}) == (0, set()), args
    code, cold = _fresh_process(["validate", "runbooks"], tmp_path)
    assert code == 0 and "botocore" in cold  # the AWS calls checked against botocore's models
    code, warm = _fresh_process(["validate", "runbooks"], tmp_path)
    assert (code, warm & {*FORBIDDEN, "jsonschema"}) == (0, set())  # known valid: nothing loaded again
