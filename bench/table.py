"""The speed and weight of hybridops beside the commands it replaces: one table, every figure with its
baseline, measured in the same run.

    .venv/bin/python bench/table.py [--runs 7] [--install] [--suite]

Each figure is a median over alternating whole-process runs (a noisy moment spreads over every row),
in ms, with the child's peak memory, and as a ratio to its baseline:
- `hybridops --help`, `list`, `show`, `validate` (the five) against `aws --version` (AWS CLI v1);
- `validate` of 500 generated runbooks (the five, copied under new ids);
- `validate` with a warm cache of valid runbooks (the bench's own, filled first) and with none
  (`HYBRIDOPS_CACHE_DIR=off`: what a fresh CI machine pays);
- engine overhead per step: a generated runbook of 1,000 `check` steps (no network), audit log on,
  fsync included, against the same runbook with 1 step: (t1000 - t1) / 999;
- `incident bedrock-failure --yes --no-notify` against the source runbook's Bedrock-failure commands
  as a shell script (4 `aws`, 10 `curl`), both on one `hybridops sandbox --simulated-time` (so the
  runbook's waits cost nothing and what is left is the tools' own cost);
- sandbox start-up and `rehearse --all`;
- with --install: a fresh `pip install .` (time, size, packages) in a temporary venv;
- with --suite: the README's test command (`pytest -q`), once.
A figure to read, never a test: these machines are shared and noisy, so compare ratios.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HYBRIDOPS = [sys.executable, "-m", "hybridops"]
MODEL = "anthropic.claude-3-sonnet-20240229-v1:0"
BODY = '{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"messages":[{"role":"user","content":"test"}]}'

# The source runbook's "Bedrock Client Failure" section as an on-call engineer pastes it (notifications
# left out on both sides: the sandbox has no Slack or PagerDuty), with the `watch` loops run 3 times.
SOURCE_SCRIPT = f"""set -u
H="Authorization: Bearer $HYBRIDOPS_ADMIN_TOKEN"
J="Content-Type: application/json"
aws bedrock-runtime invoke-model --model-id {MODEL} --body '{BODY}' --region eu-central-1 \\
  --cli-binary-format raw-in-base64-out "$OUT/output.json" >/dev/null 2>&1 || true
aws health describe-events --filter services=BEDROCK --region us-east-1 >/dev/null
curl -sf -X POST "$HYBRIDOPS_ADMIN_URL/admin/routing/force-mcp" -H "$H" -H "$J" \\
  -d '{{"reason": "Bedrock unavailable", "duration": 3600}}' >/dev/null
for i in 1 2 3; do curl -s "$HYBRIDOPS_ADMIN_URL/health/component/mcp-router" -H "$H" >/dev/null; done
aws iam simulate-principal-policy --policy-source-arn "$ROLE" --action-names bedrock:InvokeModel \\
  --resource-arns '*' >/dev/null
aws ec2 describe-vpc-endpoints --filters Name=service-name,Values=com.amazonaws.eu-central-1.bedrock-runtime \\
  >/dev/null
curl -s -X POST "$HYBRIDOPS_ADMIN_URL/admin/bedrock/test" -H "$H" >/dev/null
for p in 10 50 100; do
  curl -sf -X POST "$HYBRIDOPS_ADMIN_URL/admin/routing/bedrock-percentage" -H "$H" -H "$J" \\
    -d "{{\\"percentage\\": $p}}" >/dev/null
done
"""

CHECK_STEP = """      - id: check-{i}
        title: Check {i}
        budget: 1m
        check: {{condition: "1 == 1", message: "fine"}}
"""
STEPS_RUNBOOK = """id: steps-{n}
title: {n} checks
severity: P3
response_time: 1h
impact: none
symptoms: [a benchmark]
owner: bench
version: 1.0.0
phases:
  - id: checks
    title: Checks
    steps:
{steps}"""


class Measure:
    """Whole-process runs: wall seconds and the child's own peak RSS (MiB)."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.env = env
        self.cwd = cwd

    def once(self, argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float, int]:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, env={**self.env, **(env or {})}, cwd=self.cwd, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        return time.perf_counter() - t0, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def median_rows(cases: dict[str, Callable[[], tuple[float, float, int]]], runs: int) -> dict[str, tuple]:
    got: dict[str, list[tuple[float, float, int]]] = {k: [] for k in cases}
    for _ in range(runs):
        for name, fn in cases.items():
            got[name].append(fn())
    return {k: (statistics.median(w for w, _, _ in v), max(m for _, m, _ in v), v[-1][2]) for k, v in got.items()}


