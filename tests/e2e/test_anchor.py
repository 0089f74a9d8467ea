"""The CloudWatch copy as the anchor of a run's log (issue 12 §4), against the sandbox's moto over real
HTTP: `audit verify RUN --against cloudwatch` compares record by record and head to head, so a cut
tail, an edit, an append or a rewrite with a recomputed chain of the local file shows; a keyed run's
MACs are checked with the team's key."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path

from _drill_helpers import clean_env, hybridops, only_log

from hybridops.audit.log import encode_record, integrity_tail
from hybridops.sandbox import Sandbox

RUNBOOK, SCENARIO = "bedrock-failure", "bedrock-down"
GROUP = "/hybridops/e2e-anchor"
KEY = "team key for the on-call rotation, 2026"
HEAD = re.compile(r"audit head: ([0-9a-f]{64}) \((\d+) records\)")


def rewritten(lines: list[bytes]) -> list[bytes]:
    """A forger's rewrite without the key: every prev, sum and seal recomputed, MACs dropped."""
    out: list[bytes] = []
    prev = "0" * 64
    for line in lines:
        rec = json.loads(line)
        for k in ("sum", "mac"):
            rec.pop(k, None)
        rec["prev"] = prev
        if rec["event"] == "run_finished":
            rec["count"], rec["head"] = len(out), prev
        rec["sum"], _ = integrity_tail(encode_record(rec), None)
        out.append(encode_record(rec))
        prev = hashlib.sha256(out[-1]).hexdigest()
    return out


def save(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(line + b"\n" for line in lines))


