"""How long a drill waits for a sandbox: medians of Sandbox.start() and of `hybridops sandbox`.

    .venv/bin/python bench/sandbox_startup.py [--runs 5]

Figures, each a median over --runs fresh processes, and as a ratio to `python -c pass` (the ratios
drift less than the times from machine to machine):
- cold start():   import + seed + both servers answering, in a new process (what `rehearse` pays);
- warm start():   a second Sandbox in a process that already has one loaded (what a test session pays);
- set_scenario(): re-seeding a running sandbox into another scenario;
- CLI:            `hybridops sandbox` from exec to its last export line.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

IN_PROCESS = r"""
import time
t = time.perf_counter()
from hybridops.sandbox import Sandbox
sb = Sandbox(scenario="mcp-down").start()
cold = time.perf_counter() - t
t = time.perf_counter()
other = Sandbox(scenario="outage").start()
warm = time.perf_counter() - t
t = time.perf_counter()
other.set_scenario("bedrock-down")
reseed = time.perf_counter() - t
other.stop()
sb.stop()
print(cold, warm, reseed)
"""


def wall(argv: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    return time.perf_counter() - t


def cli_ready() -> float:
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "hybridops", "sandbox", "--scenario", "bedrock-down"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    for _ in range(6):
        if not proc.stdout.readline():
            raise SystemExit(f"hybridops sandbox exited early ({proc.wait()})")
    ready = time.perf_counter() - t
    proc.terminate()
    proc.wait(10)
    return ready


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    baseline = statistics.median(wall([sys.executable, "-c", "pass"]) for _ in range(runs))
    samples = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", IN_PROCESS], check=True, capture_output=True, text=True)
        samples.append([float(x) for x in out.stdout.split()])
    cold, warm, reseed = (statistics.median(s[i] for s in samples) for i in range(3))
    cli = statistics.median(cli_ready() for _ in range(runs))
    print(f"median of {runs} runs; baseline `python -c pass` = {baseline * 1000:.0f} ms")
    for name, value in (("cold Sandbox.start()", cold), ("warm Sandbox.start()", warm),
                        ("set_scenario()", reseed), ("CLI to export lines", cli)):
        print(f"{name:<22} {value * 1000:7.0f} ms  {value / baseline:6.1f}x baseline")


if __name__ == "__main__":
    main()
