"""Wall time of each incident's drill: `hybridops rehearse ID --auto` as a user runs it, one after another.

    .venv/bin/python bench/drills.py [--time-scale F] [--only ID ...]

Each drill is a fresh `python -m hybridops` process (start-up included, as for a user), with its audit
log in a temporary directory; the report gives the run's own duration, the simulated real-world time it
stands for, and time to mitigation. The issue asks for "well under a minute" each at the default scale.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

INCIDENTS = ("outage", "bedrock-failure", "mcp-failure", "high-error-rate", "routing-efficiency")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-scale", type=float, default=None, help="pass --time-scale (default: rehearse's)")
    parser.add_argument("--only", nargs="+", choices=INCIDENTS, default=list(INCIDENTS))
    args = parser.parse_args()
    worst = 0.0
    print(f"{'incident':<20} {'exit':>4} {'wall':>7} {'run':>7} {'real-world':>11} {'to mitigation':>14}  recovered")
    with tempfile.TemporaryDirectory(prefix="hybridops-bench-") as tmp:
        for incident in args.only:
            report = Path(tmp) / f"{incident}.json"
            cmd = [sys.executable, "-m", "hybridops", "rehearse", incident, "--auto", "--report", str(report)]
            if args.time_scale is not None:
                cmd += ["--time-scale", str(args.time_scale)]
            env = {**os.environ, "HYBRIDOPS_AUDIT_DIR": str(Path(tmp) / "audit")}
            t0 = time.monotonic()
            proc = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
            wall = time.monotonic() - t0
            worst = max(worst, wall)
            if not report.is_file():
                print(f"{incident:<20} {proc.returncode:>4} {wall:>6.1f}s  no report: {proc.stderr.strip()[-200:]}")
                continue
            r = json.loads(report.read_text(encoding="utf-8"))
            ttm = r["time_to_mitigation_world_s"]
            print(f"{incident:<20} {proc.returncode:>4} {wall:>6.1f}s {r['duration_s']:>6.1f}s "
                  f"{r['world_duration_s'] / 60:>9.1f}min {'-' if ttm is None else f'{ttm / 60:.1f}min':>14}  "
                  f"{r['recovered']}")
    print(f"slowest: {worst:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