def test_verify_against_cloudwatch_finds_cut_edited_and_rewritten_logs(
        scenario: Callable[[str], Sandbox], tmp_path: Path) -> None:
    sb = scenario(SCENARIO)
    audit = tmp_path / "audit"
    env = clean_env(tmp_path, audit, **sb.env, **sb.notify_env, HYBRIDOPS_AUDIT_LOG_GROUP=GROUP,
                    HYBRIDOPS_AUDIT_KEY=KEY, HYBRIDOPS_AUDIT_KEY_ID="oncall")
    p = hybridops("incident", RUNBOOK, "--yes", env=env)
    assert p.returncode == 3, p.stdout[-3000:] + p.stderr
    log = only_log(audit)
    original = log.read_bytes()
    lines = original.split(b"\n")[:-1]
    printed = HEAD.search(p.stdout)
    assert printed is not None, p.stdout[-2000:]
    assert printed.group(1) == hashlib.sha256(lines[-1]).hexdigest() and int(printed.group(2)) == len(lines)
    assert KEY not in original.decode()

    ok = hybridops("audit", "verify", log.stem, "--against", "cloudwatch", env=env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.splitlines()[0] == f"intact: {len(lines)} records, every MAC verified (key oncall)"
    assert f"head: {printed.group(1)}" in ok.stdout
    assert ok.stdout.splitlines()[-1] == (f"cloudwatch: matches {GROUP}/{log.stem}, record by record "
                                          f"({len(lines)} records, same head)")

    # a cut tail: the audit dir's ledger of heads tells; without it (a careful forger rewrites that
    # too) the log looks like a killed run's, but not against the anchor
    save(log, lines[:-3])
    alone = hybridops("audit", "verify", log.stem, env=env)
    assert alone.returncode == 1 and "cut tail: the audit dir's ledger (.heads) recorded" in alone.stderr
    (audit / ".heads").unlink()
    alone = hybridops("audit", "verify", log.stem, env=env)
    assert alone.returncode == 0 and "status: incomplete" in alone.stdout, alone.stdout + alone.stderr
    cut = hybridops("audit", "verify", log.stem, "--against", "cloudwatch", env=env)
    assert cut.returncode == 1 and cut.stdout == ""
    n = len(lines)
    assert cut.stderr.splitlines() == [
        f"error: {log.name}: differs from CloudWatch Logs {GROUP}/{log.stem}: cut tail: seq {n - 3}..{n - 1} are in "
        f"CloudWatch Logs but no longer in the local log; head differs: local "
        f"{hashlib.sha256(lines[-4]).hexdigest()[:16]}..., CloudWatch {printed.group(1)[:16]}..."]

    # an edit with the chain recomputed: without the key and the anchor it would pass
    edited = list(lines)
    k = next(i for i, line in enumerate(lines) if b'"event":"response"' in line and b'"ok":false' in line)
    edited[k] = edited[k].replace(b'"ok":false', b'"ok":true')
    save(log, rewritten(edited))
    env_no_key = {k2: v for k2, v in env.items() if k2 != "HYBRIDOPS_AUDIT_KEY"}
    blind = hybridops("audit", "verify", log.stem, env=env_no_key)
    assert blind.returncode == 0 and blind.stdout.startswith("chain consistent:"), blind.stdout + blind.stderr
    keyed = hybridops("audit", "verify", log.stem, env=env)
    assert keyed.returncode == 1 and "no MAC: this record is not authenticated by the key" in keyed.stderr
    anchored = hybridops("audit", "verify", log.stem, "--against", "cloudwatch", env=env_no_key)
    assert anchored.returncode == 1, anchored.stdout
    assert "edited: seq 0.." in anchored.stderr and "head differs" in anchored.stderr

    # a record forged after the seal: the seal alone tells
    save(log, lines)
    last = json.loads(lines[-1])
    forged = {"seq": last["seq"] + 1, "ts": last["ts"], "run_id": last["run_id"], "event": "step_finished",
              "prev": hashlib.sha256(lines[-1]).hexdigest(), "step_id": "restart-service", "status": "ok"}
    forged["sum"], _ = integrity_tail(encode_record(forged), None)
    save(log, lines + [encode_record(forged)])
    appended = hybridops("audit", "verify", log.stem, env=env_no_key)
    assert appended.returncode == 1
    assert f"broken at seq {n}: record after the seal: run_finished (seq {n - 1}) closed the log" in appended.stderr

    # JSON: the anchor's findings with the rest
    log.write_bytes(original)
    js = hybridops("audit", "verify", log.stem, "--against", "cloudwatch", "--format", "json", env=env)
    data = json.loads(js.stdout)
    assert (js.returncode, data["ok"], data["mac"], data["cloudwatch"]["ok"]) == (0, True, "verified", True)
    assert data["cloudwatch"]["remote_head"] == printed.group(1)


def test_verify_against_a_stream_that_does_not_exist(scenario: Callable[[str], Sandbox], tmp_path: Path) -> None:
    sb = scenario(SCENARIO)
    audit = tmp_path / "audit"
    env = clean_env(tmp_path, audit, **sb.env, **sb.notify_env)
    p = hybridops("incident", RUNBOOK, "--yes", env=env)  # not shipped
    assert p.returncode == 3, p.stderr
    log = only_log(audit)
    none = hybridops("audit", "verify", log.stem, "--against", "cloudwatch", env=env)
    assert none.returncode == 1 and "no log group" in none.stderr
    none = hybridops("audit", "verify", log.stem, "--against", "cloudwatch", "--log-group", "/nope", env=env)
    assert none.returncode == 1 and none.stderr.splitlines() == [
        f"error: {log.name}: differs from CloudWatch Logs /nope/{log.stem}: no stream {log.stem} in /nope: "
        "the run was never shipped, or the stream is gone"]


def test_a_run_sealed_with_a_kms_key_verifies_with_kms(scenario: Callable[[str], Sandbox], tmp_path: Path) -> None:
    import boto3

    sb = scenario(SCENARIO)
    kms = boto3.client("kms", endpoint_url=sb.aws_url, region_name=sb.env["AWS_DEFAULT_REGION"],
                       aws_access_key_id="sandbox", aws_secret_access_key="sandbox")
    arn = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["Arn"]
    audit = tmp_path / "audit"
    env = clean_env(tmp_path, audit, **sb.env, **sb.notify_env, HYBRIDOPS_AUDIT_KMS_KEY=arn)
    dry = hybridops("incident", RUNBOOK, "--dry-run", env=env)  # a dry run asks KMS nothing
    assert dry.returncode == 0, dry.stderr
    assert "kms_mac" not in only_log(audit).read_text(encoding="utf-8")
    only_log(audit).unlink()
    p = hybridops("incident", RUNBOOK, "--yes", env=env)
    assert p.returncode == 3, p.stdout[-3000:] + p.stderr
    log = only_log(audit)
    seal = json.loads(log.read_bytes().split(b"\n")[-2])
    assert seal["event"] == "run_finished" and seal["kms_key"] == arn and seal["kms_mac"]
    ok = hybridops("audit", "verify", log.stem, "--kms", env=env)
    assert ok.returncode == 0 and ok.stdout.startswith("intact: ") and "every seal verified by KMS" in ok.stdout
    lines = log.read_bytes().split(b"\n")[:-1]
    (audit / ".heads").unlink()
    save(log, rewritten([line.replace(b'"ok":false', b'"ok":true') for line in lines]))
    bad = hybridops("audit", "verify", log.stem, "--kms", env=env)
    assert bad.returncode == 1  # the rewrite kept the old seal's KMS MAC: KMS says it is not of this seal
    said = f"broken at seq {len(lines) - 1}: KMS says the seal's MAC is not {arn}'s: the log was rewritten"
    assert said in bad.stderr
