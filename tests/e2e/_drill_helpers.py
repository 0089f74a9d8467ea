"""Shared by the drill, resume and shipping end-to-end tests: the CLI as a real subprocess in a clean
environment, audit logs read back and chained here (independently of hybridops.audit), and the check
that no mutating request reached the sandbox twice without a confirmation recorded in the log."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

# How a run that got to its end may end, with the exit code each gives (README, exit codes).
ENDED = {"completed": 0, "completed_with_failures": 3, "unresolved": 4}


def ended(record: dict[str, Any]) -> bool:
    """The record is a run_finished of a run that got to its end."""
    return record.get("event") == "run_finished" and record.get("status") in ENDED


# The runbooks as tracked in the repository (the packaged copies are what `rehearse ID` finds).
REPO_RUNBOOKS = Path(__file__).resolve().parents[2] / "runbooks"
INCIDENTS = ("outage", "bedrock-failure", "mcp-failure", "high-error-rate", "routing-efficiency")
ZERO = "0" * 64


# --- the CLI ----------------------------------------------------------------------------------------


def clean_env(tmp: Path, audit_dir: Path, **extra: str) -> dict[str, str]:
    """An environment with nothing of the developer's AWS or hybridops set-up, audit logs in `audit_dir`."""
    home = tmp / "home"
    home.mkdir(parents=True, exist_ok=True)
    config = tmp / "hybridops-config.toml"
    config.touch()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "HYBRIDOPS_"))}
    env.update({
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(tmp / "xdg-config"),
        "XDG_STATE_HOME": str(tmp / "xdg-state"),
        "PYTHONIOENCODING": "utf-8",
        "COLUMNS": "200",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(home / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-aws-credentials"),
        "HYBRIDOPS_CONFIG": str(config),
        "HYBRIDOPS_AUDIT_DIR": str(audit_dir),
        "HYBRIDOPS_CACHE_DIR": os.environ.get("HYBRIDOPS_CACHE_DIR", "off"),  # the session's (conftest)
    })
    env.update(extra)
    return env


def command(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "hybridops", *map(str, args)]


def hybridops(*args: str | Path, env: dict[str, str], timeout: float = 90,
              cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m hybridops ARGS`, stdin not a terminal; exit code and both outputs."""
    return subprocess.run(command(*args), env=env, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, encoding="utf-8", timeout=timeout)


def start(*args: str | Path, env: dict[str, str], cwd: Path | None = None) -> subprocess.Popen[str]:
    """`python -m hybridops ARGS` in the background (outputs to pipes read at the end)."""
    return subprocess.Popen(command(*args), env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, encoding="utf-8")


def signal_when(proc: subprocess.Popen[str], at: Callable[[], Any], sig: int = signal.SIGKILL,
                delay: float = 0.0) -> tuple[Any, subprocess.CompletedProcess[str]]:
    """Send `proc` `sig` `delay` seconds after `at()` is truthy; (what `at` returned, the finished process).
    The process never outlives the call."""
    try:
        value = at()
        time.sleep(delay)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return value, subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def lines(p: subprocess.CompletedProcess[str] | str) -> list[str]:
    text = p if isinstance(p, str) else p.stderr
    return [line for line in text.splitlines() if line.strip()]


def new_log(audit_dir: Path, before: set[Path]) -> Path | None:
    """The one audit log that appeared in `audit_dir` since `before` was listed, if any yet."""
    found = set(audit_dir.glob("*.jsonl")) - before if audit_dir.is_dir() else set()
    assert len(found) <= 1, f"more than one new audit log: {found}"
    return found.pop() if found else None


def only_log(audit_dir: Path) -> Path:
    logs = sorted(audit_dir.glob("*.jsonl"))
    assert len(logs) == 1, f"expected one audit log in {audit_dir}, found {[p.name for p in logs]}"
    return logs[0]


def complete_lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


# --- the audit log contract, recomputed here ---------------------------------------------------------


def chained(path: Path, where: str = "") -> tuple[list[dict[str, Any]], bytes]:
    """(records of every complete line, bytes after the last newline): each complete line must parse
    as a JSON object whose seq is its position and whose prev is the SHA-256 of the line before it
    (64 zeros first), all of one run. Only what follows the last newline may be torn."""
    data = path.read_bytes()
    parts = data.split(b"\n")
    torn = parts.pop()
    prev, records = ZERO, []
    name = f"{where}: {path.name}" if where else path.name
    for i, line in enumerate(parts):
        try:
            record = json.loads(line.decode("utf-8"))
        except ValueError as exc:
            raise AssertionError(f"{name} line {i} does not parse: {exc}: {line[:120]!r}") from None
        assert isinstance(record, dict), f"{name} line {i} is not an object"
        assert record.get("seq") == i, f"{name} line {i} has seq {record.get('seq')}: {parts[i - 1][:150]!r}"
        assert record.get("prev") == prev, f"{name} line {i} (seq {i}) does not chain"
        assert record.get("run_id") == path.stem, f"{name} line {i} names run {record.get('run_id')}"
        prev = hashlib.sha256(line).hexdigest()
        records.append(record)
    return records, torn


def events(records: list[dict[str, Any]], event: str, **match: Any) -> list[dict[str, Any]]:
    return [r for r in records if r.get("event") == event and all(r.get(k) == v for k, v in match.items())]


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- mutating requests: the log against what the sandbox received ------------------------------------


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def logged_signature(r: dict[str, Any]) -> tuple[str, ...]:
    """What identifies a `request` record's call at the sandbox."""
    if r.get("target") == "aws":
        return ("aws", r["service"], r["operation"])
    return ("admin", r["method"], r["path"], _canon(r.get("body")))


def received_signature(call: dict[str, Any]) -> tuple[str, ...]:
    if call["api"] == "aws":
        return ("aws", call["service"], call["operation"])
    return ("admin", call["method"], call["path"], _canon(call.get("body")))


def unconfirmed_resends(records: list[dict[str, Any]], received: list[dict[str, Any]]) -> list[str]:
    """Every way the log and the sandbox show a mutating request repeated without confirmation.

    In the log: once a step's mutating request is announced, a later request of the same step before
    that step finished for good (a re-send across an interruption) must come after a `prompt` from
    `--yes` about the unknown outcome; only a retry after a definite failure needs none. At the
    sandbox: no mutating call arrived more often than the log announced it (write-ahead).
    """
    problems: list[str] = []
    kinds = {r["step_id"]: r.get("kind") for r in events(records, "step_started")}
    # step id -> (state, seq of the request) while a mutating request of the step is unsettled
    outstanding: dict[str, tuple[str, int]] = {}
    confirmed: set[str] = set()
    for r in records:
        event, step = r.get("event"), r.get("step_id")
        if event == "request" and r.get("mutating") and not r.get("dry_run") and kinds.get(step) != "poll":
            state = outstanding.get(step)
            if state is not None and state[0] != "failed" and step not in confirmed:
                problems.append(f"step {step}: request seq {r['seq']} re-sends the mutating request of seq "
                                f"{state[1]} ({state[0]}) with no confirmation about its unknown outcome")
            outstanding[step] = ("sent, no response", r["seq"])
            confirmed.discard(step)
        elif event == "response" and step in outstanding:
            if r.get("ok"):
                outstanding[step] = ("answered", outstanding[step][1])
            elif not r.get("unknown_outcome"):
                outstanding[step] = ("failed", outstanding[step][1])
            else:
                outstanding[step] = ("outcome unknown", outstanding[step][1])
        elif (event == "prompt" and step in outstanding and r.get("source") == "--yes"
              and "unknown" in str(r.get("question", "")).lower() and r.get("answer") == "yes"):
            confirmed.add(step)
        elif event == "step_finished" and r.get("status") not in ("interrupted", "aborted"):
            outstanding.pop(step, None)
            confirmed.discard(step)
    received = [c for c in received if c.get("api") in ("aws", "admin")]  # notifications are not changes
    announced = Counter(logged_signature(r) for r in events(records, "request")
                        if r.get("mutating") and not r.get("dry_run"))
    arrived = Counter(received_signature(c) for c in received if received_signature(c) in announced)
    for sig, n in arrived.items():
        if n > announced[sig]:
            problems.append(f"{sig} reached the sandbox {n} times but the log announces it {announced[sig]} times")
    unannounced = [received_signature(c) for c in received if _looks_mutating(c)
                   and received_signature(c) not in announced]
    if unannounced:
        problems.append(f"mutating calls the log never announced: {unannounced}")
    return problems


def _looks_mutating(call: dict[str, Any]) -> bool:
    if call["api"] == "aws":
        return call["operation"] == "UpdateService"
    return call["method"] != "GET" and call["path"] != "/admin/bedrock/test"


# --- runbook copies ----------------------------------------------------------------------------------


def copy_runbooks(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for f in REPO_RUNBOOKS.glob("*.yaml"):
        shutil.copyfile(f, dest / f.name)
    return dest


def _steps(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for phase in doc["phases"] for s in phase["steps"]]


def without_steps(src: Path, dest_dir: Path, drop: Callable[[dict[str, Any]], bool],
                  redirect: dict[str, str] | None = None) -> list[str]:
    """Write `src` to `dest_dir` without the steps `drop` selects, go-tos to them sent to `redirect`;
    the ids dropped."""
    doc = yaml.safe_load(src.read_text(encoding="utf-8"))
    dropped = [s["id"] for s in _steps(doc) if drop(s)]
    for phase in doc["phases"]:
        phase["steps"] = [s for s in phase["steps"] if s["id"] not in dropped]
    text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=10_000)
    for old, new in (redirect or {}).items():
        text = text.replace(f"goto: {old}\n", f"goto: {new}\n")
    assert not any(f"goto: {d}\n" in text for d in dropped), f"a go-to still names a dropped step: {dropped}"
    dest_dir.mkdir(parents=True, exist_ok=True)
    (dest_dir / src.name).write_text(text, encoding="utf-8")
    return dropped


def posts_to(path: str) -> Callable[[dict[str, Any]], bool]:
    def match(step: dict[str, Any]) -> bool:
        http = step.get("http") or {}
        return http.get("method") == "POST" and http.get("path") == path

    return match