def generated_runbooks(directory: Path, copies: int) -> Path:
    out = directory / "many"
    out.mkdir()
    for path in sorted((ROOT / "runbooks").glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        original = f"id: {path.stem}\n"
        for i in range(copies):
            (out / f"{path.stem}-{i}.yaml").write_text(text.replace(original, f"id: {path.stem}-{i}\n", 1),
                                                       encoding="utf-8")
    return out


def steps_runbook(directory: Path, n: int) -> Path:
    path = directory / f"steps-{n}.yaml"
    path.write_text(STEPS_RUNBOOK.format(n=n, steps="".join(CHECK_STEP.format(i=i) for i in range(n))),
                    encoding="utf-8")
    return path


def start_sandbox(env: dict[str, str]) -> tuple[subprocess.Popen[str], dict[str, str]]:
    proc = subprocess.Popen([*HYBRIDOPS, "sandbox", "--simulated-time", "--scenario", "bedrock-down"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    exported: dict[str, str] = {}
    while True:
        line = proc.stdout.readline()
        if not line:
            raise SystemExit(f"hybridops sandbox exited early ({proc.wait()})")
        name, _, value = line.removeprefix("export ").strip().partition("=")
        exported[name] = value
        if name == "HYBRIDOPS_SIMULATED_CLOCK":  # the last line it prints, once both servers answer
            return proc, exported


def fresh_install(tmp: Path) -> str:
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    t0 = time.perf_counter()
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", str(ROOT)],
                   check=True, capture_output=True)
    took = time.perf_counter() - t0
    size = sum(f.stat().st_size for f in venv.rglob("*") if f.is_file() and not f.is_symlink()) / 2**20
    frozen = subprocess.run([str(venv / "bin" / "pip"), "list", "--format=freeze"], check=True,
                            capture_output=True, text=True).stdout.split()
    return f"{took:.0f} s, {size:.0f} MB, {len(frozen)} packages"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--install", action="store_true", help="also time a fresh `pip install .`")
    parser.add_argument("--suite", action="store_true", help="also time the README's test command once")
    args = parser.parse_args()
    aws = shutil.which("aws")
    if aws is None:
        raise SystemExit("needs the AWS CLI (pip install awscli) as the baseline")
    with tempfile.TemporaryDirectory(prefix="hybridops-bench-") as name:
        tmp = Path(name)
        # A cache of valid runbooks of its own, warmed below: the "no cache" rows show a first run.
        env = {**os.environ, "HYBRIDOPS_AUDIT_DIR": str(tmp / "audit"), "NO_COLOR": "1",
               "HYBRIDOPS_CACHE_DIR": str(tmp / "cache")}
        cold = {"HYBRIDOPS_CACHE_DIR": "off"}
        for k in ("AWS_PROFILE", "HYBRIDOPS_PROFILE"):
            env.pop(k, None)
        m = Measure(env, ROOT)
        many = generated_runbooks(tmp, 100)
        one, thousand = steps_runbook(tmp, 1), steps_runbook(tmp, 1000)
        sandbox, exported = start_sandbox(env)
        try:
            world = {**exported, "AWS_MAX_ATTEMPTS": "1", "AWS_RETRY_MODE": "standard", "OUT": str(tmp),
                     "ROLE": "arn:aws:iam::123456789012:role/hybrid-routing-task-role"}
            script = tmp / "bedrock-failure.sh"
            script.write_text(SOURCE_SCRIPT, encoding="utf-8")
            for warm in (["validate", "runbooks"], ["validate", str(many)], ["validate", str(one), str(thousand)]):
                m.once([*HYBRIDOPS, *warm])
            cases = {
                "aws --version": lambda: m.once([aws, "--version"]),
                "hybridops --help": lambda: m.once([*HYBRIDOPS, "--help"]),
                "hybridops list": lambda: m.once([*HYBRIDOPS, "list"]),
                "hybridops show bedrock-failure": lambda: m.once([*HYBRIDOPS, "show", "bedrock-failure"]),
                "hybridops validate (the five)": lambda: m.once([*HYBRIDOPS, "validate", "runbooks"]),
                "validate (the five), no cache": lambda: m.once([*HYBRIDOPS, "validate", "runbooks"], cold),
                "validate (500 generated)": lambda: m.once([*HYBRIDOPS, "validate", str(many)]),
                "validate (500 generated), no cache": lambda: m.once([*HYBRIDOPS, "validate", str(many)], cold),
                "incident: 1 check step": lambda: m.once([*HYBRIDOPS, "incident", str(one), "--yes"]),
                "incident: 1,000 check steps": lambda: m.once([*HYBRIDOPS, "incident", str(thousand), "--yes"]),
                "source commands as a script": lambda: m.once(["bash", str(script)], world),
                "incident bedrock-failure --yes": lambda: m.once(
                    [*HYBRIDOPS, "incident", "bedrock-failure", "--yes", "--no-notify"], world),
                "rehearse --all --auto": lambda: m.once([*HYBRIDOPS, "rehearse", "--all", "--auto"]),
            }
            rows = median_rows(cases, args.runs)
        finally:
            sandbox.send_signal(signal.SIGTERM)
            sandbox.wait(10)
        start = median_rows({"sandbox start-up": lambda: _sandbox_ready(env)}, args.runs)
        extra = {}
        if args.install:
            extra["fresh pip install ."] = fresh_install(tmp)
    if args.suite:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=ROOT, check=False,
                       capture_output=True)
        extra["README test command"] = f"{time.perf_counter() - t0:.0f} s"

    base = rows["aws --version"][0]
    per_step = (rows["incident: 1,000 check steps"][0] - rows["incident: 1 check step"][0]) / 999
    table = [
        ("hybridops --help", rows["hybridops --help"], base, "aws --version", "<= 0.30, <= 30 MiB"),
        ("hybridops list", rows["hybridops list"], base, "aws --version", ""),
        ("hybridops show bedrock-failure", rows["hybridops show bedrock-failure"], base, "aws --version", ""),
        ("hybridops validate (the five)", rows["hybridops validate (the five)"], base, "aws --version", "<= 1.0"),
        ("validate (the five), no cache", rows["validate (the five), no cache"], base, "aws --version", ""),
        ("incident bedrock-failure --yes", rows["incident bedrock-failure --yes"],
         rows["source commands as a script"][0], "the source's commands", "<= 0.25"),
        ("validate (500 generated)", rows["validate (500 generated)"], None, "", "<= 5 s"),
        ("validate (500 generated), no cache", rows["validate (500 generated), no cache"], None, "", ""),
        ("rehearse --all --auto", rows["rehearse --all --auto"], None, "", "<= 10 s"),
        ("sandbox start-up", start["sandbox start-up"], None, "", ""),
    ]
    print(f"{'figure':<38}{'ms':>9}{'peak MiB':>10}{'exit':>6}  {'baseline':<24}{'ms':>8}{'ratio':>7}  target")
    for label, (wall, rss, code), against, against_name, target in table:
        ratio = f"{wall / against:.2f}" if against else ""
        shown_base = f"{against * 1000:.0f}" if against else ""
        print(f"{label:<38}{wall * 1000:>9.0f}{rss:>10.0f}{code:>6}  {against_name:<24}{shown_base:>8}{ratio:>7}"
              f"  {target}")
    print(f"{'engine overhead per step':<38}{per_step * 1000:>9.2f}{'':>16}  (1,000 vs 1 check steps, audit on)"
          f"{'':>4}<= 1 ms")
    for label, value in extra.items():
        print(f"{label:<38}{value}")
    print(f"(median of {args.runs} alternating runs; {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; "
          f"{subprocess.run([aws, '--version'], capture_output=True, text=True).stdout.strip()})")
    return 0


def _sandbox_ready(env: dict[str, str]) -> tuple[float, float, int]:
    t0 = time.perf_counter()
    proc, _ = start_sandbox(env)
    took = time.perf_counter() - t0
    proc.send_signal(signal.SIGTERM)
    _, status, usage = os.wait4(proc.pid, 0)
    return took, usage.ru_maxrss / 1024, 0


if __name__ == "__main__":
    sys.exit(main())
