"""Start-up cost of the CLI: `hybridops --help` against a bare interpreter and a bare Typer app.

Prints medians of whole-process runs; compare the ratios, not the absolute numbers (shared machine).
Usage: python bench/startup.py [runs]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 9

CASES = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "bare typer app --help": [sys.executable, "-c",
                              "import typer; app = typer.Typer(); app.command()(lambda: None); "
                              "app(['--help'], standalone_mode=False)"],
    "hybridops --help": [sys.executable, "-m", "hybridops", "--help"],
    "hybridops validate --help": [sys.executable, "-m", "hybridops", "validate", "--help"],
    "hybridops list": [sys.executable, "-m", "hybridops", "list"],
    "import boto3 (what --help avoids)": [sys.executable, "-c", "import boto3"],
}


def median_ms(cmd: list[str]) -> float:
    times = []
    for _ in range(RUNS):
        t = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main() -> None:
    base = None
    print(f"{'case':40} {'median ms':>10} {'x python':>9}")
    for name, cmd in CASES.items():
        ms = median_ms(cmd)
        base = base or ms
        print(f"{name:40} {ms:10.0f} {ms / base:9.1f}")


if __name__ == "__main__":
    main()
