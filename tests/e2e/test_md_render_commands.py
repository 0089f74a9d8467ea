"""The rendered pages' `aws` and `curl` lines, pasted into bash with the real AWS CLI and curl, send the
sandbox the same requests as the runbooks' own steps (`hybridops incident ID --yes`)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from e2e_support import base_env, brief, run_cli

from hybridops.markdown.render import render_markdown
from hybridops.runbook.catalog import PACKAGED
from hybridops.runbook.load import load_runbook
from hybridops.sandbox import Sandbox

BIN = Path(sys.executable).parent
SHIPPED = ("outage", "bedrock-failure", "mcp-failure", "high-error-rate", "routing-efficiency")
_TIMES = {"StartTime", "EndTime", "startTime", "endTime"}  # sent as "now minus N": differ by the second
_BLOCK = re.compile(r"^( *)```bash\n(.*?)^\1```$", re.S | re.M)
# a poll's `watch -n N 'CMD'` runs CMD once; each block's requests are fenced by a marker request
# (the AWS CLI v1 reads no AWS_ENDPOINT_URL: --endpoint-url points it at the sandbox)
_PRELUDE = ('watch() { shift 2; eval "$1"; }\n'
            'aws() { command aws --endpoint-url "$AWS_ENDPOINT_URL" "$@"; }\n'
            'mark() { curl -sS -o /dev/null "${ADMIN_URL}/__block__/$1"; }\n')


def _masked(record: dict[str, Any]) -> tuple[Any, ...]:
    b = brief(record)
    if b[0] == "aws":
        params = {k: ("<time>" if k in _TIMES else v) for k, v in (b[3] or {}).items()}
        params.pop("nextToken", None)
        return ("aws", b[1], b[2], repr(sorted(params.items())))
    return ("admin", b[1], b[2], repr(b[3]))


def _script(page: str) -> tuple[str, int]:
    """The page's bash blocks as one script (undo blocks last: pasting one reverses what it follows)."""
    blocks: list[str] = []
    undos: list[str] = []
    for m in _BLOCK.finditer(page):
        body = "\n".join(line[len(m.group(1)):] for line in m.group(2).rstrip("\n").split("\n"))
        before = page[:m.start()].rstrip().rsplit("\n", 1)[-1].strip()
        (undos if before == "Undo:" else blocks).append(body)
    setup, *steps = blocks
    out = [_PRELUDE, setup]
    for i, body in enumerate([*steps, *undos]):
        out += [f"mark {i}", body]
    return "\n".join(out) + "\n", len(steps) + len(undos)


@pytest.mark.parametrize("rid", SHIPPED)
def test_rendered_commands_send_what_the_runbook_sends(rid: str, sandbox: Sandbox, tmp_path: Path) -> None:
    runbook = load_runbook(PACKAGED / f"{rid}.yaml").runbook
    env = {**base_env(tmp_path), **sandbox.env, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}

    sandbox.set_scenario(runbook.scenario or "healthy")
    result = run_cli(["incident", rid, "--yes", "--no-notify", "--skip-preflight"], env, cwd=tmp_path,
                     timeout=120)
    assert result.code in (0, 3, 4), result
    sent_by_run = len(sandbox.requests())
    by_run = {_masked(r) for r in sandbox.requests() if r["api"] in ("aws", "admin")}

    # the same world (its resources keep their generated ids), now changed by the run's steps
    script, blocks = _script(render_markdown(runbook))
    done = subprocess.run(["bash", "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, check=False)
    assert "usage:" not in done.stderr and "Unknown options" not in done.stderr, done.stderr
    assert "Invalid" not in done.stderr and "Parameter validation failed" not in done.stderr, done.stderr
    records = [r for r in sandbox.requests()[sent_by_run:] if r["api"] in ("aws", "admin")]
    marks = [i for i, r in enumerate(records) if r.get("path", "").startswith("/__block__/")]
    assert len(marks) == blocks
    for start, end in zip(marks, [*marks[1:], len(records)], strict=True):
        assert end > start + 1, f"block {records[start]['path']} sent nothing:\n{done.stderr}"
    by_shell = {_masked(r) for r in records if not r.get("path", "").startswith("/__block__/")}
    missing = by_run - by_shell
    assert not missing, f"the pasted commands never sent: {sorted(missing)}\n{done.stderr}"
