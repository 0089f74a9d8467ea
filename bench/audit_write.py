"""Audit log write speed: records/s through `AuditLog.append`, with fsync (as shipped) and without.

    .venv/bin/python bench/audit_write.py [--records N] [--repeat R] [--dir DIR]

Also times the bare baseline (json.dumps + os.write [+ fsync]) so the cost of hashing, masking and
locking is visible. "Without fsync" patches os.fsync out for the measurement only: AuditLog has no
switch to turn durability off. STACK-NOTES measured ~7,000 records/s with fsync and ~200,000/s
without for bare JSON lines on these machines. Use --dir to measure the disk the audit dir is on
(tmpfs makes fsync free).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hybridops.audit.log import AuditLog, new_run_id  # noqa: E402

FIELDS = {
    "step_id": "restart-service",
    "target": "aws",
    "service": "ecs",
    "operation": "UpdateService",
    "region": "eu-central-1",
    "params": {"cluster": "hybrid-routing-cluster", "service": "hybrid-routing-service", "forceNewDeployment": True},
    "mutating": True,
    "attempt": 1,
}
SECRETS = ["tok-3f9a8b7c6d5e", "https://hooks.slack.test/T000/B000/XYZ"]


def audit_log(directory: Path, n: int) -> None:
    with AuditLog.create(directory, new_run_id("bench"), secrets=SECRETS) as log:
        for _ in range(n):
            log.append("request", **FIELDS)


def baseline(directory: Path, n: int) -> None:
    fd = os.open(directory / f"{new_run_id('baseline')}.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for seq in range(n):
            os.write(fd, json.dumps({"seq": seq, **FIELDS}, separators=(",", ":")).encode() + b"\n")
            os.fsync(fd)
    finally:
        os.close(fd)


def rate(fn: Callable[[Path, int], None], directory: Path, n: int, repeat: int, *, fsync: bool) -> float:
    rates = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(dir=directory) as tmp:
            start = time.perf_counter()
            if fsync:
                fn(Path(tmp), n)
            else:
                with mock.patch.object(os, "fsync", lambda fd: None):
                    fn(Path(tmp), n)
            rates.append(n / (time.perf_counter() - start))
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args()
    print(f"{args.records} records x {args.repeat} runs (median), in {args.dir}")
    print(f"{'':28}{'with fsync':>14}{'without fsync':>16}")
    for name, fn in (("AuditLog.append", audit_log), ("bare json + os.write", baseline)):
        with_fsync = rate(fn, args.dir, args.records, args.repeat, fsync=True)
        without = rate(fn, args.dir, args.records * 10, args.repeat, fsync=False)
        print(f"{name:28}{with_fsync:>10,.0f} r/s{without:>12,.0f} r/s")


if __name__ == "__main__":
    main()
