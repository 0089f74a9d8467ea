"""Drills on simulated time: wall time and peak memory of `hybridops rehearse` as a user runs it.

    .venv/bin/python bench/drills.py [--runs N]

Rows, each the median of N fresh `python -m hybridops` processes (start-up included), alternating:
  - `rehearse --all --auto` (the five drills in one process; the target is under 10 s),
  - `rehearse --all --auto --faults --seed 1`,
  - `rehearse ID --auto` for each incident alone,
with the simulated time each drill stood for, from its report. A figure to read, never a test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

INCIDENTS = ("outage", "bedrock-failure", "mcp-failure", "high-error-rate", "routing-efficiency")


def run(args: list[str], tmp: Path) -> tuple[float, float, int]:
    """(wall seconds, peak RSS MiB, exit code) of one `python -m hybridops ARGS`."""
    env = {**os.environ, "HYBRIDOPS_AUDIT_DIR": str(tmp / "audit")}
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "hybridops", *args], env=env, cwd=tmp, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak memory
    wall = time.monotonic() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss / 1024, proc.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hybridops-bench-") as name:
        tmp = Path(name)
        rows: dict[str, list[tuple[float, float, int]]] = {}
        cases = {
            "rehearse --all": ["rehearse", "--all", "--auto", "--report", str(tmp / "all")],
            "rehearse --all --faults": ["rehearse", "--all", "--auto", "--faults", "--seed", "1"],
            **{f"rehearse {i}": ["rehearse", i, "--auto", "--report", str(tmp / f"{i}.json")] for i in INCIDENTS},
        }
        for _ in range(args.runs):  # alternating, so that a noisy moment spreads over every row
            for label, cmd in cases.items():
                rows.setdefault(label, []).append(run(cmd, tmp))
        print(f"{'command':<36} {'wall (median)':>14} {'min':>7} {'max':>7} {'peak RSS':>9} {'exit':>5}"
              f" {'simulated':>10}")
        for label, got in rows.items():
            walls = [w for w, _, _ in got]
            simulated = ""
            incident = label.split()[-1]
            if incident in INCIDENTS:
                report = json.loads((tmp / f"{incident}.json").read_text(encoding="utf-8"))
                simulated = f"{report['duration_s'] / 60:.1f}min"
            elif label == "rehearse --all":
                total = sum(json.loads((tmp / "all" / f"{i}.json").read_text(encoding="utf-8"))["duration_s"]
                            for i in INCIDENTS)
                simulated = f"{total / 60:.1f}min"
            print(f"{label:<36} {statistics.median(walls):>13.2f}s {min(walls):>6.2f}s {max(walls):>6.2f}s "
                  f"{max(m for _, m, _ in got):>7.0f}MiB {got[-1][2]:>5} {simulated:>10}")
    print(f"({args.runs} runs each; machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
