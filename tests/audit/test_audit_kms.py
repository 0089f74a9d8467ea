"""Seals MAC'd by an AWS KMS HMAC key (moto's KMS: GenerateMac / VerifyMac)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from audit_known_run import RUN_ID

from hybridops.audit.kms import KmsSealer
from hybridops.audit.log import HEADS, AuditLog, encode_record, integrity_tail, verify_log
from hybridops.cli.app import run

moto = pytest.importorskip("moto")
REGION = "eu-central-1"


@pytest.fixture
def kms_key() -> Iterator[str]:
    import boto3

    with moto.mock_aws():
        kms = boto3.client("kms", region_name=REGION)
        yield kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["Arn"]


def sealed_run(directory: Path, sealer: Any, *, finish: bool = True) -> Path:
    log = AuditLog.create(directory, RUN_ID, sealer=sealer)
    log.append("run_started", runbook={"id": "bedrock-failure"})
    log.append("step_started", step_id="a")
    log.append("step_finished", step_id="a", status="ok")
    if finish:
        log.append("run_finished", status="completed")
    log.close()
    return log.path


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().split(b"\n")[:-1]


def save(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(line + b"\n" for line in lines))


def test_a_sealed_log_verifies_with_kms(audit_dir: Path, kms_key: str) -> None:
    path = sealed_run(audit_dir, KmsSealer(kms_key, region=REGION))
    seal = json.loads(lines_of(path)[-1])
    assert seal["kms_key"] == kms_key and seal["kms_mac"]
    result = verify_log(path, kms=KmsSealer(kms_key, region=REGION))
    assert (result.ok, result.kms, result.authenticated) == (True, "verified", True)


def test_a_rewrite_without_kms_is_caught_by_kms(audit_dir: Path, kms_key: str) -> None:
    import boto3

    path = sealed_run(audit_dir, KmsSealer(kms_key, region=REGION))
    (audit_dir / HEADS).unlink()
    lines = lines_of(path)
    out: list[bytes] = []
    prev = "0" * 64
    for line in lines:  # the step's status changed, every prev, sum and seal recomputed, the KMS MAC kept
        rec = json.loads(line.replace(b'"status":"ok"', b'"status":"failed"'))
        rec.pop("sum")
        rec["prev"] = prev
        if rec["event"] == "run_finished":
            rec["count"], rec["head"] = len(out), prev
        rec["sum"], _ = integrity_tail(encode_record(rec), None)
        out.append(encode_record(rec))
        prev = hashlib.sha256(out[-1]).hexdigest()
    save(path, out)
    assert verify_log(path).ok  # what the chain alone cannot tell
    result = verify_log(path, kms=KmsSealer(kms_key, region=REGION))
    assert (result.ok, result.first_bad_seq) == (False, 3)
    assert result.reason == f"KMS says the seal's MAC is not {kms_key}'s: the log was rewritten"
    # a seal MAC'd by a key of the forger's own
    mine = boto3.client("kms", region_name=REGION).create_key(
        KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["Arn"]
    (audit_dir / "other").mkdir()
    forged = sealed_run(audit_dir / "other", KmsSealer(mine, region=REGION))
    result = verify_log(forged, kms=KmsSealer(kms_key, region=REGION))
    assert not result.ok and result.reason == f"the seal is MAC'd with KMS key {mine!r}, not {kms_key!r}"


def test_an_unsealed_or_cut_log_is_not_vouched_for(audit_dir: Path, kms_key: str) -> None:
    path = sealed_run(audit_dir, KmsSealer(kms_key, region=REGION))
    (audit_dir / HEADS).unlink()
    save(path, lines_of(path)[:-1])
    result = verify_log(path, kms=KmsSealer(kms_key, region=REGION))
    assert (result.ok, result.first_bad_seq) == (False, 2)
    assert result.reason.startswith("not sealed: the log does not end with a run_finished MAC'd with KMS")


def test_kms_refusing_at_the_end_of_a_run_still_seals_the_log(audit_dir: Path, kms_key: str) -> None:
    path = sealed_run(audit_dir, KmsSealer("alias/no-such-key", region=REGION))
    seal = json.loads(lines_of(path)[-1])
    assert "kms_mac" not in seal and seal["kms_error"].startswith("KMS GenerateMac with alias/no-such-key: ")
    assert verify_log(path).ok
    result = verify_log(path, kms=KmsSealer(kms_key, region=REGION))
    assert not result.ok and result.reason.startswith("the seal has no KMS MAC: KMS GenerateMac with alias/no-such")


def test_audit_verify_kms(capsys: pytest.CaptureFixture[str], audit_dir: Path, kms_key: str,
                          monkeypatch: pytest.MonkeyPatch) -> None:
    sealed_run(audit_dir, KmsSealer(kms_key, region=REGION))
    assert run(["audit", "verify", RUN_ID, "--kms-key", kms_key]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "intact: 4 records, every seal verified by KMS"
    assert run(["audit", "verify", RUN_ID, "--kms"]) == 1
    assert capsys.readouterr().err == ("error: --kms: no KMS key (set a profile's audit.kms_key_id, "
                                       "$HYBRIDOPS_AUDIT_KMS_KEY, or pass --kms-key)\n")
    monkeypatch.setenv("HYBRIDOPS_AUDIT_KMS_KEY", kms_key)
    assert run(["audit", "verify", RUN_ID, "--kms", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["kms"] == "verified"
